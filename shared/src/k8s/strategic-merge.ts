/**
 * A strategic-merge-like patch, the subset of Kubernetes' rules that safesift's overlays use and
 * that agrees with kustomize on them: maps merge recursively, `null` deletes a key, lists whose
 * items are all named (containers, env, volumes, ports, ...) merge item by item on `name`
 * (volumeMounts on `mountPath`, as in Kubernetes), other lists are replaced. `$patch: replace` on a
 * map replaces it; `$patch: delete` on a named list item removes that item.
 */
import { ConfigError } from '../errors.ts';

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type JsonMap = { [key: string]: Json };

const PATCH_DIRECTIVE = '$patch';

/** Lists merged on a key other than `name` (Kubernetes' patchMergeKey). */
const MERGE_KEY_BY_FIELD: Record<string, string> = { volumeMounts: 'mountPath', volumeDevices: 'devicePath' };

export function isMap(value: unknown): value is JsonMap {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Returns base patched by patch; neither argument is modified. */
export function strategicMerge(base: Json, patch: Json, path = ''): Json {
  if (!isMap(patch)) return structuredClone(patch);
  const directive = patch[PATCH_DIRECTIVE];
  if (directive !== undefined) {
    if (directive === 'replace') return withoutDirective(patch);
    throw new ConfigError(`patch${path}: unsupported ${PATCH_DIRECTIVE}: ${JSON.stringify(directive)} (only 'replace' on maps, 'delete' on list items or whole objects)`);
  }
  const out: JsonMap = isMap(base) ? structuredClone(base) : {};
  for (const [key, value] of Object.entries(patch)) {
    const where = `${path}.${key}`;
    if (value === null) {
      delete out[key];
    } else if (Array.isArray(value)) {
      const current = out[key];
      out[key] = Array.isArray(current) ? mergeList(current, value, MERGE_KEY_BY_FIELD[key] ?? 'name', where) : dropDeletedItems(value);
    } else if (isMap(value)) {
      out[key] = strategicMerge(out[key] ?? null, value, where);
    } else {
      out[key] = value;
    }
  }
  return out;
}

/** Named lists merge item by item (patch items first matched, new ones appended); others are replaced. */
function mergeList(base: Json[], patch: Json[], mergeKey: string, path: string): Json[] {
  const keyOf = (item: Json): string | undefined => (isMap(item) && typeof item[mergeKey] === 'string' ? item[mergeKey] : undefined);
  const keyed = (list: Json[]) => list.length > 0 && list.every((item) => keyOf(item) !== undefined);
  if (!keyed(patch) || !(keyed(base) || base.length === 0)) return dropDeletedItems(patch);
  const out = structuredClone(base);
  for (const item of patch) {
    const key = keyOf(item)!;
    const at = out.findIndex((existing) => keyOf(existing) === key);
    const deleting = isMap(item) && item[PATCH_DIRECTIVE] === 'delete';
    if (deleting) {
      if (at >= 0) out.splice(at, 1);
    } else if (at >= 0) {
      out[at] = strategicMerge(out[at]!, item, `${path}[${key}]`);
    } else {
      out.push(strategicMerge(null, item, `${path}[${key}]`));
    }
  }
  return out;
}

function dropDeletedItems(list: Json[]): Json[] {
  return structuredClone(list.filter((item) => !(isMap(item) && item[PATCH_DIRECTIVE] === 'delete')));
}

function withoutDirective(map: JsonMap): JsonMap {
  const { [PATCH_DIRECTIVE]: _directive, ...rest } = map;
  return structuredClone(rest);
}
