/**
 * `dhw tokenize [DIR] "text" [--chat]`: what a model's tokenizer makes of some text, offline: the ids, the
 * piece each id stands for, and with `--chat` the chat template's rendering first (the exact string the
 * model sees). Like `dig` for a name: show the resolution step by step instead of trusting it. The same
 * answer as POST /tokenize on a running server, with no server.
 */
import { Tokenizer } from '../../tokens/index.ts';
import { LOGGING_FLAGS, MODEL_FLAGS, UsageError } from '../args.ts';
import type { Command } from '../command.ts';
import { beginCommand } from '../command-prologue.ts';
import { modelDirFromFlags } from '../engine-setup.ts';

const FLAGS = {
  ...MODEL_FLAGS,
  chat: {
    type: 'boolean' as const,
    help: 'render the text as one user message through the chat template first',
  },
  system: { type: 'string' as const, help: 'with --chat: a system message before the user message' },
  'no-special-tokens': { type: 'boolean' as const, help: 'do not add BOS/EOS (plain text only)' },
  json: { type: 'boolean' as const, help: 'print {rendered?, ids, pieces, count} as one JSON line' },
  ...LOGGING_FLAGS,
};
const USAGE = 'dhw tokenize [DIR] "text" [--chat [--system TEXT]] [--no-special-tokens] [--json]';
const DESCRIPTION =
  "Tokenize text with a model folder's tokenizer.json (default: the bundled model): ids, the piece of each\n" +
  "id, and with --chat the chat template's rendering. POST /tokenize gives the same answer from a server.";

/** A piece as a terminal shows it: whitespace and control bytes made visible. */
function visible(piece: string): string {
  return JSON.stringify(piece).slice(1, -1);
}

export const tokenizeCommand: Command = {
  name: 'tokenize',
  summary: 'show the token ids and pieces of some text (and the chat template render with --chat)',
  async run(argv) {
    const parsed = beginCommand(
      argv,
      { usage: USAGE, description: DESCRIPTION, flags: FLAGS },
      { quietInfo: true },
    );
    if (!parsed) return 0;
    const { values, positionals } = parsed;
    if (positionals.length === 0 || positionals.length > 2)
      throw new UsageError('give the text to tokenize (and optionally the model folder first)');
    const [dirArg, text] = positionals.length === 2 ? positionals : [undefined, positionals[0]!];
    const tokenizer = await Tokenizer.fromDir(modelDirFromFlags(values, dirArg));
    let rendered: string | undefined;
    let ids: number[];
    if (values.chat === true) {
      if (!tokenizer.hasChatTemplate) throw new UsageError('this model has no chat template: drop --chat');
      const system =
        typeof values.system === 'string' ? [{ role: 'system' as const, content: values.system }] : [];
      rendered = tokenizer.applyChatTemplate([...system, { role: 'user', content: text! }], {
        addGenerationPrompt: true,
      });
      // The template writes its own BOS (if any), as the frontend's chat path assumes.
      ids = tokenizer.encode(rendered, { addSpecialTokens: false });
    } else {
      ids = tokenizer.encode(text!, { addSpecialTokens: values['no-special-tokens'] !== true });
    }
    const pieces = ids.map((id) => tokenizer.idToToken(id) ?? '');
    if (values.json === true) {
      console.log(
        JSON.stringify({ ...(rendered === undefined ? {} : { rendered }), ids, pieces, count: ids.length }),
      );
      return 0;
    }
    if (rendered !== undefined)
      console.log(`chat template render (${rendered.length} chars):\n${rendered}\n`);
    console.log(`${ids.length} tokens: [${ids.join(', ')}]\n`);
    const width = Math.max(...ids.map((id) => String(id).length), 2);
    ids.forEach((id, i) => {
      console.log(`${String(i).padStart(4)}  ${String(id).padStart(width)}  ${visible(pieces[i]!)}`);
    });
    return 0;
  },
};
