/**
 * Lab 3.4: write your own routing policy. The check (`check.ts`) runs a policy file through the real router
 * core against scripted scenarios and prints PASS/FAIL per requirement; here we run it on the reference
 * solution (or on your file: `--policy ./my-policy.ts`) and on the starter, then serve real traffic with
 * the policy loaded exactly as `dhw serve --router ./reference.ts` loads it: three mocker workers,
 * three multi-turn chats through the OpenAI API, and the router's decision lines. Like writing an nginx
 * `upstream` balancer in Lua and running it against a test harness before production.
 *
 * @expect /PASS  2\. same session → same worker/
 * @expect /10\/10 requirements passed/
 * @expect /FAIL  2\. same session → same worker/
 * @expect /policy=sticky-unless-overloaded chosen=[0-9a-f]+ reason="no session: \d+ blocks cached"/
 * @expect /every conversation stayed on one worker: true/
 * @expect Lab complete.
 */
import { relative } from 'node:path';
import { printResults } from '../../lib/exercise.ts';
import { argValue, banner, note, printTable, runLab, step } from '../../lib/lab-kit.ts';
import { startEmbeddedStack } from '../../lib/embedded-stack.ts';
import { LogCapture, shorten } from '../../lib/log-capture.ts';
import { checkPolicy, REFERENCE_POLICY, STARTER_POLICY } from './check.ts';

const POLICY = argValue('policy') ?? REFERENCE_POLICY;
const OPENINGS = [
  'Plan a three-day trip to Lisbon for a family with two kids.',
  'Explain how a hash ring balances keys when a node joins.',
  'Write a limerick about a cat who learns to program in Rust.',
];
const TURNS = 3;

interface Message {
  role: 'user' | 'assistant';
  content: string;
}

async function chatTurn(url: string, messages: Message[], requestId: string): Promise<string> {
  const res = await fetch(`${url}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-request-id': requestId },
    body: JSON.stringify({ messages, max_tokens: 12, ignore_eos: true }),
  });
  if (res.status !== 200)
    throw new Error(`chat turn ${requestId} failed: HTTP ${res.status} ${await res.text()}`);
  return ((await res.json()) as { choices: { message: { content: string } }[] }).choices[0]!.message.content;
}

async function liveConversations(logs: LogCapture): Promise<void> {
  const stack = await startEmbeddedStack({
    workers: 3,
    engine: 'mocker',
    mocker: { speedupRatio: 0 },
    router: { router: POLICY, decisionLog: 'info' },
  });
  try {
    note(
      `(the same as: dhw serve --workers 3 --engine mocker --speedup-ratio 0 --router ./${relative(process.cwd(), POLICY)})`,
    );
    const histories: Message[][] = OPENINGS.map(() => []);
    const served: string[][] = OPENINGS.map(() => []);
    for (let turn = 1; turn <= TURNS; turn++) {
      for (const [c, history] of histories.entries()) {
        history.push({
          role: 'user',
          content: turn === 1 ? OPENINGS[c]! : `Tell me more about part ${turn}.`,
        });
        const requestId = `lab-3-4-c${c + 1}-t${turn}`;
        const from = logs.mark();
        history.push({ role: 'assistant', content: await chatTurn(stack.url, history, requestId) });
        const line = logs.grep(`route requestId=${requestId} `, from)[0] ?? '';
        served[c]!.push(/chosen=([0-9a-f]+)/.exec(line)?.[1] ?? '?');
        if (c === 0) note(shorten(line, 260));
      }
    }
    printTable(
      ['conversation', ...Array.from({ length: TURNS }, (_, t) => `turn ${t + 1}`)],
      served.map((workers, c) => [`${c + 1}: "${OPENINGS[c]!.slice(0, 28)}…"`, ...workers]),
    );
    note(
      `every conversation stayed on one worker: ${served.every((w) => new Set(w).size === 1)}; ` +
        `the ${OPENINGS.length} conversations used ${new Set(served.map((w) => w[0])).size} workers`,
    );
    note(
      '(the frontend does not pass a session id yet, so the policy follows each chat by its cached prefix)',
    );
  } finally {
    await stack.close();
  }
}

async function main(): Promise<void> {
  banner('3.4', 'Write your own routing policy');
  const logs = new LogCapture('info');

  step('Check the policy against the requirements (the same as check.ts)');
  note(`$ npm run lab -- 3.4 --check ${relative(process.cwd(), POLICY)}`);
  const passed = printResults(POLICY, await checkPolicy(POLICY), '  ', 'requirements');
  if (!passed) note('(not all passed: read the FAIL lines, edit the policy, run the check again)');

  step('What failing looks like: the starter file (plain round-robin) under the same check');
  printResults(STARTER_POLICY, await checkPolicy(STARTER_POLICY), '  ', 'requirements');

  step('Serve real traffic with the policy: 3 mocker workers, 3 chats of 3 turns, decision lines');
  await liveConversations(logs);
}

runLab(
  main,
  'A policy that does not load? Run the check alone for the full error: npm run lab -- 3.4 --check FILE',
);
