import { readFile } from 'node:fs/promises';
import {
  connect,
  credsAuthenticator,
  nkeyAuthenticator,
  type NatsConnection,
  type NodeConnectionOptions,
} from '@nats-io/transport-node';
import { z } from 'zod';
import { ConfigError } from '../errors.ts';
import { BusError } from './bus-error.ts';

/** How a process reaches NATS. Secrets live here; log `describeNats(settings)`, never the object. */
const natsSettingsSchema = z
  .object({
    /** `host:port`, `nats://host:port` or `tls://host:port`; a string may list several, comma-separated. */
    servers: z
      .union([z.string(), z.array(z.string())])
      .transform((v) => (Array.isArray(v) ? v : v.split(',')).map((s) => s.trim()).filter((s) => s !== ''))
      .pipe(z.array(z.string()).min(1, 'at least one server is required')),
    user: z.string().min(1).optional(),
    pass: z.string().min(1).optional(),
    token: z.string().min(1).optional(),
    /** A decentralized-auth `.creds` file (JWT + nkey seed). */
    credsFile: z.string().min(1).optional(),
    /** A file holding an nkey user seed (`SU...`). */
    nkeySeedFile: z.string().min(1).optional(),
    tls: z
      .object({ caFile: z.string().min(1).optional(), certFile: z.string().min(1).optional(), keyFile: z.string().min(1).optional() })
      .strict()
      .optional(),
    /** Client name shown in the server's monitoring pages. */
    name: z.string().min(1).optional(),
  })
  .strict();

export type RawNatsSettings = z.input<typeof natsSettingsSchema>;
export type NatsSettings = z.output<typeof natsSettingsSchema>;
export { natsSettingsSchema };

const SERVER_SCHEMES = new Set(['nats:', 'tls:']);

/** Validates raw settings (config file, env, CLI) and rejects ambiguous auth up front. */
export function compileNatsSettings(raw: unknown): NatsSettings {
  const parsed = natsSettingsSchema.safeParse(raw);
  if (!parsed.success) {
    // zod messages name the option and the expected type, never the (possibly secret) value
    const problems = parsed.error.issues.map((i) => `nats.${i.path.join('.') || '(root)'}: ${i.message}`);
    throw new ConfigError(`invalid NATS settings:\n  ${problems.join('\n  ')}`);
  }
  const s = parsed.data;
  for (const server of s.servers) {
    let url: URL;
    try {
      url = new URL(server.includes('://') ? server : `nats://${server}`);
    } catch {
      throw new ConfigError(`nats.servers: ${redactNatsUrl(server)} is not a host:port or nats:// URL`);
    }
    if (!SERVER_SCHEMES.has(url.protocol)) {
      throw new ConfigError(`nats.servers: ${redactNatsUrl(server)} has scheme ${url.protocol} (use nats:// or tls://)`);
    }
  }
  if (s.user !== undefined && s.pass === undefined) throw new ConfigError('nats.user is set but nats.pass is missing');
  if (s.pass !== undefined && s.user === undefined) throw new ConfigError('nats.pass is set but nats.user is missing');
  const kinds = authKinds(s);
  if (kinds.length > 1) throw new ConfigError(`choose one NATS auth method, got ${kinds.map(optionOf).join(' and ')}`);
  if (s.tls && (s.tls.certFile === undefined) !== (s.tls.keyFile === undefined)) {
    throw new ConfigError('nats.tls.certFile and nats.tls.keyFile must be given together');
  }
  return s;
}

type AuthKind = 'user/pass' | 'token' | 'creds' | 'nkey';

function authKinds(s: NatsSettings): AuthKind[] {
  const kinds: AuthKind[] = [];
  if (s.user !== undefined) kinds.push('user/pass');
  if (s.token !== undefined) kinds.push('token');
  if (s.credsFile !== undefined) kinds.push('creds');
  if (s.nkeySeedFile !== undefined) kinds.push('nkey');
  return kinds;
}

function optionOf(kind: AuthKind): string {
  return { 'user/pass': 'nats.user', token: 'nats.token', creds: 'nats.credsFile', nkey: 'nats.nkeySeedFile' }[kind];
}

/** Drops `user:pass@` / `token@` from a server URL. */
export function redactNatsUrl(server: string): string {
  return server.replace(/^([a-z]+:\/\/)?[^@/]*@/i, (_, scheme: string | undefined) => `${scheme ?? ''}***@`);
}

/** Log-safe one-liner: servers (credentials stripped) and the auth kind, never a secret. */
export function describeNats(settings: NatsSettings): string {
  const auth = authKinds(settings)[0] ?? 'none';
  const tls = settings.tls || settings.servers.some((s) => s.startsWith('tls://')) ? ' tls' : '';
  return `nats ${settings.servers.map(redactNatsUrl).join(',')} auth=${auth}${tls}`;
}

async function readOption(option: string, path: string): Promise<Uint8Array> {
  try {
    return await readFile(path);
  } catch (err) {
    throw new ConfigError(`${option}: cannot read ${path} (${(err as NodeJS.ErrnoException).code ?? String(err)})`, { cause: err });
  }
}

/**
 * Connects and keeps reconnecting forever (a worker outlives NATS restarts). The first connect
 * fails fast with a BusError so a misconfigured process stops at start-up.
 */
export async function connectNats(settings: NatsSettings): Promise<NatsConnection> {
  const opts: NodeConnectionOptions = {
    servers: settings.servers,
    maxReconnectAttempts: -1,
    reconnectTimeWait: 250,
    waitOnFirstConnect: false,
  };
  if (settings.name) opts.name = settings.name;
  if (settings.user !== undefined) {
    opts.user = settings.user;
    opts.pass = settings.pass;
  }
  if (settings.token !== undefined) opts.token = settings.token;
  if (settings.credsFile) opts.authenticator = credsAuthenticator(await readOption('nats.credsFile', settings.credsFile));
  if (settings.nkeySeedFile) {
    const seed = new TextDecoder().decode(await readOption('nats.nkeySeedFile', settings.nkeySeedFile)).trim();
    opts.authenticator = nkeyAuthenticator(new TextEncoder().encode(seed));
  }
  if (settings.tls) {
    for (const [key, path] of Object.entries(settings.tls)) {
      if (path !== undefined) await readOption(`nats.tls.${key}`, path); // fail as ConfigError, not at handshake
    }
    opts.tls = { ...settings.tls };
  }
  try {
    return await connect(opts);
  } catch (err) {
    const reason = scrub(err instanceof Error ? err.message : String(err), settings);
    throw new BusError(`cannot connect to NATS at ${settings.servers.map(redactNatsUrl).join(',')} (auth=${authKinds(settings)[0] ?? 'none'}): ${reason}`, {
      cause: err,
    });
  }
}

/** Belt and braces: the client's messages should not echo secrets, but never let one through. */
function scrub(text: string, s: NatsSettings): string {
  let out = text;
  for (const secret of [s.pass, s.token]) {
    if (secret) out = out.split(secret).join('***');
  }
  return s.servers.reduce((acc, server) => acc.split(server).join(redactNatsUrl(server)), out);
}
