/**
 * One model split across emulated nodes (root only; skipped with the reason otherwise): the parallel
 * groups' own links (the tensor-parallel ring, the pipeline's stage-to-stage hops) cross a tbf-shaped veth
 * between two network namespaces instead of loopback, and the greedy tokens must not change.
 *
 *  - Tensor parallelism: `dhw tp-rank --tp-rank 1` in node 1, `dhw generate --tensor-parallel-size 2
 *    --tp-transport tcp --tp-peers node0:P,node1:P` in node 0 (rank 0): every layer's two all-reduces go
 *    over the link.
 *  - Pipeline parallelism: `dhw worker --pipeline-stage 1` in node 1, `dhw generate
 *    --pipeline-parallel-size 2 --pipeline-stage-addresses node1:P` in node 0: hidden states go one way,
 *    logits come back.
 * The reference is `dhw generate` with neither, in node 0.
 */
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { type ClusterState, clusterUnavailableReason, downCluster, runInNode, upCluster } from './index.ts';

const unavailable = await clusterUnavailableReason();
const skip = unavailable && `needs root and ip netns: ${unavailable}`;
const PROMPT = '1,450,338,263,1996,129';
const GENERATE = ['dhw', 'generate', '--token-ids', PROMPT, '--max-tokens', '12', '--temperature', '0'];
const GENERATE_TAIL = ['--ignore-eos', '--threads', '1', '--json'];

let state: ClusterState;
let stateRoot: string;
const children: ChildProcess[] = [];

/** Output of a process, and a promise of its exit code. */
function startInNode(node: number, argv: string[]) {
  const child = runInNode(state, node, argv, { stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  let out = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    out += chunk.toString();
  });
  child.stderr?.on('data', (chunk: Buffer) => {
    out += chunk.toString();
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { child, output: () => out, exited };
}

/** `dhw generate ... --json` in a node: its token ids (fails with the process output otherwise). */
async function generatedTokens(node: number, extra: string[]): Promise<number[]> {
  const run = startInNode(node, [...GENERATE, ...extra, ...GENERATE_TAIL]);
  const code = await run.exited;
  const lastLine = run.output().trim().split('\n').at(-1) ?? '';
  assert.equal(code, 0, `dhw generate ${extra.join(' ')} exited ${code}:\n${run.output()}`);
  return (JSON.parse(lastLine) as { token_ids: number[] }).token_ids;
}

async function waitForLine(run: ReturnType<typeof startInNode>, pattern: RegExp): Promise<RegExpMatchArray> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    const match = run.output().match(pattern);
    if (match) return match;
    if (Date.now() > deadline) assert.fail(`no line matching ${pattern}:\n${run.output()}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

before(async () => {
  if (skip) return;
  stateRoot = await mkdtemp(join(tmpdir(), 'dhw-parallel-nodes-'));
  state = await upCluster({
    name: `dhw-p${process.pid}`,
    stateRoot,
    nodes: 2,
    link: '1gbit',
    controlPlane: false,
  });
});

after(async () => {
  if (skip) return;
  for (const child of children) child.kill('SIGKILL');
  await downCluster({ name: state?.name, stateRoot });
  await rm(stateRoot, { recursive: true, force: true });
});

test('tensor parallelism with rank 1 in another node: same greedy tokens as TP = 1', {
  skip,
  timeout: 120_000,
}, async () => {
  const expected = await generatedTokens(0, []);
  const [node0, node1] = state.addresses as [string, string];
  const peers = `${node0}:9311,${node1}:9312`;
  // biome-ignore format: one flag and its value per line
  const rank1 = startInNode(1, [
    'dhw', 'tp-rank',
    '--tp-rank', '1',
    '--tp-peers', peers,
    '--threads', '1',
  ]);
  const tokens = await generatedTokens(0, [
    '--tensor-parallel-size',
    '2',
    '--tp-transport',
    'tcp',
    '--tp-peers',
    peers,
  ]);
  assert.deepEqual(tokens, expected, `rank 1's output:\n${rank1.output()}`);
});

test('pipeline parallelism with stage 1 in another node: same greedy tokens as PP = 1', {
  skip,
  timeout: 120_000,
}, async () => {
  const expected = await generatedTokens(0, []);
  const node1 = state.addresses[1] as string;
  // biome-ignore format: one flag and its value per line
  const stage = startInNode(1, [
    'dhw', 'worker',
    '--pipeline-stage', '1',
    '--pipeline-parallel-size', '2',
    '--host', node1,
    '--port', '0',
    '--threads', '1',
  ]);
  const [, address] = await waitForLine(stage, /Pipeline stage 1 of 2 \(layers \S+\) listening on (\S+)/);
  assert.match(
    address!,
    new RegExp(`^${node1.replaceAll('.', '\\.')}:`),
    'the stage listens on its node address',
  );
  const tokens = await generatedTokens(0, [
    '--pipeline-parallel-size',
    '2',
    '--pipeline-stage-addresses',
    address!,
  ]);
  assert.deepEqual(tokens, expected, `stage 1's output:\n${stage.output()}`);
});
