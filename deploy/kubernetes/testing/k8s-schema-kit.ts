/**
 * Offline validation of rendered manifests against the Kubernetes API schemas, two ways:
 * - kubernetes-models' JSON-schema validators (types, formats, required fields), per apiVersion/kind;
 * - a type check of the same objects against kubernetes-models' TypeScript interfaces, whose
 *   excess-property checks catch unknown or misspelt fields (`imagePullPolicyy`), which the JSON schemas
 *   accept and a real API server with strict field validation rejects.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { K8sObject } from './kustomize-kit.ts';

type ModelClass = new (data: unknown) => { validate(): void };
type KindInfo = { module: string; type: string };

/** The kinds our manifests may use, and where their models live. */
const KINDS: Record<string, KindInfo> = {
  'v1/Namespace': { module: 'kubernetes-models/v1', type: 'INamespace' },
  'v1/Service': { module: 'kubernetes-models/v1', type: 'IService' },
  'v1/ConfigMap': { module: 'kubernetes-models/v1', type: 'IConfigMap' },
  'v1/Secret': { module: 'kubernetes-models/v1', type: 'ISecret' },
  'apps/v1/Deployment': { module: 'kubernetes-models/apps/v1', type: 'IDeployment' },
  'apps/v1/StatefulSet': { module: 'kubernetes-models/apps/v1', type: 'IStatefulSet' },
  'monitoring.coreos.com/v1/ServiceMonitor': {
    module: '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1',
    type: 'IServiceMonitor',
  },
};

function kindInfo(o: K8sObject): KindInfo {
  const info = KINDS[`${o.apiVersion}/${o.kind}`];
  if (!info)
    throw new Error(
      `${o.apiVersion} ${o.kind} (${o.metadata.name}) has no schema in the test: add it to KINDS`,
    );
  return info;
}

/** Schema errors of each object ("Kind/name: message"), empty when all are valid. */
export async function schemaErrors(objects: K8sObject[]): Promise<string[]> {
  const errors: string[] = [];
  for (const o of objects) {
    const info = kindInfo(o);
    const models = (await import(info.module)) as Record<string, ModelClass>;
    const Model = models[info.type.slice(1)];
    if (!Model) throw new Error(`${info.module} exports no ${info.type.slice(1)}`);
    try {
      new Model(o).validate();
    } catch (e) {
      errors.push(`${o.kind}/${o.metadata.name}: ${(e as Error).message}`);
    }
  }
  return errors;
}

/**
 * Unknown fields: writes the objects as typed constants into `workDir` (inside the repository, so
 * node_modules resolves) and runs the TypeScript compiler over them. Returns its error lines.
 */
export function unknownFieldErrors(objects: K8sObject[], workDir: string, tscPath: string): string[] {
  mkdirSync(workDir, { recursive: true });
  try {
    const types = [...new Set(objects.map((o) => kindInfo(o)))];
    const imports = types.map((t) => `import type { ${t.type} } from '${t.module}';`);
    const constants = objects.map(
      (o, i) =>
        `// ${o.kind}/${o.metadata.name}\nexport const m${i}: ${kindInfo(o).type} = ${JSON.stringify(o)};`,
    );
    writeFileSync(
      join(workDir, 'manifests.ts'),
      `${[...new Set(imports)].join('\n')}\n${constants.join('\n')}\n`,
    );
    writeFileSync(
      join(workDir, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          strict: true,
          noEmit: true,
          skipLibCheck: true,
          module: 'esnext',
          moduleResolution: 'bundler',
          target: 'es2022',
          types: [],
        },
        files: ['manifests.ts'],
      }),
    );
    const run = spawnSync(process.execPath, [tscPath, '-p', join(workDir, 'tsconfig.json')], {
      encoding: 'utf8',
    });
    if (run.status === 0) return [];
    const out = `${run.stdout}${run.stderr}`.trim();
    return out.length > 0 ? out.split('\n') : [`tsc exited with ${run.status}`];
  } finally {
    rmSync(workDir, { recursive: true, force: true });
  }
}
