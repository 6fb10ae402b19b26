/**
 * The Kubernetes deployment, checked offline (no cluster here): every overlay renders, every object is
 * valid against the Kubernetes schemas (and has no unknown fields), every `dhw` flag and env var the
 * containers use exists in `dhw <command> --help`, probes and Services point at ports that exist, grace
 * periods cover the drain timeouts, and the Dockerfile builds a non-root image from runtime files only.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { parse } from 'yaml';
import { schemaErrors, unknownFieldErrors } from './testing/k8s-schema-kit.ts';
import {
  type K8sObject,
  KUSTOMIZE_ROOT,
  podTemplateOf,
  renderKustomization,
} from './testing/kustomize-kit.ts';

const REPO = join(KUSTOMIZE_ROOT, '..', '..');
const OUR_IMAGE = 'dynamo-the-hard-way';
const TARGETS = ['base', ...readdirSync(join(KUSTOMIZE_ROOT, 'overlays')).map((o) => `overlays/${o}`)];

type Container = {
  name: string;
  image: string;
  args?: string[];
  env?: { name: string; value?: string; valueFrom?: unknown }[];
  ports?: { name?: string; containerPort: number }[];
  readinessProbe?: Probe;
  livenessProbe?: Probe;
  startupProbe?: Probe;
  lifecycle?: { preStop?: { exec?: { command: string[] } } };
};
type Probe = { httpGet?: { path: string; port: string | number } };
type PodSpec = { containers: Container[]; terminationGracePeriodSeconds?: number };

const podSpecOf = (o: K8sObject): PodSpec | undefined => podTemplateOf(o)?.spec as PodSpec | undefined;
const podLabelsOf = (o: K8sObject): Record<string, string> =>
  ((podTemplateOf(o)?.metadata as { labels?: Record<string, string> })?.labels ?? {}) as Record<
    string,
    string
  >;
const ours = (objects: K8sObject[]): { o: K8sObject; c: Container }[] =>
  objects.flatMap((o) =>
    (podSpecOf(o)?.containers ?? []).filter((c) => c.image.startsWith(OUR_IMAGE)).map((c) => ({ o, c })),
  );

const helpCache = new Map<string, string>();
function dhwHelp(command: string): string {
  let help = helpCache.get(command);
  if (help === undefined) {
    const run = spawnSync(process.execPath, [join(REPO, 'bin/dhw.mjs'), command, '--help'], {
      encoding: 'utf8',
    });
    assert.equal(run.status, 0, `dhw ${command} --help failed: ${run.stderr}`);
    help = run.stdout;
    helpCache.set(command, help);
  }
  return help;
}

function flagValue(args: string[], flag: string): string | undefined {
  const eq = args.find((a) => a.startsWith(`${flag}=`));
  if (eq) return eq.slice(flag.length + 1);
  const i = args.indexOf(flag);
  return i >= 0 ? args[i + 1] : undefined;
}

for (const target of TARGETS) {
  describe(`deploy/kubernetes/${target}`, () => {
    const objects = renderKustomization(join(KUSTOMIZE_ROOT, target));

    test('renders etcd, NATS, the frontend and workers', () => {
      const names = objects.map((o) => `${o.kind}/${o.metadata.name}`);
      for (const required of [
        'StatefulSet/etcd',
        'StatefulSet/nats',
        'Deployment/frontend',
        'Service/frontend',
      ])
        assert.ok(names.includes(required), `${required} missing from ${names.join(', ')}`);
      assert.ok(
        ours(objects).some(({ c }) => c.args?.[0] === 'worker'),
        'no worker container',
      );
      if (target !== 'base') {
        const ns = objects.find((o) => o.kind === 'Namespace')?.metadata.name;
        assert.ok(ns, 'an overlay creates its namespace');
        for (const o of objects.filter((x) => x.kind !== 'Namespace')) assert.equal(o.metadata.namespace, ns);
      }
    });

    test('every object validates against the Kubernetes schemas', async () => {
      assert.deepEqual(await schemaErrors(objects), []);
    });

    test('no object has unknown fields', () => {
      const tsc = join(REPO, 'node_modules/typescript/bin/tsc');
      const errors = unknownFieldErrors(
        objects,
        join(REPO, '.dhw', `k8s-typecheck-${process.pid}-${target.replace('/', '-')}`),
        tsc,
      );
      assert.deepEqual(errors, []);
    });

    test('every dhw flag and env var the containers use exists in `dhw <command> --help`', () => {
      for (const { o, c } of ours(objects)) {
        const [command, ...args] = c.args ?? [];
        assert.ok(command, `${o.metadata.name}/${c.name}: args start with the dhw command`);
        const help = dhwHelp(command);
        for (const arg of args.filter((a) => a.startsWith('--'))) {
          const flag = arg.split('=')[0]!;
          assert.match(
            help,
            new RegExp(`\\s${flag}[\\s,]`),
            `${o.metadata.name}: dhw ${command} has no ${flag}`,
          );
        }
        const referenced = new Set(args.flatMap((a) => [...a.matchAll(/\$\((\w+)\)/g)].map((m) => m[1]!)));
        const envNames = new Set((c.env ?? []).map((e) => e.name));
        for (const name of referenced)
          assert.ok(
            envNames.has(name),
            `${o.metadata.name}: $(${name}) is used in args but not defined in env`,
          );
        for (const name of envNames)
          if (!referenced.has(name))
            assert.ok(
              help.includes(`$${name}`) || help.includes(name),
              `${o.metadata.name}: dhw ${command} reads no ${name}`,
            );
      }
    });

    test('probes hit /health, /live or /metrics on ports the container declares', () => {
      for (const { o, c } of ours(objects)) {
        const portNames = new Set((c.ports ?? []).map((p) => p.name));
        assert.ok(c.readinessProbe && c.livenessProbe, `${o.metadata.name}: readiness and liveness probes`);
        for (const probe of [c.readinessProbe, c.livenessProbe, c.startupProbe].filter(
          (p) => p !== undefined,
        )) {
          assert.ok(
            ['/health', '/live'].includes(probe.httpGet?.path ?? ''),
            `${o.metadata.name}: probe path`,
          );
          assert.ok(
            portNames.has(String(probe.httpGet?.port)),
            `${o.metadata.name}: probe port ${probe.httpGet?.port}`,
          );
        }
        assert.equal(
          c.readinessProbe.httpGet?.path,
          '/health',
          'readiness follows /health (503 without workers)',
        );
        assert.equal(c.livenessProbe.httpGet?.path, '/live', 'liveness never depends on other pods');
        const system = flagValue(c.args ?? [], '--system-port') ?? flagValue(c.args ?? [], '--port');
        assert.ok(
          (c.ports ?? []).some((p) => String(p.containerPort) === system),
          `${o.metadata.name}: the status port ${system} is a declared container port`,
        );
      }
    });

    test('workers advertise their pod IP and bind every interface', () => {
      for (const { o, c } of ours(objects).filter(({ c }) => c.args?.[0] === 'worker')) {
        assert.equal(flagValue(c.args!, '--host'), '0.0.0.0', o.metadata.name);
        assert.equal(flagValue(c.args!, '--advertise-host'), '$(POD_IP)', o.metadata.name);
        const podIp = c.env?.find((e) => e.name === 'POD_IP')?.valueFrom as {
          fieldRef?: { fieldPath?: string };
        };
        assert.equal(podIp?.fieldRef?.fieldPath, 'status.podIP', o.metadata.name);
      }
    });

    test('SIGTERM drains within terminationGracePeriodSeconds', () => {
      for (const { o, c } of ours(objects)) {
        const drain = Number(flagValue(c.args ?? [], '--drain-timeout') ?? 10);
        const preStop = c.lifecycle?.preStop?.exec?.command;
        const sleep = preStop?.[0] === 'sleep' ? Number(preStop[1]) : 0;
        const grace = podSpecOf(o)?.terminationGracePeriodSeconds ?? 30;
        assert.ok(
          sleep + drain < grace,
          `${o.metadata.name}: preStop ${sleep} s + drain ${drain} s < grace ${grace} s`,
        );
      }
    });

    test('Services and ServiceMonitors select pods and ports that exist', () => {
      const workloads = objects.filter((o) => podTemplateOf(o));
      const selects = (selector: Record<string, string>, labels: Record<string, string>): boolean =>
        Object.entries(selector).every(([k, v]) => labels[k] === v);
      for (const svc of objects.filter((o) => o.kind === 'Service')) {
        const spec = svc.spec as {
          selector: Record<string, string>;
          ports: { name: string; targetPort?: string }[];
        };
        const pods = workloads.filter((w) => selects(spec.selector, podLabelsOf(w)));
        assert.ok(pods.length > 0, `Service ${svc.metadata.name} selects no pods`);
        for (const port of spec.ports)
          for (const pod of pods) {
            const named = podSpecOf(pod)!
              .containers.flatMap((c) => c.ports ?? [])
              .map((p) => p.name);
            assert.ok(
              named.includes(port.targetPort ?? port.name),
              `Service ${svc.metadata.name} port ${port.name}`,
            );
          }
      }
      for (const monitor of objects.filter((o) => o.kind === 'ServiceMonitor')) {
        const spec = monitor.spec as {
          selector: { matchLabels: Record<string, string> };
          endpoints: { port: string }[];
        };
        const services = objects.filter(
          (o) => o.kind === 'Service' && selects(spec.selector.matchLabels, o.metadata.labels ?? {}),
        );
        assert.ok(services.length > 0, `ServiceMonitor ${monitor.metadata.name} selects no Service`);
        for (const e of spec.endpoints)
          assert.ok(
            services.some((s) =>
              (s.spec as { ports: { name: string }[] }).ports.some((p) => p.name === e.port),
            ),
            `ServiceMonitor ${monitor.metadata.name}: no Service port named ${e.port}`,
          );
      }
      for (const cm of objects.filter((o) => o.kind === 'ConfigMap')) {
        const config = (cm as { data?: Record<string, string> }).data?.['prometheus.yml'];
        if (config) assert.ok((parse(config) as { scrape_configs: unknown[] }).scrape_configs.length > 0);
      }
    });
  });
}

describe('Dockerfile', () => {
  const dockerfile = readFileSync(join(REPO, 'Dockerfile'), 'utf8');
  const lines = dockerfile.split('\n').filter((l) => l.trim() && !l.trim().startsWith('#'));

  test('multi-stage, non-root, the bundled model inside, dhw as the entry point', () => {
    assert.ok(lines.filter((l) => /^FROM\s/.test(l)).length >= 2, 'at least two stages');
    const lastFrom = lines.map((l) => /^FROM\s/.test(l)).lastIndexOf(true);
    const user = lines.slice(lastFrom).find((l) => /^USER\s/.test(l));
    assert.ok(user && !/^USER\s+(root|0)\b/.test(user), 'the runtime stage switches to a non-root user');
    assert.ok(
      lines.some((l) => /^COPY\s+models\b/.test(l)),
      'the bundled model is copied in',
    );
    assert.ok(existsSync(join(REPO, 'models/fortune-llama/config.json')));
    assert.ok(
      lines.some((l) => /npm ci --omit=dev/.test(l)),
      'only runtime dependencies are installed',
    );
    assert.match(dockerfile, /ENTRYPOINT \["node", "bin\/dhw.mjs"\]/);
    for (const l of lines.filter((x) => /^COPY\s/.test(x) && !x.includes('--from')))
      for (const source of l.split(/\s+/).slice(1, -1))
        assert.ok(existsSync(join(REPO, source)), `COPY ${source}`);
  });

  test('runtime code imports no devDependency (the image installs --omit=dev)', () => {
    const pkg = JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as {
      devDependencies: Record<string, string>;
    };
    const dev = Object.keys(pkg.devDependencies);
    const offenders: string[] = [];
    const walk = (dir: string): void => {
      for (const entry of readdirSync(dir, { withFileTypes: true })) {
        const path = join(dir, entry.name);
        if (entry.isDirectory()) {
          if (entry.name !== 'testing') walk(path);
        } else if (/\.(ts|mjs)$/.test(entry.name) && !/\.(test|conformance)\.ts$/.test(entry.name)) {
          const source = readFileSync(path, 'utf8');
          for (const name of runtimeImports(source))
            if (dev.includes(name)) offenders.push(`${path.slice(REPO.length + 1)} imports ${name}`);
        }
      }
    };
    walk(join(REPO, 'src'));
    walk(join(REPO, 'bin'));
    assert.deepEqual(offenders, []);
  });
});

/** Packages a module loads at run time: static imports/exports (not `import type`), dynamic imports. */
function runtimeImports(source: string): string[] {
  const statement = /(?:^|\n)\s*(?:import|export)\s+(type\s+)?(?:[^;'"]*?\sfrom\s+)?['"]([^'"]+)['"]/g;
  const dynamic = /import\(\s*['"]([^'"]+)['"]\s*\)/g;
  const specifiers = [
    ...[...source.matchAll(statement)].filter((m) => !m[1]).map((m) => m[2]!),
    ...[...source.matchAll(dynamic)].map((m) => m[1]!),
  ];
  return specifiers
    .filter((s) => !s.startsWith('.') && !s.startsWith('node:'))
    .map((s) => (s.startsWith('@') ? s.split('/').slice(0, 2).join('/') : s.split('/')[0]!));
}
