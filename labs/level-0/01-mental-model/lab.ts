/**
 * Lab 0.1: the mental model. Prints the map from Dynamo's vocabulary to systems vocabulary, shows which parts
 * of our system exist in this checkout, and runs the prerequisite checks every later lab relies on: a
 * pre-flight checklist, like `nginx -t` before a reload.
 *
 * @expect Dynamo concept
 * @expect Prerequisites
 * @expect /node version\s+v\d+/
 * @expect KV bytes per token
 * @expect Lab complete.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { availableParallelism, freemem, totalmem } from 'node:os';
import { join } from 'node:path';
import { kvBytesPerToken } from '../../../src/model/index.ts';
import { defaultModelDir, fixtureDirs, repoRoot } from '../../../src/util/paths.ts';
import { banner, formatBytes, note, printTable, runLab, step } from '../../lib/lab-kit.ts';

/** The curriculum's table, with the folder of this project that plays each part. */
const CONCEPTS: [concept: string, systems: string, folder: string][] = [
  ['Frontend', 'HTTP reverse proxy (nginx)', 'src/frontend'],
  ['Router', 'load balancer with session affinity', 'src/router'],
  ['Worker', 'backend service instance', 'src/worker'],
  ['etcd', 'service registry (Consul, ZooKeeper)', 'src/runtime'],
  ['NATS', 'message bus (Kafka, RabbitMQ)', 'src/runtime'],
  ['KV cache', 'per-request in-memory cache (Redis)', 'src/kv'],
  ['NIXL', 'RDMA cache replication', 'src/transfer'],
  ['Prefill', 'parse the request + warm the cache', 'src/engine'],
  ['Decode', 'stream the response', 'src/engine'],
];

const ARCHITECTURE = `
   client (curl, openai SDK)
        | HTTP POST /v1/chat/completions
        v
  +-----------------------------+         +------------------+
  | frontend: HTTP, template,   |  watch  | etcd: registry   |
  | tokenize, detokenize, SSE   |<--------| /dynamo/... keys |
  |   router: pick a worker     |         +------------------+
  +-----------------------------+                ^ register (lease)
        | request plane (TCP)     ^ KV events,   |
        v                         | load (NATS)  |
  +----------------+   +----------------+        |
  | worker A       |   | worker B       |--------+
  | engine + KV    |   | engine + KV    |
  +----------------+   +----------------+
        ^   transfer (our NIXL): KV blocks   ^
        +------------------------------------+`;

interface Check {
  name: string;
  value: string;
  ok: boolean;
  fix: string;
}

function checkNode(): Check {
  const major = Number(process.versions.node.split('.')[0]);
  return { name: 'node version', value: process.version, ok: major >= 20, fix: 'install Node 20 or newer' };
}

function checkMachine(): Check[] {
  const cores = availableParallelism();
  const total = totalmem();
  return [
    { name: 'CPU cores', value: String(cores), ok: cores >= 1, fix: '' },
    {
      name: 'memory (free/total)',
      value: `${formatBytes(freemem())} / ${formatBytes(total)}`,
      ok: total >= 1024 ** 3,
      fix: 'the labs want about 1 GiB',
    },
  ];
}

function checkModel(): Check[] {
  const files = [
    'config.json',
    'model.safetensors',
    'tokenizer.json',
    'tokenizer_config.json',
    'chat_template.jinja',
  ];
  return files.map((file) => {
    const path = join(defaultModelDir, file);
    const present = existsSync(path);
    return {
      name: `model file ${file}`,
      value: present ? formatBytes(statSync(path).size) : 'missing',
      ok: present,
      fix: `expected in ${defaultModelDir} (the bundled fortune-llama model)`,
    };
  });
}

/** Servers are only needed from Level 2 on: report them, never fail on them. */
function findBinary(name: string): string {
  try {
    return execFileSync('sh', ['-c', `command -v ${name}`], { encoding: 'utf8' }).trim() || 'not found';
  } catch {
    return 'not found (needed from Level 2: apt-get install etcd-server etcd-client nats-server)';
  }
}

/** A component "exists" once its folder holds TypeScript; the map then shows how far the build has come. */
function componentStatus(folder: string): string {
  const dir = join(repoRoot, folder);
  if (!existsSync(dir)) return 'planned';
  const files = readdirSync(dir).filter((f) => f.endsWith('.ts') && !f.endsWith('.test.ts'));
  return files.length === 0 ? 'planned' : `${files.length} module(s)`;
}

async function main(): Promise<void> {
  banner('0.1', 'The mental model');

  step('Map Dynamo concepts to systems concepts (and to our folders)');
  printTable(
    ['Dynamo concept', 'Systems equivalent', 'Our code', 'Status'],
    CONCEPTS.map(([concept, systems, folder]) => [concept, systems, folder, componentStatus(folder)]),
  );

  step('The architecture of one deployment');
  console.log(ARCHITECTURE);

  step('Prerequisites');
  const checks = [checkNode(), ...checkMachine(), ...checkModel()];
  printTable(
    ['check', 'value', 'ok'],
    checks.map((c) => [c.name, c.value, c.ok ? 'yes' : `NO: ${c.fix}`]),
  );
  note(`reference fixtures: ${fixtureDirs().length} folders (fixtures/README.md says where they come from)`);
  for (const server of ['etcd', 'etcdctl', 'nats-server']) note(`${server}: ${findBinary(server)}`);
  const failed = checks.filter((c) => !c.ok);
  if (failed.length > 0)
    throw new Error(`${failed.length} prerequisite(s) failed: ${failed.map((c) => c.name).join(', ')}`);

  step('A first number to predict with: KV bytes per token');
  const config = JSON.parse(readFileSync(join(defaultModelDir, 'config.json'), 'utf8'));
  const headDim = config.head_dim ?? config.hidden_size / config.num_attention_heads;
  const ours = kvBytesPerToken(config.num_hidden_layers, config.num_key_value_heads, headDim, 4);
  const llama70b = kvBytesPerToken(80, 8, 128, 2);
  printTable(
    ['model', 'layers', 'kv heads', 'head dim', 'bytes/value', 'KV bytes per token', '4k-token chat'],
    [
      [
        'fortune-llama (fp32 cache)',
        config.num_hidden_layers,
        config.num_key_value_heads,
        headDim,
        4,
        formatBytes(ours),
        formatBytes(ours * 4096),
      ],
      ['Llama-3-70B (bf16 cache)', 80, 8, 128, 2, formatBytes(llama70b), formatBytes(llama70b * 4096)],
    ],
  );
  note('KV bytes per token = 2 (K and V) x layers x kv heads x head dim x bytes per value.');
  note('Next: `npm run lab -- 1.1` opens the model checkpoint.');
}

runLab(main);
