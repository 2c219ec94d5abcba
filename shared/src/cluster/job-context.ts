import type { S3Client } from '@aws-sdk/client-s3';
import { compileAuditOptions, type AuditOptions } from '../audit/audit-options.ts';
import { fromStoredSpec, type JobSpec } from '../distributed/job-spec.ts';
import { openLocation } from '../storage/location.ts';
import type { ObjectStore } from '../storage/object-store.ts';
import type { SpecRecord } from './job-records.ts';
import { workPrefix } from './work-layout.ts';

/** A job's spec compiled, and where its outputs and intermediate files go. */
export interface JobContext {
  id: string;
  spec: JobSpec;
  audit: AuditOptions;
  /** Store holding the output prefix, the prefix's key there, and the job's work prefix. */
  out: { store: ObjectStore; key: string; uri: string };
  work: string;
}

export function jobContext(record: SpecRecord, s3: () => S3Client): JobContext {
  const spec = fromStoredSpec(record.spec);
  const audit = compileAuditOptions(spec.audit);
  const { store, key } = openLocation(audit.out, s3);
  return { id: record.id, spec, audit, out: { store, key, uri: audit.out }, work: workPrefix(key, record.id) };
}
