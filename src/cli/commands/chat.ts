/**
 * `dhw chat [DIR]`: an interactive chat in the terminal. Keeps the conversation, renders it with the model's
 * chat template each turn, and streams the reply token by token. Each turn re-sends the whole conversation;
 * the engine's prefix cache recognises the shared beginning, so only the new part is computed
 * (watch `cached` in the turn summary).
 */
import { createInterface } from 'node:readline';
import { createScratchEngine } from '../../engine/tp-engine.ts';
import { asRequestId } from '../../protocols/ids.ts';
import { type ChatMessage, StreamingDetokenizer, Tokenizer } from '../../tokens/index.ts';
import { DhwError } from '../../util/errors.ts';
import { ENGINE_FLAGS, LOGGING_FLAGS, MODEL_FLAGS, SAMPLING_FLAGS, stringFlag } from '../args.ts';
import type { Command } from '../command.ts';
import { beginCommand } from '../command-prologue.ts';
import {
  engineOptionsFromFlags,
  modelDirFromFlags,
  samplingFromFlags,
  stoppingFromFlags,
} from '../engine-setup.ts';

const FLAGS = {
  ...MODEL_FLAGS,
  system: { type: 'string' as const, help: 'system prompt' },
  ...SAMPLING_FLAGS,
  ...ENGINE_FLAGS,
  ...LOGGING_FLAGS,
};
const USAGE = 'dhw chat [DIR|FILE.gguf] [--system "..."] [sampling options]';
const DESCRIPTION =
  'Chat with a model in the terminal. Lines starting with / are commands (/help lists them; start a\n' +
  'message with // to send a literal /). Ctrl-C stops the reply being written; at the prompt it quits.';

/** The chat's slash commands, as /help prints them. */
const SLASH_HELP = [
  '/help            this list',
  '/reset           forget the conversation (keeps --system)',
  '/system TEXT     set the system message and start over',
  '/history         print the conversation so far',
  '/exit, /quit     leave (so does Ctrl-D, or Ctrl-C at the prompt)',
  '//text           send "/text" as a message',
].join('\n');

export const chatCommand: Command = {
  name: 'chat',
  summary: 'interactive chat in the terminal',
  async run(argv) {
    const parsed = beginCommand(
      argv,
      { usage: USAGE, description: DESCRIPTION, flags: FLAGS },
      { quietInfo: true },
    );
    if (!parsed) return 0;
    const { values, positionals } = parsed;
    const modelDir = modelDirFromFlags(values, positionals[0]);
    const tokenizer = await Tokenizer.fromDir(modelDir);
    if (!tokenizer.hasChatTemplate) {
      throw new DhwError(
        `${modelDir} has no chat template (chat_template.jinja or tokenizer_config.json): use \`dhw generate\`.`,
      );
    }
    const engine = await createScratchEngine(engineOptionsFromFlags(values, modelDir));
    let system = stringFlag(values, 'system');
    const fresh = (): ChatMessage[] => (system ? [{ role: 'system', content: system }] : []);
    let messages = fresh();
    const rl = createInterface({
      input: process.stdin,
      output: process.stdout,
      terminal: process.stdin.isTTY,
    });
    console.log(
      `Chatting with ${engine.info.name}. /help lists the commands, /exit quits; Ctrl-C stops a reply.`,
    );
    let turn = 0;
    // Ctrl-C while a reply streams cancels that reply (the engine frees its KV at once); at the prompt it quits.
    let replying: AbortController | undefined;
    const onInterrupt = () => {
      if (replying) replying.abort();
      else rl.close();
    };
    rl.on('SIGINT', onInterrupt);
    process.on('SIGINT', onInterrupt);
    rl.setPrompt('you> ');
    rl.prompt();
    try {
      // Iterate lines rather than asking questions: piped input (a script, a test) arrives all at once.
      for await (const raw of rl) {
        let line = raw.trim();
        if (line.startsWith('/') && !line.startsWith('//')) {
          const [command, ...rest] = line.split(/\s+/);
          const arg = rest.join(' ');
          if (command === '/exit' || command === '/quit') break;
          if (command === '/help') console.log(SLASH_HELP);
          else if (command === '/reset') {
            messages = fresh();
            console.log('(conversation cleared)');
          } else if (command === '/system') {
            system = arg || undefined;
            messages = fresh();
            console.log(
              system
                ? '(system message set; conversation cleared)'
                : '(system message removed; conversation cleared)',
            );
          } else if (command === '/history') {
            for (const m of messages) console.log(`  ${m.role}: ${m.content}`);
            if (messages.length === 0) console.log('  (empty)');
          } else
            console.log(
              `unknown command ${command}: /help lists the commands (start with // to send a literal /)`,
            );
          rl.prompt();
          continue;
        }
        if (line.startsWith('//')) line = line.slice(1);
        if (!line) {
          rl.prompt();
          continue;
        }
        messages.push({ role: 'user', content: line });
        const prompt = tokenizer.applyChatTemplate(messages, { addGenerationPrompt: true });
        const promptIds = tokenizer.encode(prompt, { addSpecialTokens: false });
        const detokenizer = new StreamingDetokenizer(tokenizer, { skipSpecialTokens: true, promptIds });
        process.stdout.write('bot> ');
        let cached = 0;
        let generated = 0;
        const started = performance.now();
        replying = new AbortController();
        try {
          for await (const out of engine.generate(
            {
              requestId: asRequestId(`chat-${++turn}`),
              promptTokenIds: promptIds,
              sampling: samplingFromFlags(values),
              stopping: stoppingFromFlags(values, engine.info.eosTokenIds),
            },
            replying.signal,
          )) {
            if (replying.signal.aborted) break;
            cached = out.numCachedTokens;
            generated++;
            process.stdout.write(detokenizer.push(out.tokenId));
          }
        } finally {
          const interrupted = replying.signal.aborted;
          replying = undefined;
          process.stdout.write(`${detokenizer.flush()}${interrupted ? ' (interrupted)' : ''}\n`);
        }
        const ms = performance.now() - started;
        console.log(
          `     (${promptIds.length} prompt tokens, ${cached} cached, ${generated} generated in ${ms.toFixed(0)} ms)`,
        );
        messages.push({ role: 'assistant', content: detokenizer.text.trim() });
        rl.prompt();
      }
    } finally {
      process.off('SIGINT', onInterrupt);
      rl.close();
      await engine.close();
    }
    return 0;
  },
};
