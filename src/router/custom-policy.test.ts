import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { after, describe, it } from 'node:test';
import { asWorkerId } from '../protocols/ids.ts';
import { createRouter } from './create-router.ts';
import { loadCustomPolicy } from './custom-policy.ts';
import { CustomPolicyError, UnknownPolicyError } from './errors.ts';
import { KvPolicy } from './policies/kv.ts';
import { BUILTIN_POLICIES, createPolicy, DEFAULT_ROUTER_POLICY, routerFlagHelp } from './policy-factory.ts';
import { BS, tokens } from './testing/router-kit.ts';

const dir = mkdtempSync(join(tmpdir(), 'dhw-policy-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function policyFile(name: string, source: string): string {
  const path = join(dir, name);
  writeFileSync(path, source);
  return path;
}

const example = new URL('./examples/sticky-session-policy.ts', import.meta.url).pathname;

describe('custom routing policies', () => {
  it('loads a .ts policy file through --router with a relative path', async () => {
    const router = await createRouter({
      router: `./${relative(process.cwd(), example)}`,
      decisionLog: 'off',
    });
    assert.equal(router.policy.name, 'sticky-session');
    router.addWorker({ workerId: asWorkerId('w1'), blockSize: BS, totalBlocks: 10 });
    assert.equal(router.route({ requestId: 'r', tokenIds: tokens(0, 20), sessionId: 's' }).workerId, 'w1');
  });

  it('accepts a default-exported object, factory or class, and names it after the file if unnamed', async () => {
    const obj = policyFile(
      'obj-policy.mjs',
      'export default { select: (r, ws) => ({ workerId: ws[0].workerId, reason: "first" }) };',
    );
    const factory = policyFile(
      'factory.mjs',
      'export default (o) => ({ name: "f" + o.seed, select: (r, ws) => ({ workerId: ws.at(-1).workerId, reason: "last" }) });',
    );
    const cls = policyFile(
      'cls.mjs',
      'export default class { constructor(o) { this.name = "cls"; this.o = o; } select(r, ws) { return { workerId: ws[0].workerId, reason: "x" }; } }',
    );
    assert.equal((await loadCustomPolicy(obj)).name, 'obj-policy');
    assert.equal((await loadCustomPolicy(factory, { seed: 4 })).name, 'f4');
    assert.equal((await createPolicy(cls)).name, 'cls');
  });

  it('rejects a module without a select method, naming the file and the fix', async () => {
    const bad = policyFile('bad-policy.mjs', 'export default { name: "bad", pick() {} };');
    await assert.rejects(loadCustomPolicy(bad), (err: Error) => {
      assert.ok(err instanceof CustomPolicyError);
      assert.match(err.message, /bad-policy\.mjs/);
      assert.match(err.message, /no select\(request, workers\) method/);
      return true;
    });
  });

  it('rejects a module with no usable export, a bad hook, a missing file, and a file that fails to import', async () => {
    const empty = policyFile('empty.mjs', 'export const x = 1;');
    await assert.rejects(
      loadCustomPolicy(empty),
      /exports neither createPolicy\(options\) nor a default export; found exports: x/,
    );
    const hook = policyFile('hook.mjs', 'export default { select() {}, onKvEvent: 3 };');
    await assert.rejects(loadCustomPolicy(hook), /onKvEvent must be a function/);
    await assert.rejects(loadCustomPolicy(join(dir, 'nope.ts')), (err: Error) => {
      assert.ok(err instanceof CustomPolicyError);
      assert.match(err.message, /routing policy file not found/);
      return true;
    });
    const broken = policyFile('broken.mjs', 'export default {{{');
    await assert.rejects(loadCustomPolicy(broken), (err: Error) => {
      assert.ok(err instanceof CustomPolicyError);
      assert.match(err.message, /could not import routing policy/);
      assert.ok(err.cause instanceof Error);
      return true;
    });
  });

  it('rejects an unknown policy name with the list of valid ones', async () => {
    await assert.rejects(createPolicy('fastest'), (err: Error) => {
      assert.ok(err instanceof UnknownPolicyError);
      assert.match(err.message, /random, round-robin, prefix-hash, least-loaded, kv, kv-approx/);
      return true;
    });
  });

  it('builds every built-in policy from its flag value, passing weight and temperature', async () => {
    for (const name of ['random', 'round-robin', 'prefix-hash', 'least-loaded', 'kv', 'kv-approx']) {
      const router = await createRouter({ router: name, seed: 1, decisionLog: 'off' });
      assert.equal(router.policy.name, name);
    }
    const kv = await createRouter({ router: 'kv', overlapScoreWeight: 2, temperature: 0.5 });
    assert.ok(kv.policy instanceof KvPolicy);
    assert.equal(kv.policy.overlapScoreWeight, 2);
    assert.equal(kv.policy.temperature, 0.5);
  });

  it('routes with kv-delay when no policy is named, and its help names every policy, the default first', async () => {
    assert.equal((await createRouter({ decisionLog: 'off' })).policy.name, 'kv-delay');
    assert.equal(DEFAULT_ROUTER_POLICY, 'kv-delay');
    const help = routerFlagHelp();
    assert.match(help, /^kv-delay \(predicted delay: /);
    assert.match(help, /\| kv \(Dynamo's cost: /);
    for (const name of BUILTIN_POLICIES) assert.ok(help.includes(`${name} (`), `${name} in --router help`);
    assert.ok(help.endsWith('| ./my-policy.ts'));
  });
});
