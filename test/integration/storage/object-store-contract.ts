/**
 * The behaviour every ObjectStore adapter must have, as one suite run against each adapter
 * (LocalObjectStore on a temp folder, S3ObjectStore on a real s3rver).
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ConfigError } from '../../../shared/src/errors.ts';
import { ObjectNotFoundError, type ObjectInfo, type ObjectStore } from '../../../shared/src/storage/object-store.ts';

export interface ContractSubject {
  before?: () => Promise<void>;
  after?: () => Promise<void>;
  /** A fresh, empty store for one test. List pages must be small (a few keys) so paging is exercised. */
  makeStore: () => Promise<ObjectStore>;
}

export async function collectAll<T>(items: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of items) out.push(item);
  return out;
}

export async function concat(chunks: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const chunk of chunks) parts.push(Buffer.from(chunk));
  return Buffer.concat(parts);
}

const sha256 = (bytes: Uint8Array): string => createHash('sha256').update(bytes).digest('hex');
const utf8Order = (a: string, b: string): number => Buffer.compare(Buffer.from(a), Buffer.from(b));

export function objectStoreContract(name: string, subject: ContractSubject): void {
  describe(`ObjectStore contract: ${name}`, () => {
    let scratch: string;
    before(async () => {
      scratch = await mkdtemp(join(tmpdir(), 'safesift-store-contract-'));
      await subject.before?.();
    });
    after(async () => {
      await subject.after?.();
      await rm(scratch, { recursive: true, force: true });
    });

    test('put then get, head and getStream return the same bytes (text and every byte value)', async () => {
      const store = await subject.makeStore();
      const binary = Buffer.concat([Buffer.from(Array.from({ length: 256 }, (_, i) => i)), randomBytes(200_000)]);
      await store.put('docs/hello.txt', 'héllo wörld\n');
      await store.put('bin/data.bin', binary);

      assert.equal(Buffer.from(await store.get('docs/hello.txt')).toString('utf8'), 'héllo wörld\n');
      const text = await store.head('docs/hello.txt');
      assert.equal(text?.key, 'docs/hello.txt');
      assert.equal(text?.size, Buffer.byteLength('héllo wörld\n'));
      assert.ok(text !== null && text.etag.length > 0);

      assert.ok(Buffer.from(await store.get('bin/data.bin')).equals(binary));
      assert.ok((await concat(await store.getStream('bin/data.bin'))).equals(binary));
      assert.equal((await store.head('bin/data.bin'))?.size, binary.length);
    });

    test('a missing key: head is null; get, getRange and getStream throw ObjectNotFoundError naming store and key', async () => {
      const store = await subject.makeStore();
      await store.put('present/x', 'x');
      assert.equal(await store.head('absent/y'), null);
      assert.equal(await store.head('present'), null, 'a key prefix is not an object');
      for (const read of [() => store.get('absent/y'), () => store.getRange('absent/y', 0, 4), () => store.getStream('absent/y')]) {
        await assert.rejects(read, (err: unknown) => {
          assert.ok(err instanceof ObjectNotFoundError, String(err));
          assert.equal(err.name, 'ObjectNotFoundError');
          assert.equal(err.key, 'absent/y');
          assert.ok(err.message.includes(store.description) && err.message.includes('absent/y'), err.message);
          return true;
        });
      }
    });

    test('getRange returns [start, end), cut short at the end of the object', async () => {
      const store = await subject.makeStore();
      const bytes = randomBytes(10_000);
      await store.put('r', bytes);
      for (const [start, end] of [[0, 1], [0, 10_000], [1234, 5678], [9_999, 10_000], [500, 500]] as const) {
        assert.ok(Buffer.from(await store.getRange('r', start, end)).equals(bytes.subarray(start, end)), `[${start}, ${end})`);
      }
      assert.ok(Buffer.from(await store.getRange('r', 9_000, 20_000)).equals(bytes.subarray(9_000)));
      assert.equal((await store.getRange('r', 10_000, 10_010)).length, 0);
      assert.equal((await store.getRange('r', 50_000, 50_010)).length, 0);
      await assert.rejects(() => store.getRange('r', 5, 4), RangeError);
    });

    test('overwriting replaces the content and changes the etag', async () => {
      const store = await subject.makeStore();
      await store.put('o/k', 'first version');
      const before = await store.head('o/k');
      await store.put('o/k', 'other version'); // same length: only the content differs
      const after = await store.head('o/k');
      assert.equal(Buffer.from(await store.get('o/k')).toString(), 'other version');
      assert.equal(after?.size, before?.size);
      assert.notEqual(after?.etag, before?.etag);
      assert.deepEqual((await collectAll(store.list('o/'))).map((o) => o.key), ['o/k']);
    });

    test('delete removes the object; deleting a missing key is fine', async () => {
      const store = await subject.makeStore();
      await store.put('d/a', 'a');
      await store.put('d/b', 'b');
      await store.delete('d/a');
      await store.delete('d/a');
      await store.delete('never/was');
      assert.equal(await store.head('d/a'), null);
      await assert.rejects(() => store.get('d/a'), ObjectNotFoundError);
      assert.deepEqual((await collectAll(store.list(''))).map((o) => o.key), ['d/b']);
    });

    test('list is recursive, filters by string prefix, ascending, across pages, with sizes and etags as head', async () => {
      const store = await subject.makeStore();
      // No key continues a "folder" name with a byte below '/' (as 'a/b.txt' beside 'a/b/c' would):
      // s3rver lists folder by folder and gets that order, and paging after it, wrong.
      const keys = [
        'a/b/c', 'a/b/d/e', 'a/b_txt', 'a/bc', 'a/x/y/z', 'ab', 'b/1', 'b/10', 'b/2', 'B/upper', 'a/é', 'a/z~', 'c',
      ];
      for (const [i, key] of keys.entries()) await store.put(key, 'x'.repeat(i + 1));
      const all = await collectAll(store.list(''));
      assert.deepEqual(all.map((o) => o.key), [...keys].sort(utf8Order));
      for (const info of all) assert.deepEqual(info, await store.head(info.key));
      assert.equal(all.find((o) => o.key === 'a/b_txt')?.size, keys.indexOf('a/b_txt') + 1);

      const expect = (prefix: string): string[] => keys.filter((k) => k.startsWith(prefix)).sort(utf8Order);
      for (const prefix of ['a/', 'a/b', 'a/b/', 'a/b/d/e', 'a', 'b/1', 'zzz', 'a/x/y/']) {
        assert.deepEqual((await collectAll(store.list(prefix))).map((o: ObjectInfo) => o.key), expect(prefix), `prefix '${prefix}'`);
      }
    });

    test('putFile streams a 12 MB file (multipart on S3) byte for byte', async () => {
      const store = await subject.makeStore();
      const bytes = randomBytes(12 * 1024 * 1024 + 123);
      const path = join(scratch, `big-${randomBytes(4).toString('hex')}.bin`);
      await writeFile(path, bytes);
      await store.putFile('models/big.bin', path);
      assert.equal((await store.head('models/big.bin'))?.size, bytes.length);
      assert.equal(sha256(await store.get('models/big.bin')), sha256(bytes));
      assert.equal(sha256(await concat(await store.getStream('models/big.bin'))), sha256(bytes));
      // A range across the first 5 MiB part boundary.
      const at = 5 * 1024 * 1024 - 100;
      assert.ok(Buffer.from(await store.getRange('models/big.bin', at, at + 200)).equals(bytes.subarray(at, at + 200)));
      // Replacing with a small file works too.
      await writeFile(path, 'small');
      await store.putFile('models/big.bin', path);
      assert.equal(Buffer.from(await store.get('models/big.bin')).toString(), 'small');
    });

    test('malformed keys are rejected with ConfigError before any I/O', async () => {
      const store = await subject.makeStore();
      for (const key of ['', '/abs', 'a//b', 'a/', 'a/../b', './a', 'a/.']) {
        await assert.rejects(() => store.put(key, 'x'), ConfigError, `put '${key}'`);
        await assert.rejects(() => store.get(key), ConfigError, `get '${key}'`);
        await assert.rejects(() => store.head(key), ConfigError, `head '${key}'`);
      }
      for (const prefix of ['/', '../', 'a/../../', 'a//']) {
        await assert.rejects(() => collectAll(store.list(prefix)), ConfigError, `list '${prefix}'`);
      }
    });
  });
}
