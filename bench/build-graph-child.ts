// Child process of the large-graph benchmark: builds one feature graph and reports its own peak RSS.
import { peakRssBytes } from '../shared/src/audit/peak-memory.ts';
import { buildFeatureGraph } from '../shared/src/graph/feature-graph.ts';
import { cachedGraph } from '../shared/src/graph/graph-cache.ts';
import { parseProbe } from '../shared/src/graph/probes.ts';
import { parseProjection } from '../shared/src/graph/projection.ts';
import { openCheckpoint } from '../shared/src/model/checkpoint.ts';

const [modelDir, probeText, projText, cacheDir] = process.argv.slice(2);
if (!modelDir || !probeText || !projText || !cacheDir) throw new Error('usage: build-graph-child MODEL PROBE PROJ CACHE');
const started = performance.now();
const checkpoint = await openCheckpoint(modelDir);
const options = { probe: parseProbe(probeText), projection: parseProjection(projText) };
const graph = await cachedGraph({ bench: 'large-graph', model: checkpoint.fingerprint, ...options }, (dataPath) => buildFeatureGraph(checkpoint, options, dataPath), cacheDir);
await checkpoint.close();
process.stdout.write(
  JSON.stringify({ graph: graph.modelPath, seconds: (performance.now() - started) / 1000, peakRssMiB: peakRssBytes() / 2 ** 20 }),
);
