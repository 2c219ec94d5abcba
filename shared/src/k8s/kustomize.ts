/**
 * A small kustomize (no kustomize binary needed): reads a kustomization.yaml and composes its
 * objects. Supported: `resources` (YAML files, or folders holding a kustomization), `patches`
 * (strategic-merge patches from `path` or inline `patch`, matched by kind + name or by `target`),
 * `patchesStrategicMerge`, `images`, `namespace`, `commonLabels` and `labels`. Anything else is an
 * error rather than silently ignored, so what renders here is what `kubectl apply -k` applies.
 */
import { readdir, readFile } from 'node:fs/promises';
import { join, relative, resolve } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { z } from 'zod';
import { ConfigError } from '../errors.ts';
import { asK8sObject, objectId, type K8sObject } from './k8s-object.ts';
import { isMap, strategicMerge, type Json } from './strategic-merge.ts';
import { applyImages, applyLabels, applyNamespace } from './transformers.ts';

const KUSTOMIZATION_FILES = ['kustomization.yaml', 'kustomization.yml', 'Kustomization'];

const labelMap = z.record(z.string(), z.string({ error: 'expected a string label value (quote numbers and booleans)' }));
const kustomizationSchema = z.strictObject({
  apiVersion: z.string().optional(),
  kind: z.literal('Kustomization').optional(),
  resources: z.array(z.string()).optional(),
  patches: z.array(z.strictObject({
    path: z.string().optional(),
    patch: z.string().optional(),
    target: z.strictObject({ kind: z.string().optional(), name: z.string().optional() }).optional(),
  }).refine((p) => (p.path === undefined) !== (p.patch === undefined), { error: 'give exactly one of path and patch' })).optional(),
  patchesStrategicMerge: z.array(z.string()).optional(),
  images: z.array(z.strictObject({
    name: z.string().min(1),
    newName: z.string().min(1).optional(),
    newTag: z.string().min(1, { error: 'expected a tag (quote numeric tags)' }).optional(),
    digest: z.string().min(1).optional(),
  })).optional(),
  namespace: z.string().regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, { error: 'expected a DNS label' }).optional(),
  commonLabels: labelMap.optional(),
  labels: z.array(z.strictObject({
    pairs: labelMap,
    includeSelectors: z.boolean().optional(),
    includeTemplates: z.boolean().optional(),
  })).optional(),
});
export type Kustomization = z.output<typeof kustomizationSchema>;

interface Patch {
  body: Record<string, Json>;
  target: { kind: string; name: string };
  source: string;
}

/** The objects a kustomization folder composes, in the order its resources list them. */
export async function loadKustomization(dir: string): Promise<K8sObject[]> {
  return load(resolve(dir), []);
}

async function load(dir: string, stack: string[]): Promise<K8sObject[]> {
  if (stack.includes(dir)) throw new ConfigError(`kustomization cycle: ${[...stack, dir].join(' -> ')}`);
  const file = await kustomizationFile(dir);
  const where = relative(process.cwd(), file) || file;
  const k = await readKustomization(file, where);

  let objects: K8sObject[] = [];
  for (const entry of k.resources ?? []) {
    if (/^[a-z][a-z0-9+.-]*:\/\//i.test(entry)) throw new ConfigError(`${where}: resources: remote resource '${entry}' is not supported`);
    const path = resolve(dir, entry);
    const isDir = await readdir(path).then(() => true, () => false);
    objects.push(...(isDir ? await load(path, [...stack, dir]) : await readObjects(path, `${where}: resources: ${entry}`)));
  }
  assertUnique(objects, where);

  const patches: Patch[] = [];
  for (const [i, p] of (k.patches ?? []).entries()) {
    const text = p.path === undefined ? p.patch! : await readText(resolve(dir, p.path), `${where}: patches[${i}]`);
    patches.push(...parsePatches(text, `${where}: patches[${i}]${p.path ? ` (${p.path})` : ''}`, p.target));
  }
  for (const entry of k.patchesStrategicMerge ?? []) {
    patches.push(...parsePatches(await readText(resolve(dir, entry), `${where}: patchesStrategicMerge`), `${where}: ${entry}`, undefined));
  }
  for (const patch of patches) objects = applyPatch(objects, patch);

  if (k.namespace !== undefined) objects = applyNamespace(objects, k.namespace);
  if (k.commonLabels !== undefined) objects = applyLabels(objects, k.commonLabels, { templates: true, selectors: true });
  for (const l of k.labels ?? []) objects = applyLabels(objects, l.pairs, { templates: l.includeTemplates ?? false, selectors: l.includeSelectors ?? false });
  if (k.images !== undefined) objects = applyImages(objects, k.images);
  return objects;
}

async function kustomizationFile(dir: string): Promise<string> {
  const names = await readdir(dir).catch((error: Error) => {
    throw new ConfigError(`kustomization folder ${dir}: ${error.message}`);
  });
  const name = KUSTOMIZATION_FILES.find((n) => names.includes(n));
  if (name === undefined) throw new ConfigError(`${dir}: no kustomization.yaml`);
  return join(dir, name);
}

async function readKustomization(file: string, where: string): Promise<Kustomization> {
  const docs = parseYaml(await readText(file, where), where);
  if (docs.length !== 1) throw new ConfigError(`${where}: expected one YAML document`);
  const parsed = kustomizationSchema.safeParse(docs[0]);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => `${where}: ${issue.path.join('.') || '(top)'}: ${issue.message}`);
    throw new ConfigError(problems.join('\n'));
  }
  return parsed.data;
}

