import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { nkeys } from '@nats-io/transport-node';
import { BusError } from '../../../shared/src/bus/bus-error.ts';
import { compileNatsSettings, connectNats, describeNats } from '../../../shared/src/bus/nats-settings.ts';
import { ConfigError } from '../../../shared/src/errors.ts';
import { startNatsServer } from '../../helpers/nats-server.ts';

const PASS = 'pa55-Sekr1t-xyz';
const TOKEN = 'tok-Sekr1t-abc';

function configError(raw: unknown): string {
  try {
    compileNatsSettings(raw);
  } catch (err) {
    assert.ok(err instanceof ConfigError, `expected ConfigError, got ${String(err)}`);
    return err.message;
  }
  assert.fail('expected compileNatsSettings to throw');
}

test('compileNatsSettings normalises servers and rejects bad combinations by option name', () => {
  assert.deepEqual(compileNatsSettings({ servers: 'a:4222, nats://b:4223' }).servers, ['a:4222', 'nats://b:4223']);
  assert.match(configError({ servers: [] }), /nats\.servers/);
  assert.match(configError({ servers: ['http://a:1'] }), /nats\.servers.*http:/);
  assert.match(configError({ servers: ['a'], user: 'u' }), /nats\.pass is missing/);
  assert.match(configError({ servers: ['a'], pass: PASS }), /nats\.user is missing/);
  const both = configError({ servers: ['a'], user: 'u', pass: PASS, token: TOKEN });
  assert.match(both, /nats\.user and nats\.token/);
  assert.ok(!both.includes(PASS) && !both.includes(TOKEN));
  assert.match(configError({ servers: ['a'], token: TOKEN, credsFile: '/x.creds' }), /nats\.token and nats\.credsFile/);
  assert.match(configError({ servers: ['a'], tls: { certFile: '/c.pem' } }), /certFile and nats\.tls\.keyFile/);
  assert.match(configError({ servers: ['a'], password: PASS }), /password/); // typo'd option is not silently ignored
  assert.match(configError({ servers: ['a'], token: 42 }), /nats\.token/);
});

test('describeNats names servers and the auth kind, never a secret', () => {
  const cases = [
    [{ servers: ['nats://h1:4222'], user: 'alice', pass: PASS }, 'auth=user/pass'],
    [{ servers: ['h1:4222'], token: TOKEN }, 'auth=token'],
    [{ servers: [`nats://alice:${PASS}@h1:4222`, `tls://${TOKEN}@h2:4222`] }, 'auth=none tls'],
    [{ servers: ['h1:4222'], credsFile: '/etc/u.creds' }, 'auth=creds'],
  ] as const;
  for (const [raw, kind] of cases) {
    const line = describeNats(compileNatsSettings(raw));
    assert.ok(line.includes('h1:4222'), line);
    assert.ok(line.endsWith(kind), line);
    assert.ok(!line.includes(PASS) && !line.includes(TOKEN), line);
  }
});

test('user/pass: right password connects; wrong one is a BusError without the password', async (t) => {
  const server = await startNatsServer({ user: 'alice', pass: PASS });
  t.after(() => server.dispose());
  const nc = await connectNats(compileNatsSettings({ servers: [server.url], user: 'alice', pass: PASS, name: 'settings-test' }));
  const sub = nc.subscribe('ping', { max: 1 });
  nc.publish('ping', 'x');
  for await (const m of sub) assert.equal(m.string(), 'x');
  await nc.close();

  const wrong = 'not-the-' + PASS;
  await assert.rejects(connectNats(compileNatsSettings({ servers: [server.url], user: 'alice', pass: wrong })), (err: unknown) => {
    assert.ok(err instanceof BusError);
    assert.equal(err.name, 'BusError');
    assert.ok(err.message.includes(`127.0.0.1:${server.port}`), err.message);
    assert.ok(!err.message.includes(wrong) && !err.message.includes(PASS), err.message);
    assert.ok(err.cause instanceof Error);
    return true;
  });
});

test('token: right token connects; wrong token is a BusError without the token', async (t) => {
  const server = await startNatsServer({ token: TOKEN });
  t.after(() => server.dispose());
  const nc = await connectNats(compileNatsSettings({ servers: [server.url], token: TOKEN }));
  await nc.flush();
  await nc.close();
  const wrong = TOKEN + '-wrong';
  await assert.rejects(connectNats(compileNatsSettings({ servers: [server.url], token: wrong })), (err: unknown) => {
    assert.ok(err instanceof BusError);
    assert.ok(!err.message.includes(wrong), err.message);
    return true;
  });
});

test('nkey seed file authenticates; a missing seed file is a ConfigError naming the option', async (t) => {
  const user = nkeys.createUser();
  const server = await startNatsServer({ nkey: user.getPublicKey() });
  const dir = await mkdtemp(join(tmpdir(), 'safesift-nkey-'));
  t.after(async () => {
    await server.dispose();
    await rm(dir, { recursive: true, force: true });
  });
  const seedFile = join(dir, 'user.nk');
  await writeFile(seedFile, new TextDecoder().decode(user.getSeed()) + '\n');
  const nc = await connectNats(compileNatsSettings({ servers: [server.url], nkeySeedFile: seedFile }));
  await nc.flush();
  await nc.close();
  // without the seed the server refuses us
  await assert.rejects(connectNats(compileNatsSettings({ servers: [server.url] })), BusError);
  await assert.rejects(
    connectNats(compileNatsSettings({ servers: [server.url], nkeySeedFile: join(dir, 'missing.nk') })),
    (err: unknown) => err instanceof ConfigError && /nats\.nkeySeedFile/.test(err.message),
  );
});

test('an unreachable server is a BusError naming it', async () => {
  const server = await startNatsServer();
  const { url, port } = server;
  await server.dispose(); // nothing listens on that port now
  await assert.rejects(connectNats(compileNatsSettings({ servers: [url] })), (err: unknown) => {
    assert.ok(err instanceof BusError);
    assert.ok(err.message.includes(`127.0.0.1:${port}`), err.message);
    return true;
  });
});
