/**
 * A small, strict kustomize for the offline manifest test: renders a kustomization folder the way
 * `kubectl kustomize` does, for the subset of fields our manifests use (resources, components, namespace,
 * labels, images, replicas, JSON 6902 patches). A field outside that subset is an error, never ignored:
 * if the manifests start using one, this test fails and says so instead of validating the wrong output.
 * `kubectl kustomize deploy/kubernetes/overlays/NAME` stays the reference (docs/deploy.md).
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { parse, parseAllDocuments } from 'yaml';

export type K8sObject = {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; [k: string]: unknown };
  [k: string]: unknown;
};

type LabelEntry = { pairs: Record<string, string>; includeSelectors?: boolean; includeTemplates?: boolean };
type Patch = { target: { kind?: string; name?: string }; patch: string };
type Kustomization = {
  apiVersion: string;
  kind: 'Kustomization' | 'Component';
  resources?: string[];
  components?: string[];
  namespace?: string;
  labels?: LabelEntry[];
  images?: { name: string; newName?: string; newTag?: string }[];
  replicas?: { name: string; count: number }[];
  patches?: Patch[];
};

const KNOWN_FIELDS = new Set([
  'apiVersion',
  'kind',
  'resources',
  'components',
  'namespace',
  'labels',
  'images',
  'replicas',
  'patches',
]);
/** Kinds that live outside namespaces: the namespace transformer leaves them alone. */
const CLUSTER_SCOPED = new Set([
  'Namespace',
  'ClusterRole',
  'ClusterRoleBinding',
  'CustomResourceDefinition',
]);

/** Renders the kustomization in `dir` (a folder holding kustomization.yaml) to its list of objects. */
export function renderKustomization(dir: string): K8sObject[] {
  const k = readKustomization(dir);
  if (k.kind !== 'Kustomization') throw new Error(`${dir}: expected kind Kustomization, got ${k.kind}`);
  return applyTransformers(dir, k, accumulate(dir, k));
}

function readKustomization(dir: string): Kustomization {
  const file = join(dir, 'kustomization.yaml');
  if (!existsSync(file)) throw new Error(`${dir}: no kustomization.yaml`);
  const k = parse(readFileSync(file, 'utf8')) as Kustomization;
  const unknown = Object.keys(k).filter((f) => !KNOWN_FIELDS.has(f));
  if (unknown.length > 0)
    throw new Error(`${file}: fields ${unknown.join(', ')} are not supported by the test's kustomize subset`);
  return k;
}

/** Resources (files, or folders with their own kustomization), then components on top of them. */
function accumulate(dir: string, k: Kustomization): K8sObject[] {
  const objects: K8sObject[] = [];
  for (const entry of k.resources ?? []) {
    const path = resolve(dir, entry);
    if (statSync(path).isDirectory()) objects.push(...renderKustomization(path));
    else objects.push(...readObjects(path));
  }
  for (const entry of k.components ?? []) {
    const path = resolve(dir, entry);
    const component = readKustomization(path);
    if (component.kind !== 'Component') throw new Error(`${path}: expected kind Component`);
    const own = accumulate(path, component);
    objects.splice(0, objects.length, ...applyTransformers(path, component, [...objects, ...own]));
  }
  const seen = new Set<string>();
  for (const o of objects) {
    const id = `${o.kind}/${o.metadata.namespace ?? ''}/${o.metadata.name}`;
    if (seen.has(id)) throw new Error(`${dir}: ${id} is defined twice`);
    seen.add(id);
  }
  return objects;
}

export function readObjects(file: string): K8sObject[] {
  const objects: K8sObject[] = [];
  for (const doc of parseAllDocuments(readFileSync(file, 'utf8'))) {
    if (doc.errors.length > 0) throw new Error(`${file}: ${doc.errors[0]!.message}`);
    const o = doc.toJS() as K8sObject | null;
    if (o === null) continue;
    if (!o.apiVersion || !o.kind || !o.metadata?.name)
      throw new Error(`${file}: every object needs apiVersion, kind and metadata.name`);
    objects.push(o);
  }
  return objects;
}

function applyTransformers(dir: string, k: Kustomization, input: K8sObject[]): K8sObject[] {
  let objects = structuredClone(input);
  for (const p of k.patches ?? [])
    objects = objects.map((o) => (matches(o, p.target) ? applyPatch(dir, o, p) : o));
  for (const r of k.replicas ?? []) setReplicas(dir, objects, r);
  for (const image of k.images ?? []) for (const o of objects) setImage(o, image);
  for (const entry of k.labels ?? []) for (const o of objects) addLabels(o, entry);
  if (k.namespace)
    for (const o of objects) if (!CLUSTER_SCOPED.has(o.kind)) o.metadata.namespace = k.namespace;
  return objects;
}

