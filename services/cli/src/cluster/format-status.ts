import type { JobStatus } from '@safesift/core/cluster/job-status.ts';

/** A job for people: one headline, then where its results are. */
export function formatStatus(s: JobStatus): string {
  const total = s.batches.total === null ? '?' : String(s.batches.total);
  const lines = [
    `${s.id}  ${s.state}  batches ${s.batches.accounted}/${total} done (${s.batches.published} published)  records ${s.records.read} read, ${s.records.scored} scored, ${s.records.errors} errors${s.batches.deadLetters > 0 ? `, ${s.batches.deadLetters} dead-lettered batches` : ''}`,
  ];
  if (s.error) lines.push(`  error: ${s.error}`);
  if (s.retrying) lines.push(`  retrying: ${s.retrying}`);
  if (s.out) lines.push(`  output: ${s.out}`);
  return lines.join('\n');
}
