/**
 * The opening every `dhw` command shares: parse argv against the command's flags, answer `--help`, and set
 * up logging from `--log-level` / `--log-format`. Like the getopts + usage() block at the top of a shell
 * script, written once so every command treats `--help` and logging flags the same way.
 */
import { configureLogging, type LogLevel } from '../util/logger.ts';
import { configureProgress } from '../util/progress.ts';
import {
  type FlagSpecs,
  formatHelp,
  type ParsedCommand,
  parseCommand,
  stringFlag,
  UsageError,
} from './args.ts';

/** What `--help` prints: usage line, description, then every flag. */
export interface CommandHelp {
  usage: string;
  description: string;
  flags: FlagSpecs;
}

export interface PrologueOptions {
  /** One-shot commands whose stdout is the answer (generate, chat): the default `info` level logs at `warn`. */
  quietInfo?: boolean;
}

export function applyLoggingFlags(values: ParsedCommand['values']): void {
  const level = stringFlag(values, 'log-level') ?? 'info';
  const format = stringFlag(values, 'log-format') ?? 'text';
  if (!['debug', 'info', 'warn', 'error'].includes(level)) {
    throw new UsageError(`--log-level must be debug, info, warn or error, got ${level}`);
  }
  if (format !== 'text' && format !== 'json')
    throw new UsageError(`--log-format must be text or json, got ${format}`);
  configureLogging({ level: level as LogLevel, format });
  // Progress bars and lines are for people: none beside a JSON answer or among JSON log lines.
  configureProgress({ quiet: values.json === true || format === 'json' });
}

/**
 * Parse `argv`. With `--help`, print the help and return undefined: the command then exits 0. Otherwise
 * configure logging and return the parsed flags. A bad flag throws a UsageError (exit 2).
 */
export function beginCommand(
  argv: string[],
  help: CommandHelp,
  options: PrologueOptions = {},
): ParsedCommand | undefined {
  const parsed = parseCommand(argv, help.flags);
  const { values } = parsed;
  if (values.help) {
    console.log(formatHelp(help.usage, help.description, help.flags));
    return undefined;
  }
  const quiet = options.quietInfo === true && stringFlag(values, 'log-level') === 'info';
  applyLoggingFlags(quiet ? { ...values, 'log-level': 'warn' } : values);
  return parsed;
}
