import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { ConfigError } from '../../../shared/src/errors.ts';
import { LocalObjectStore } from '../../../shared/src/storage/local-object-store.ts';
import { ObjectNotFoundError } from '../../../shared/src/storage/object-store.ts';
import { collectAll, objectStoreContract } from './object-store-contract.ts';

let root: string;
objectStoreContract('LocalObjectStore', {
  before: async () => {
    root = await mkdtemp(join(tmpdir(), 'safesift-local-store-'));
  },
  after: () => rm(root, { recursive: true, force: true }),
  makeStore: async () => new LocalObjectStore(await mkdtemp(join(root, 'store-'))),
});

async function withStore(run: (store: LocalObjectStore, dir: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'safesift-local-store-'));
  try {
    await run(new LocalObjectStore(dir), dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

test('keys are files under the root; folders and leftover temp files are not objects', async () => {
  await withStore(async (store, dir) => {
    await store.put('a/b/c.txt', 'c');
    assert.deepEqual(await readdir(join(dir, 'a', 'b')), ['c.txt']);
    await writeFile(join(dir, 'a', '.safesift-tmp-123-abcdef'), 'half written');
    await mkdir(join(dir, 'empty', 'folder'), { recursive: true });
    assert.deepEqual((await collectAll(store.list(''))).map((o) => o.key), ['a/b/c.txt']);
    assert.equal(await store.head('a/b'), null);
    await assert.rejects(() => store.get('a/b'), ObjectNotFoundError);
    await assert.rejects(() => store.getStream('empty/folder'), ObjectNotFoundError);
    assert.equal(store.description, dir);
  });
});

test('list orders keys by UTF-8 bytes across folders, as S3 does', async () => {
  await withStore(async (store) => {
    const keys = ['a/b/c', 'a/b.txt', 'a/b-c/d', 'a/b0', 'a/\u{1F600}', 'a/\uFFFD'];
    for (const key of keys) await store.put(key, key);
    // '.' and '-' sort before '/', so 'a/b.txt' precedes 'a/b/c' although folder 'b' is walked first;
    // U+FFFD sorts before U+1F600 in UTF-8 but after it in UTF-16.
    assert.deepEqual((await collectAll(store.list('a/'))).map((o) => o.key), ['a/b-c/d', 'a/b.txt', 'a/b/c', 'a/b0', 'a/\uFFFD', 'a/\u{1F600}']);
  });
});

test('readers racing an overwrite see the old object or the new one, never a mix', async () => {
  await withStore(async (store) => {
    const versions = [randomBytes(2 << 20), randomBytes(2 << 20)];
    await store.put('model.bin', versions[0]!);
    let writing = true;
    const writer = (async () => {
      for (let i = 1; i <= 20; i++) await store.put('model.bin', versions[i % 2]!);
      writing = false;
    })();
    let reads = 0;
    while (writing) {
      const bytes = Buffer.from(await store.get('model.bin'));
      assert.ok(bytes.equals(versions[0]!) || bytes.equals(versions[1]!), 'read a partial or mixed object');
      reads++;
    }
    await writer;
    assert.ok(reads > 0);
    assert.deepEqual((await collectAll(store.list(''))).map((o) => o.key), ['model.bin']);
  });
});

test('a hostile key cannot reach outside the root: refused with ConfigError, nothing written beside it', async () => {
  const parent = await mkdtemp(join(tmpdir(), 'safesift-local-store-'));
  try {
    const store = new LocalObjectStore(join(parent, 'root'));
    for (const key of ['../escape.txt', 'a/../../escape.txt', '/etc/passwd', `${parent}/escape.txt`, 'a/./escape.txt', 'a//escape.txt', 'escape.txt\0']) {
      await assert.rejects(() => store.put(key, 'x'), ConfigError, `put ${JSON.stringify(key)}`);
      await assert.rejects(() => store.putFile(key, fileURLToPath(import.meta.url)), ConfigError, `putFile ${JSON.stringify(key)}`);
      await assert.rejects(() => store.get(key), ConfigError, `get ${JSON.stringify(key)}`);
      await assert.rejects(() => store.delete(key), ConfigError, `delete ${JSON.stringify(key)}`);
    }
    assert.deepEqual(await readdir(parent), [], 'nothing written outside the root (not even a folder)');
    if (process.platform !== 'win32') {
      // On POSIX '\\' is an ordinary name character: one file inside the root, not a path.
      await store.put('a\\..\\..\\escape.txt', 'x');
      assert.deepEqual(await readdir(join(parent, 'root')), ['a\\..\\..\\escape.txt']);
      assert.deepEqual(await readdir(parent), ['root']);
    }
  } finally {
    await rm(parent, { recursive: true, force: true });
  }
});
