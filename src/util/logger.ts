/**
 * Structured logger: one line per event, `time level component message key=value ...` for people, or JSON
 * lines with `--log-format json` for machines. Every line can carry request id, worker id and component,
 * so one request can be followed across hops with grep.
 */
export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
export type LogFields = Record<string, unknown>;

const LEVELS: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export interface LoggerOptions {
  level: LogLevel;
  format: 'text' | 'json';
  /** Where lines go (stderr by default, so stdout stays clean for command output). */
  write: (line: string) => void;
}

const globalOptions: LoggerOptions = {
  level: 'info',
  format: 'text',
  write: (line) => process.stderr.write(`${line}\n`),
};

/** Set once by the CLI from its flags (`--log-level`, `--log-format`). */
export function configureLogging(options: Partial<LoggerOptions>): void {
  Object.assign(globalOptions, options);
}

/** The level and format in force, for child processes that should log alike (pipeline stages). */
export function loggingSettings(): Pick<LoggerOptions, 'level' | 'format'> {
  return { level: globalOptions.level, format: globalOptions.format };
}

function formatValue(value: unknown): string {
  if (typeof value === 'string') return /[\s"=]/.test(value) ? JSON.stringify(value) : value;
  if (value instanceof Error) return JSON.stringify(value.message);
  return JSON.stringify(value);
}

export class Logger {
  constructor(
    private readonly fields: LogFields = {},
    private readonly parent?: Logger,
  ) {}

  /**
   * A logger that adds fields to every line (e.g. `log.child({ requestId })`). Cheap: the fields are merged
   * with the parent's only when a line is written, so a per-request child costs nothing at a level that
   * writes no per-request lines.
   */
  child(fields: LogFields): Logger {
    return new Logger(fields, this);
  }

  /** This logger's fields over its parents' (the nearest wins). */
  private allFields(): LogFields {
    return this.parent ? { ...this.parent.allFields(), ...this.fields } : this.fields;
  }

  /** True when a line at `level` would be written: lets hot paths skip building expensive fields. */
  isEnabled(level: LogLevel): boolean {
    return LEVELS[level] >= LEVELS[globalOptions.level];
  }

  debug(message: string, fields?: LogFields): void {
    this.log('debug', message, fields);
  }
  info(message: string, fields?: LogFields): void {
    this.log('info', message, fields);
  }
  warn(message: string, fields?: LogFields): void {
    this.log('warn', message, fields);
  }
  error(message: string, fields?: LogFields): void {
    this.log('error', message, fields);
  }

  private log(level: LogLevel, message: string, extra?: LogFields): void {
    if (LEVELS[level] < LEVELS[globalOptions.level]) return;
    const all = { ...this.allFields(), ...extra };
    const time = new Date().toISOString();
    if (globalOptions.format === 'json') {
      globalOptions.write(JSON.stringify({ time, level, msg: message, ...all }));
      return;
    }
    const { component, ...rest } = all;
    const kv = Object.entries(rest)
      .filter(([, v]) => v !== undefined)
      .map(([k, v]) => `${k}=${formatValue(v)}`)
      .join(' ');
    const comp = component ? ` [${String(component)}]` : '';
    globalOptions.write(`${time} ${level.toUpperCase().padEnd(5)}${comp} ${message}${kv ? ` ${kv}` : ''}`);
  }
}

export const rootLogger = new Logger();
export function getLogger(component: string): Logger {
  return rootLogger.child({ component });
}
