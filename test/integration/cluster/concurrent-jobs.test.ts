/**
 * Jobs are planned side by side: a small job submitted behind a large one queues behind a fair
 * share of the large job's pending batches, not behind the whole of it.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { DEMO_INPUTS } from '../../../shared/src/audit/demo-inputs.ts';
import { ClusterHarness } from '../../helpers/cluster-harness.ts';

let cluster: ClusterHarness | undefined;

async function waitUntil(what: string, check: () => Promise<boolean>, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}\n${cluster?.processes.map((p) => `${p.role}:\n${p.tail()}`).join('\n')}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
after(async () => {
  await cluster?.dispose();
});

test('a small job submitted while a large one is being published completes long before the large one', async () => {
  cluster = await ClusterHarness.start();
  const c = cluster;
  const lines = readFileSync(DEMO_INPUTS.corpus, 'utf8').split('\n').filter((l) => l.trim() !== '');
  const big = await c.uploadText(lines.join('\n') + '\n', 'data/big.jsonl');
  const small = await c.uploadText(lines.slice(0, 3).join('\n') + '\n', 'data/small.jsonl');
  const harmful = await c.uploadFile(DEMO_INPUTS.harmful, 'anchors/harmful.jsonl');
  const safe = await c.uploadFile(DEMO_INPUTS.safe[0], 'anchors/safe.jsonl');
  const submit = async (name: string, data: string, batchExamples: number) => {
    const result = await c.cli(['submit', '--model', 'tiny', '--data', data, '--harmful', harmful, '--safe', safe, '--k', '3', '--out', c.uri(`out/${name}`), '--name', name, '--batch-examples', String(batchExamples), '--json']);
    assert.equal(result.code, 0, result.stderr);
    return (JSON.parse(result.stdout) as { id: string }).id;
  };

  c.spawn('reducer');
  const coordinator = c.spawn('coordinator', ['--threads', '1', '--max-pending-batches', '4']);
  const conn = await c.connection();
  const bigId = await submit('big', big, 1); // one batch per record: 60 batches
  // No worker yet: the large job fills its window (4 batches) and waits for room.
  await coordinator.waitFor('anchor features stored', 60_000, (l) => l.job === bigId);
  await waitUntil('the large job to fill its window', async () => (await conn.jobs.get(bigId, 'plan'))?.published === 4);
  const smallId = await submit('small', small, 8);
  // Planned beside the waiting large job: one after the other, this would never happen before a worker ran.
  await waitUntil('the small job to be published', async () => (await conn.jobs.get(smallId, 'plan'))?.state === 'published');
  assert.equal((await conn.jobs.get(bigId, 'plan'))?.state, 'planning');

  // One worker takes the stream in order: the large job's 4 waiting batches, then the small job's.
  c.spawn('worker', ['--threads', '1']);
  const smallDone = await c.waitForJob(smallId, 60_000);
  assert.equal(smallDone.state, 'complete', JSON.stringify(smallDone));
  const bigThen = (await conn.jobs.status(bigId))!;
  const left = lines.length - bigThen.batches.accounted;
  // Planned one after the other, the small job would wait for all but the last 4 of the large one's batches.
  assert.ok(left >= 50, `the large job had ${left} batches left when the small one completed (${JSON.stringify(bigThen.batches)})`);
  await coordinator.waitFor('job planned', 10_000, (l) => l.job === smallId);
  const bigDone = await c.waitForJob(bigId, 120_000);
  assert.equal(bigDone.state, 'complete', JSON.stringify(bigDone));
  assert.equal(bigDone.records.scored, lines.length);
  assert.equal(smallDone.records.scored, 3);
  // Both jobs' anchor steps ran in this one coordinator, one after the other.
  assert.equal(coordinator.lines.filter((l) => l.msg === 'anchor features stored').length, 2);
});

test('the reducer writes report.html with the outputs, and `safesift report JOB-ID` writes the same page', async () => {
  const c = cluster!;
  const lines = readFileSync(DEMO_INPUTS.corpus, 'utf8').split('\n').filter((l) => l.trim() !== '').slice(0, 12);
  const data = await c.uploadText(lines.join('\n') + '\n', 'data/report.jsonl');
  const harmful = c.uri('anchors/harmful.jsonl');
  const safe = c.uri('anchors/safe.jsonl');
  const submitted = await c.cli(['submit', '--model', 'tiny', '--data', data, '--harmful', harmful, '--safe', safe, '--k', '5', '--out', c.uri('out/report'), '--batch-examples', '4', '--json']);
  assert.equal(submitted.code, 0, submitted.stderr);
  const id = (JSON.parse(submitted.stdout) as { id: string }).id;
  const status = await c.waitForJob(id, 60_000);
  assert.equal(status.state, 'complete', JSON.stringify(status));
  const dir = await c.download(id, 'report');
  const summary = JSON.parse(readFileSync(join(dir, 'summary.json'), 'utf8')) as { outputs: Record<string, unknown>; warnings: string[] };
  assert.equal(summary.outputs.report, 'report.html', JSON.stringify(summary.warnings));
  const fromReducer = readFileSync(join(dir, 'report.html'), 'utf8');
  assert.match(fromReducer, /<svg/);
  const again = join(c.dir, 'report-again.html');
  const written = await c.cli(['report', id, '--out', again, '--json']);
  assert.equal(written.code, 0, written.stderr);
  // The same page, but for the time it was written.
  const undated = (page: string) => page.replace(/written \d{4}-\d\d-\d\dT[\d:.]+Z/g, 'written …');
  assert.equal(undated(readFileSync(again, 'utf8')), undated(fromReducer));
});
