/**
 * `dhw`: the one entry point. Dispatches to a command module, turns known errors into one clear line
 * (and exit code 1, or 2 for usage), and never prints a stack trace for a mistake the user can fix.
 */
import { DhwError } from '../util/errors.ts';
import { UsageError } from './args.ts';
import type { Command } from './command.ts';
import { chatCommand } from './commands/chat.ts';
import { doctorCommand } from './commands/doctor.ts';
import { eventsCommand } from './commands/events.ts';
import { generateCommand } from './commands/generate.ts';
import { infraCommand } from './commands/infra.ts';
import { lsCommand } from './commands/ls.ts';
import { modelCommand } from './commands/model.ts';
import { replayCommand } from './commands/replay.ts';
import { serveCommand } from './commands/serve.ts';
import { workerCommand } from './commands/worker.ts';

const COMMANDS: Command[] = [
  serveCommand,
  generateCommand,
  chatCommand,
  modelCommand,
  infraCommand,
  eventsCommand,
  workerCommand,
  lsCommand,
  doctorCommand,
  replayCommand,
];

function printOverview(): void {
  const lines = [
    'dhw — Dynamo the Hard Way: an LLM serving stack built from scratch',
    '',
    'usage: dhw <command> [options]    (dhw <command> --help for its options)',
    '',
    'commands:',
    ...COMMANDS.map((c) => `  ${c.name.padEnd(16)} ${c.summary}`),
  ];
  console.log(lines.join('\n'));
}

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    printOverview();
    return 0;
  }
  const command = COMMANDS.find((c) => c.name === name);
  if (!command) {
    console.error(`dhw: unknown command "${name}". Run \`dhw --help\` for the list of commands.`);
    return 2;
  }
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
