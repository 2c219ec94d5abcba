import { openAsBlob } from 'node:fs';
import { copyFile } from 'node:fs/promises';
import { parquetMetadataAsync, type FileMetaData } from 'hyparquet';
import * as pw from 'parquet-wasm';
import { localFiles } from '../corpus/local-sources.ts';
import { readParquetRows } from '../corpus/parquet-reader.ts';
import type { RawRecord } from '../corpus/raw-record.ts';
import { InputError } from '../errors.ts';
import { ByteSink } from './byte-sink.ts';
import type { FileJob } from './text-filter.ts';

const CODECS: Record<string, pw.Compression> = {
  UNCOMPRESSED: pw.Compression.UNCOMPRESSED,
  SNAPPY: pw.Compression.SNAPPY,
  GZIP: pw.Compression.GZIP,
  BROTLI: pw.Compression.BROTLI,
  ZSTD: pw.Compression.ZSTD,
  LZ4_RAW: pw.Compression.LZ4_RAW,
};

/**
 * Parquet: the kept rows, with the input's Arrow schema (nested lists and structs included), its
 * key-value metadata and its compression codec. Rows are identified with the corpus reader
 * (hyparquet, as the audit read them) and copied with parquet-wasm: each row group is read as
 * Arrow record batches, the runs of kept rows are sliced out (zero-copy) and streamed into
 * parquet-wasm's writer. Memory: about one row group, decoded twice (rows as objects, and Arrow).
 * `localPath` is the input on local disk (an S3 input is copied there first).
 */
export async function filterParquet(localPath: string, job: FileJob): Promise<void> {
  const buffer = await localFiles.openBuffer(localPath);
  let file: pw.ParquetFile | null = null;
  try {
    const records = readParquetRows(buffer, { source: job.source, maxRecordBytes: job.maxRecordBytes });
    const rows = records[Symbol.asyncIterator]();
    // The first step reads the metadata (an InputError for a file that is no Parquet).
    const first = await rows.next();
    try {
      file = await pw.ParquetFile.fromFile(await openAsBlob(localPath));
    } catch (err) {
      throw new InputError(job.source, -1, `not a readable Parquet file: ${String((err as Error).message ?? err)}`, { cause: err });
    }
    const metadata = await parquetMetadataAsync(buffer);
    if (first.done) {
      // No rows: nothing to filter, and no batch to take the schema from. The copy is the file.
      await copyFile(localPath, job.tempPath);
      return;
    }
    let pending: IteratorResult<RawRecord> | null = first;
    const nextRecord = async (): Promise<RawRecord> => {
      const next = pending ?? (await rows.next());
      pending = null;
      if (next.done) throw new InputError(job.source, -1, 'the Parquet readers disagree on the number of rows');
      return next.value;
    };
    const parquetFile = file;
    let failure: unknown = null;
    const batches = keptBatches(parquetFile, metadata.row_groups.length, job, nextRecord);
    const input = new ReadableStream<pw.RecordBatch>({
      async pull(controller) {
        try {
          const next = await batches.next();
          if (next.done) controller.close();
          else controller.enqueue(next.value);
        } catch (err) {
          failure ??= err;
          throw err;
        }
      },
      async cancel() {
        await batches.return(undefined);
      },
    }, { highWaterMark: 0 });
    const out = await ByteSink.open(job.tempPath);
    try {
      const encoded = await pw.transformParquetStream(input, writerProperties(metadata));
      for await (const chunk of encoded as ReadableStream<Uint8Array>) await out.write(chunk);
      if ((await rows.next()).done !== true) throw new InputError(job.source, -1, 'the Parquet readers disagree on the number of rows');
      await out.close();
    } catch (err) {
      await out.abort();
      // The writer reports a failure of our own stream as a plain error: give back the real one.
      throw failure ?? err;
    }
  } finally {
    file?.free();
    await buffer.close();
  }
}

/** The batches of kept rows, row group by row group; a zero-row slice when no row is kept (the writer needs the schema). */
async function* keptBatches(
  file: pw.ParquetFile,
  groups: number,
  job: FileJob,
  nextRecord: () => Promise<RawRecord>,
): AsyncGenerator<pw.RecordBatch> {
  let probe: pw.RecordBatch | null = null;
  let written = 0;
  try {
    for (let group = 0; group < groups; group++) {
      job.signal?.throwIfAborted();
      const table = await file.read({ rowGroups: [group] });
      try {
        for (const batch of table.recordBatches()) {
          try {
            probe ??= batch.slice(0, 0);
            let runStart = -1;
            for (let i = 0; i < batch.numRows; i++) {
              const record = await nextRecord();
              const id = job.identifier.idOf(record);
              const write = await job.classifier.classify(job.counts, record.row, id, () => (record.ok ? record.value : null));
              if (write && runStart < 0) runStart = i;
              if (!write && runStart >= 0) {
                written += i - runStart;
                yield batch.slice(runStart, i - runStart);
                runStart = -1;
              }
            }
            if (runStart >= 0) {
              written += batch.numRows - runStart;
              yield batch.slice(runStart, batch.numRows - runStart);
            }
          } finally {
            batch.free();
          }
        }
      } finally {
        table.free();
      }
    }
    if (written === 0 && probe !== null) {
      const empty = probe;
      probe = null;
      yield empty;
    }
  } finally {
    probe?.free();
  }
}

/** The input's codec (of its first column chunk), largest row group and key-value metadata. */
function writerProperties(input: FileMetaData): pw.WriterProperties {
  const codec = input.row_groups[0]?.columns[0]?.meta_data?.codec;
  const rowsPerGroup = input.row_groups.reduce((most, g) => Math.max(most, Number(g.num_rows)), 1);
  let builder = new pw.WriterPropertiesBuilder()
    .setCompression((codec !== undefined ? CODECS[codec] : undefined) ?? pw.Compression.ZSTD)
    .setMaxRowGroupSize(rowsPerGroup)
    .setCreatedBy('safesift filter (parquet-wasm)');
  const keyValues = new Map((input.key_value_metadata ?? []).filter((kv) => kv.key !== 'ARROW:schema' && kv.value !== undefined).map((kv) => [kv.key, kv.value!]));
  if (keyValues.size > 0) builder = builder.setKeyValueMetadata(keyValues);
  return builder.build();
}