function matches(o: K8sObject, target: Patch['target']): boolean {
  return (!target.kind || target.kind === o.kind) && (!target.name || target.name === o.metadata.name);
}

function setReplicas(dir: string, objects: K8sObject[], r: { name: string; count: number }): void {
  const found = objects.filter((o) => o.metadata.name === r.name && podTemplateOf(o));
  if (found.length === 0) throw new Error(`${dir}: replicas: no workload named ${r.name}`);
  for (const o of found) (o.spec as Record<string, unknown>).replicas = r.count;
}

function setImage(o: K8sObject, image: { name: string; newName?: string; newTag?: string }): void {
  const podSpec = podTemplateOf(o)?.spec as { containers?: { image?: string }[] } | undefined;
  for (const c of podSpec?.containers ?? []) {
    if (!c.image) continue;
    const [name, tag] = splitImage(c.image);
    if (name !== image.name) continue;
    c.image = `${image.newName ?? name}${image.newTag ? `:${image.newTag}` : tag ? `:${tag}` : ''}`;
  }
}

function splitImage(image: string): [string, string | undefined] {
  const slash = image.lastIndexOf('/');
  const colon = image.lastIndexOf(':');
  return colon > slash ? [image.slice(0, colon), image.slice(colon + 1)] : [image, undefined];
}

function addLabels(o: K8sObject, entry: LabelEntry): void {
  o.metadata.labels = { ...(o.metadata.labels ?? {}), ...entry.pairs };
  const template = podTemplateOf(o);
  if (template && entry.includeTemplates) {
    const meta = (template.metadata ?? {}) as { labels?: Record<string, string> };
    meta.labels = { ...(meta.labels ?? {}), ...entry.pairs };
    template.metadata = meta;
  }
  if (entry.includeSelectors)
    throw new Error('labels.includeSelectors is not supported by the test kustomize');
}

/** The pod template of a workload (Deployment, StatefulSet, DaemonSet, Job), or undefined. */
export function podTemplateOf(o: K8sObject): Record<string, unknown> | undefined {
  const spec = o.spec as { template?: Record<string, unknown> } | undefined;
  return ['Deployment', 'StatefulSet', 'DaemonSet', 'Job'].includes(o.kind) ? spec?.template : undefined;
}

/** RFC 6902 operations (add, replace, remove) on JSON pointers, the patch form our overlays use. */
function applyPatch(dir: string, o: K8sObject, p: Patch): K8sObject {
  const ops = parse(p.patch) as { op: string; path: string; value?: unknown }[];
  if (!Array.isArray(ops)) throw new Error(`${dir}: only JSON 6902 patches (a list of ops) are supported`);
  for (const op of ops) {
    const parts = op.path.split('/').slice(1).map(unescapePointer);
    const last = parts.pop();
    if (last === undefined) throw new Error(`${dir}: patch path ${op.path} is empty`);
    let parent: unknown = o;
    for (const part of parts) {
      parent = (parent as Record<string, unknown>)?.[part];
      if (parent === undefined)
        throw new Error(`${dir}: patch path ${op.path} does not exist in ${o.metadata.name}`);
    }
    patchAt(dir, parent as Record<string, unknown> | unknown[], last, op);
  }
  return o;
}

function patchAt(
  dir: string,
  parent: Record<string, unknown> | unknown[],
  key: string,
  op: { op: string; path: string; value?: unknown },
): void {
  if (Array.isArray(parent)) {
    const index = key === '-' ? parent.length : Number(key);
    if (op.op === 'add') parent.splice(index, 0, op.value);
    else if (op.op === 'replace') parent[index] = op.value;
    else if (op.op === 'remove') parent.splice(index, 1);
    else throw new Error(`${dir}: patch op ${op.op} is not supported`);
    return;
  }
  if (op.op === 'add' || op.op === 'replace') parent[key] = op.value;
  else if (op.op === 'remove') delete parent[key];
  else throw new Error(`${dir}: patch op ${op.op} is not supported`);
}

function unescapePointer(part: string): string {
  return part.replaceAll('~1', '/').replaceAll('~0', '~');
}

export const KUSTOMIZE_ROOT = resolve(dirname(new URL(import.meta.url).pathname), '..');