async function readText(path: string, where: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (error) {
    throw new ConfigError(`${where}: cannot read ${path}: ${(error as Error).message}`);
  }
}

function parseYaml(text: string, where: string): unknown[] {
  const docs = parseAllDocuments(text, { uniqueKeys: true, prettyErrors: true });
  if (!Array.isArray(docs)) throw new ConfigError(`${where}: not valid YAML`);
  const out: unknown[] = [];
  for (const doc of docs) {
    const problem = doc.errors[0];
    if (problem) throw new ConfigError(`${where}: not valid YAML: ${problem.message.trimEnd()}`);
    const value: unknown = doc.toJS();
    if (value !== null && value !== undefined) out.push(value);
  }
  return out;
}

async function readObjects(path: string, where: string): Promise<K8sObject[]> {
  return parseYaml(await readText(path, where), where).map((doc, i) => asK8sObject(doc, `${where} (document ${i + 1})`));
}

function parsePatches(text: string, where: string, target: { kind?: string | undefined; name?: string | undefined } | undefined): Patch[] {
  return parseYaml(text, where).map((doc, i) => {
    const source = `${where} (document ${i + 1})`;
    if (!isMap(doc)) throw new ConfigError(`${source}: expected a strategic-merge patch (a mapping); JSON 6902 patches are not supported`);
    const metadata = isMap(doc.metadata) ? doc.metadata : {};
    const kind = target?.kind ?? (typeof doc.kind === 'string' ? doc.kind : undefined);
    const name = target?.name ?? (typeof metadata.name === 'string' ? metadata.name : undefined);
    if (kind === undefined || name === undefined) throw new ConfigError(`${source}: a patch needs kind and metadata.name (or a target with both)`);
    return { body: doc, target: { kind, name }, source };
  });
}

function applyPatch(objects: K8sObject[], patch: Patch): K8sObject[] {
  const matches = objects.filter((o) => o.kind === patch.target.kind && o.metadata.name === patch.target.name);
  if (matches.length !== 1) {
    throw new ConfigError(`${patch.source}: ${matches.length === 0 ? 'no' : 'more than one'} ${patch.target.kind}/${patch.target.name} to patch`);
  }
  const [target] = matches;
  if (patch.body.$patch === 'delete') return objects.filter((o) => o !== target);
  const { kind: _kind, apiVersion: _apiVersion, ...body } = patch.body;
  return objects.map((o) => (o === target ? asK8sObject(strategicMerge(o as unknown as Json, body, objectId(o)), patch.source) : o));
}

function assertUnique(objects: K8sObject[], where: string): void {
  const seen = new Set<string>();
  for (const o of objects) {
    const id = `${o.metadata.namespace ?? ''}/${objectId(o)}`;
    if (seen.has(id)) throw new ConfigError(`${where}: ${objectId(o)} is defined twice`);
    seen.add(id);
  }
}
