import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { CreateBucketCommand } from '@aws-sdk/client-s3';
import { ObjectStoreError } from '../../../shared/src/storage/object-store.ts';
import { createS3Client } from '../../../shared/src/storage/s3-client.ts';
import { S3ObjectStore } from '../../../shared/src/storage/s3-object-store.ts';
import { startS3Server, uniqueBucketName, type S3TestServer } from '../../helpers/s3-server.ts';
import { collectAll, objectStoreContract } from './object-store-contract.ts';

let server: S3TestServer;

async function newBucket(prefix: string): Promise<string> {
  const bucket = uniqueBucketName(prefix);
  await server.client.send(new CreateBucketCommand({ Bucket: bucket }));
  return bucket;
}

before(async () => {
  server = await startS3Server();
});
after(() => server.stop());

objectStoreContract('S3ObjectStore on s3rver', {
  // Three keys a page, so every list test crosses several ListObjectsV2 pages.
  makeStore: async () => new S3ObjectStore(server.client, await newBucket('contract'), { pageSize: 3 }),
});

describe('S3ObjectStore specifics', () => {
  test('putFile uploads a large file in parts and a small one with a single PutObject', async () => {
    const bucket = await newBucket('multipart');
    const commands: string[] = [];
    const client = createS3Client({ endpoint: server.endpoint, credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' } });
    client.middlewareStack.add(
      (next, context) => async (args) => {
        commands.push(String(context.commandName));
        return next(args);
      },
      { step: 'initialize', name: 'recordCommands' },
    );
    const store = new S3ObjectStore(client, bucket);
    const dir = await mkdtemp(join(tmpdir(), 'safesift-s3-multipart-'));
    try {
      await writeFile(join(dir, 'big'), randomBytes(12 * 1024 * 1024));
      await store.putFile('big', join(dir, 'big'));
      assert.equal(commands.filter((c) => c === 'UploadPartCommand').length, 3, commands.join(' '));
      assert.ok(commands.includes('CreateMultipartUploadCommand') && commands.includes('CompleteMultipartUploadCommand'));
      commands.length = 0;
      await writeFile(join(dir, 'small'), 'tiny');
      await store.putFile('small', join(dir, 'small'));
      assert.deepEqual(commands, ['PutObjectCommand']);
    } finally {
      client.destroy();
      await rm(dir, { recursive: true, force: true });
    }
  });

  test('createS3Client reads AWS_ENDPOINT_URL and AWS_REGION, credentials from the default chain', async () => {
    const bucket = await newBucket('env');
    const saved = Object.fromEntries(Object.keys(server.env).map((k) => [k, process.env[k]]));
    Object.assign(process.env, server.env, { AWS_REGION: 'eu-west-3' });
    const client = createS3Client();
    try {
      assert.equal(await client.config.region(), 'eu-west-3');
      const store = new S3ObjectStore(client, bucket);
      await store.put('k', 'through the environment');
      assert.equal(Buffer.from(await new S3ObjectStore(server.client, bucket).get('k')).toString(), 'through the environment');
    } finally {
      client.destroy();
      for (const [k, v] of Object.entries(saved)) {
        if (v === undefined) delete process.env[k];
        else process.env[k] = v;
      }
    }
  });

  test('a missing bucket is a storage error naming it, not a missing object', async () => {
    const store = new S3ObjectStore(server.client, uniqueBucketName('absent'));
    await assert.rejects(() => store.get('k'), (err: unknown) => {
      assert.ok(err instanceof ObjectStoreError, String(err));
      assert.match(err.message, /s3:\/\/absent-[^/]+\/k: .*NoSuchBucket/);
      return true;
    });
    await assert.rejects(() => collectAll(store.list('')), ObjectStoreError);
  });
});
