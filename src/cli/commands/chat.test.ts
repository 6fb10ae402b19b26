/**
 * `dhw chat` as a person uses it (a real process, piped stdin):
 *   - slash words are commands, never prompts: /help lists them, an unknown one says so, /system and
 *     /history work, and `//text` sends a literal "/text";
 *   - Ctrl-C (SIGINT) while a reply streams stops that reply and returns to the prompt; the chat goes on.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { test } from 'node:test';
import { repoRoot } from '../../util/paths.ts';

function startChat(args: string[]) {
  const child = spawn(process.execPath, [join(repoRoot, 'bin', 'dhw.mjs'), 'chat', ...args], {
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (out += d));
  const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
  const waitFor = async (pattern: RegExp, timeoutMs = 60_000) => {
    const deadline = Date.now() + timeoutMs;
    while (!pattern.test(out)) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${pattern}; output so far:\n${out}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  };
  return { child, output: () => out, exited, waitFor };
}

test('slash words are commands, not prompts', async () => {
  const chat = startChat(['--max-tokens', '3']);
  chat.child.stdin.end('/help\n/frobnicate\n/system Be brief.\n//etc/hosts\n/history\n/exit\n');
  assert.equal(await chat.exited, 0, chat.output());
  const out = chat.output();
  assert.match(out, /\/reset +forget the conversation/);
  assert.match(out, /unknown command \/frobnicate: \/help lists the commands/);
  assert.match(out, /\(system message set; conversation cleared\)/);
  assert.match(out, /system: Be brief\.\n {2}user: \/etc\/hosts\n/, 'the // line was sent as "/etc/hosts"');
  assert.equal(out.match(/bot> /g)?.length, 1, 'only the // line produced a reply');
});

test('Ctrl-C stops the reply being written and the chat goes on', async () => {
  const chat = startChat(['--max-tokens', '400', '--ignore-eos']);
  chat.child.stdin.write('tell me a long story\n');
  await chat.waitFor(/bot> ./);
  chat.child.kill('SIGINT');
  await chat.waitFor(/\(interrupted\)\n/);
  chat.child.stdin.end('/exit\n');
  assert.equal(await chat.exited, 0, chat.output());
  const generated = Number(/(\d+) generated in/.exec(chat.output())?.[1]);
  assert.ok(generated < 400, `the reply stopped early (${generated} of 400 tokens)`);
});
