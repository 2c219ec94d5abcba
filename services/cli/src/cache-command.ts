import type { S3Client } from '@aws-sdk/client-s3';
import { Command } from 'commander';
import { inventoryCache, pruneCache, type NamespaceInventory } from '@safesift/core/feature-cache/cache-inventory.ts';
import { openCacheRoot, type CacheRoot } from '@safesift/core/feature-cache/cache-root.ts';
import { createS3Client } from '@safesift/core/storage/s3-client.ts';
import { integer } from './cli-parsers.ts';

type Flags = Record<string, unknown>;

async function withCacheRoot<T>(uri: string, fn: (root: CacheRoot) => Promise<T>): Promise<T> {
  let client: S3Client | undefined;
  try {
    return await fn(openCacheRoot(uri, () => (client ??= createS3Client())));
  } finally {
    client?.destroy();
  }
}

const print = (flags: Flags, value: unknown, human: string) => process.stdout.write(flags.json ? `${JSON.stringify(value, null, 2)}\n` : `${human}\n`);
const mib = (bytes: number) => `${(bytes / 2 ** 20).toFixed(1)} MiB`;
const plural = (n: number, noun: string) => `${n} ${noun}${n === 1 ? '' : 's'}`;

function describeNamespace(ns: NamespaceInventory): string {
  const key = ns.key;
  const what = key === null ? 'no key.json' : `model ${key.model.slice(0, 12)}, ${key.probe} ${key.projection}${key.sketch ? ` sketch ${key.sketch.dim}` : ''}, ${key.prompt}, max ${key.maxTokens} tokens`;
  const used = ns.used_by.length > 0 ? `used by ${ns.used_by.join(', ')}` : 'unused';
  return `  ${ns.namespace.slice(0, 12)} ${ns.kind.padEnd(7)} ${plural(ns.segments, 'segment').padStart(14)} ${mib(ns.bytes).padStart(12)}  last written ${ns.newest_write ?? '-'}  ${used}\n      ${what}`;
}

/** `cache stats` and `cache prune`: what a feature cache holds, and removing what no run uses. */
export function cacheCommand(): Command {
  const stats = new Command('stats')
    .description('List a feature cache\'s namespaces (size, options, last write, the runs that use them) and its runs')
    .argument('<cache>', 'the cache: a folder or s3://bucket/prefix (as given to --cache)')
    .option('--json', 'print JSON on stdout')
    .action((uri: string, flags: Flags) => withCacheRoot(uri, async (root) => {
      const inventory = await inventoryCache(root);
      const runs = inventory.runs.map((r) => `  ${r.name}: last run ${r.finished_at}, ${r.scored} scored (${r.method}), namespace ${r.namespace.slice(0, 12)}`);
      print(flags, inventory, [
        `feature cache ${inventory.uri}: ${mib(inventory.bytes)} in ${plural(inventory.namespaces.length, 'namespace')}`,
        ...inventory.namespaces.map(describeNamespace),
        `runs (${inventory.runs.length}):`,
        ...runs,
      ].join('\n'));
    }));
  const prune = new Command('prune')
    .description('Remove the namespaces no run uses any more (features of an old model or old options)')
    .argument('<cache>', 'the cache: a folder or s3://bucket/prefix (as given to --cache)')
    .option('--min-age-hours <n>', 'keep unused namespaces written to within this many hours (an audit may be filling one)', integer('--min-age-hours'), 24)
    .option('--dry-run', 'list what would be removed, remove nothing')
    .option('--json', 'print JSON on stdout')
    .action((uri: string, flags: Flags) => withCacheRoot(uri, async (root) => {
      const report = await pruneCache(root, { minAgeMs: (flags.minAgeHours as number) * 3600_000, dryRun: flags.dryRun === true });
      const verb = report.dry_run ? 'would remove' : 'removed';
      print(flags, report, [
        `${verb} ${plural(report.removed.length, 'namespace')} (${mib(report.bytes_freed)}); kept ${report.kept.length}`,
        ...report.removed.map(describeNamespace),
      ].join('\n'));
    }));
  return new Command('cache').description('Inspect and prune a feature cache (--cache)').addCommand(stats).addCommand(prune);
}
