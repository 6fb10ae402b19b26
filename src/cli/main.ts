/**
 * `dhw`: the one entry point. Dispatches to a command module, turns known errors into one clear line
 * (and exit code 1, or 2 for usage), and never prints a stack trace for a mistake the user can fix.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { DhwError } from '../util/errors.ts';
import { repoRoot } from '../util/paths.ts';
import { UsageError } from './args.ts';
import type { Command } from './command.ts';
import { closest } from './suggest.ts';

/** The version in package.json (the one `npm ci` installed). */
function packageVersion(): string {
  const pkg = JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as { version: string };
  return pkg.version;
}

/**
 * Command name → loader. Each command module is imported only when it runs, so `dhw worker` does not load
 * the frontend, and a broken module breaks only its own command.
 */
const COMMANDS: Record<string, () => Promise<Command>> = {
  serve: async () => (await import('./commands/serve.ts')).serveCommand,
  generate: async () => (await import('./commands/generate.ts')).generateCommand,
  chat: async () => (await import('./commands/chat.ts')).chatCommand,
  model: async () => (await import('./commands/model.ts')).modelCommand,
  infra: async () => (await import('./commands/infra.ts')).infraCommand,
  cluster: async () => (await import('./commands/cluster.ts')).clusterCommand,
  events: async () => (await import('./commands/events.ts')).eventsCommand,
  worker: async () => (await import('./commands/worker.ts')).workerCommand,
  frontend: async () => (await import('./commands/frontend.ts')).frontendCommand,
  ls: async () => (await import('./commands/ls.ts')).lsCommand,
  doctor: async () => (await import('./commands/doctor.ts')).doctorCommand,
  replay: async () => (await import('./commands/replay.ts')).replayCommand,
  'tp-rank': async () => (await import('./commands/tp-rank.ts')).tpRankCommand,
  bench: async () => (await import('./commands/bench.ts')).benchCommand,
  tokenize: async () => (await import('./commands/tokenize.ts')).tokenizeCommand,
  trace: async () => (await import('./commands/trace.ts')).traceCommand,
};

async function printOverview(): Promise<void> {
  const commands = await Promise.all(Object.values(COMMANDS).map((load) => load()));
  const lines = [
    'dhw — Dynamo the Hard Way: an LLM serving stack built from scratch',
    '',
    'usage: dhw <command> [options]    (dhw <command> --help for its options; dhw --version)',
    '',
    'commands:',
    ...commands.map((c) => `  ${c.name.padEnd(16)} ${c.summary}`),
  ];
  console.log(lines.join('\n'));
}

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    await printOverview();
    return 0;
  }
  const load = Object.hasOwn(COMMANDS, name) ? COMMANDS[name] : undefined;
  if (name === '--version' || name === '-V' || name === 'version') {
    console.log(`dhw ${packageVersion()} (Dynamo the Hard Way; node ${process.version})`);
    return 0;
  }
  if (!load) {
    const guess = closest(name, Object.keys(COMMANDS));
    const hint = guess === undefined ? '' : ` Did you mean \`dhw ${guess}\`?`;
    console.error(`dhw: unknown command "${name}".${hint} Run \`dhw --help\` for the list of commands.`);
    return 2;
  }
  const command = await load();
  try {
    return await command.run(rest);
  } catch (err) {
    if (err instanceof UsageError) {
      console.error(`dhw ${name}: ${err.message}\nRun \`dhw ${name} --help\` for usage.`);
      return 2;
    }
    if (err instanceof DhwError) {
      console.error(`dhw ${name}: ${err.message}`);
      return 1;
    }
    throw err;
  }
}

// `dhw ls | head` closes our stdout early: that is the reader being done, not an error.
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code === 'EPIPE') process.exit(0);
  throw err;
});

process.exitCode = await main(process.argv.slice(2));
