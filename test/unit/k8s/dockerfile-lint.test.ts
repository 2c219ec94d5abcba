/**
 * The images cannot be built here (no Docker engine), so their Dockerfiles are linted: pinned
 * bases, multi-stage, a non-root user, production dependencies only, no secrets, a documented
 * probe, and a build context that holds what the Dockerfiles copy and nothing else.
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { test } from 'node:test';

interface Instruction { keyword: string; args: string; line: number }
interface Dockerfile { instructions: Instruction[]; comments: string[]; globalArgs: Map<string, string> }

const repo = new URL('../../../', import.meta.url);
const DOCKERFILES = ['docker/Dockerfile.cpu', 'docker/Dockerfile.cuda'];

/** Instructions with their continuation lines joined; comment lines apart (as Docker strips them). */
function parseDockerfile(text: string): Dockerfile {
  const instructions: Instruction[] = [];
  const comments: string[] = [];
  let pending: { text: string; line: number } | undefined;
  for (const [i, raw] of text.split('\n').entries()) {
    const line = raw.trim();
    if (line.startsWith('#')) {
      comments.push(line);
      continue;
    }
    if (line === '' && pending === undefined) continue;
    const joined: { text: string; line: number } = pending ? { text: `${pending.text} ${line}`, line: pending.line } : { text: line, line: i + 1 };
    if (line.endsWith('\\')) {
      pending = { ...joined, text: joined.text.slice(0, -1) };
      continue;
    }
    pending = undefined;
    const match = /^(\S+)\s*(.*)$/.exec(joined.text);
    if (match) instructions.push({ keyword: match[1]!.toUpperCase(), args: match[2]!.trim(), line: joined.line });
  }
  const globalArgs = new Map<string, string>();
  for (const ins of instructions) {
    if (ins.keyword === 'FROM') break;
    if (ins.keyword === 'ARG') {
      const [name, value] = ins.args.split('=', 2);
      if (value !== undefined) globalArgs.set(name!, value);
    }
  }
  return { instructions, comments, globalArgs };
}

/** FROM lines as { image, alias }, with global ARG defaults substituted. */
function stages(d: Dockerfile): { image: string; alias?: string; from: number; to: number }[] {
  const froms = d.instructions.map((ins, i) => ({ ins, i })).filter(({ ins }) => ins.keyword === 'FROM');
  return froms.map(({ ins, i }, k) => {
    const words = ins.args.split(/\s+/).filter((w) => !w.startsWith('--platform'));
    const image = words[0]!.replace(/\$\{?(\w+)\}?/g, (_, name: string) => d.globalArgs.get(name) ?? `<unset ${name}>`);
    const alias = words[1]?.toUpperCase() === 'AS' ? words[2] : undefined;
    return { image, ...(alias ? { alias } : {}), from: i, to: froms[k + 1]?.i ?? d.instructions.length };
  });
}

const load = async (path: string) => parseDockerfile(await readFile(new URL(path, repo), 'utf8'));

for (const path of DOCKERFILES) {
  test(`${path}: multi-stage, every base image pinned to an exact version tag`, async () => {
    const d = await load(path);
    const all = stages(d);
    assert.ok(all.length >= 2, 'multi-stage');
    const aliases = new Set<string>();
    for (const stage of all) {
      if (!aliases.has(stage.image)) {
        const tag = /^[^:@\s]+(?::[^:@/\s]+)?:(?<tag>[^@\s/]+)(@sha256:[0-9a-f]{64})?$/.exec(stage.image)?.groups?.tag;
        assert.ok(tag !== undefined, `${stage.image}: no tag`);
        assert.notEqual(tag, 'latest', stage.image);
        assert.match(tag, /^\d+\.\d+\.\d+/, `${stage.image}: tag is not an exact version`);
      }
      if (stage.alias) aliases.add(stage.alias);
    }
  });

  test(`${path}: the final stage runs as a non-root numeric user and installs production dependencies only`, async () => {
    const d = await load(path);
    const final = stages(d).at(-1)!;
    const users = d.instructions.slice(final.from, final.to).filter((ins) => ins.keyword === 'USER');
    assert.ok(users.length > 0, 'USER in the final stage');
    const uid = users.at(-1)!.args.split(':')[0]!;
    assert.match(uid, /^\d+$/, 'numeric, so Kubernetes can check runAsNonRoot');
    assert.ok(Number(uid) >= 1000, `uid ${uid} is not a system or root account`);
    const installs = d.instructions.filter((ins) => ins.keyword === 'RUN' && /\bnpm (ci|install)\b/.test(ins.args));
    assert.ok(installs.length > 0);
    for (const ins of installs) assert.match(ins.args, /\bnpm ci --omit=dev\b/, `line ${ins.line}: npm ci --omit=dev`);
    assert.ok(d.instructions.slice(final.from, final.to).some((ins) => ins.keyword === 'COPY' && /--from=\w+.*node_modules/.test(ins.args)), 'node_modules come from the build stage');
    assert.ok(!d.instructions.some((ins) => ins.keyword === 'ADD' && /https?:\/\//.test(ins.args)), 'no remote ADD');
  });

  test(`${path}: no secrets in ENV or ARG; a health probe is declared or documented`, async () => {
    const d = await load(path);
    for (const ins of d.instructions.filter((x) => x.keyword === 'ENV' || x.keyword === 'ARG')) {
      const names = [...ins.args.matchAll(/(?:^|\s)([A-Za-z_][A-Za-z0-9_]*)(?==|\s|$)/g)].map((m) => m[1]!);
      for (const name of names) assert.doesNotMatch(name, /SECRET|PASSW|TOKEN|ACCESS_KEY|PRIVATE|CREDENTIAL|API_KEY/i, `line ${ins.line}: ${name}`);
      assert.doesNotMatch(ins.args, /AKIA[0-9A-Z]{16}|-----BEGIN/, `line ${ins.line}: a key in the image`);
    }
    const health = d.instructions.filter((ins) => ins.keyword === 'HEALTHCHECK');
    assert.equal(health.length, 1, 'one HEALTHCHECK');
    if (/^NONE$/i.test(health[0]!.args)) {
      const doc = d.comments.join(' ');
      assert.match(doc, /\/healthz/, 'HEALTHCHECK NONE documents the probe endpoints');
      assert.match(doc, /\/readyz/);
    } else {
      assert.match(health[0]!.args, /^(--\S+\s+)*CMD\s/);
    }
  });

  test(`${path}: everything it copies from the context is in the .dockerignore allow-list`, async () => {
    const d = await load(path);
    const ignore = (await readFile(new URL('.dockerignore', repo), 'utf8')).split('\n').map((l) => l.trim()).filter((l) => l !== '' && !l.startsWith('#'));
    assert.equal(ignore[0], '*', 'deny everything first');
    const allowed = new Set(ignore.filter((l) => l.startsWith('!')).map((l) => l.slice(1)));
    for (const ins of d.instructions.filter((x) => x.keyword === 'COPY' && !/--from=/.test(x.args))) {
      const sources = ins.args.split(/\s+/).filter((w) => !w.startsWith('--')).slice(0, -1);
      // A path is in the context when it, or a folder above it, is allowed (`!shared` admits shared/package.json).
      const inContext = (source: string) => source.replace(/\/$/, '').split('/').some((_, i, parts) => allowed.has(parts.slice(0, i + 1).join('/')));
      for (const source of sources) assert.ok(inContext(source), `line ${ins.line}: ${source} is not in the build context`);
    }
  });
}

test('Dockerfile.cuda installs the CUDA execution provider of onnxruntime-node on a CUDA 12 + cuDNN 9 base', async () => {
  const d = await load('docker/Dockerfile.cuda');
  const final = stages(d).at(-1)!;
  assert.match(final.image, /^nvidia\/cuda:12\.\d+\.\d+-cudnn-runtime-/);
  const run = d.instructions.filter((ins) => ins.keyword === 'RUN').map((ins) => ins.args).join('\n');
  assert.match(run, /onnxruntime-node\/script\/install\.js --onnxruntime-node-install=\$\{ORT_INSTALL\}/);
  assert.equal(d.instructions.find((ins) => ins.keyword === 'ARG' && ins.args.startsWith('ORT_INSTALL='))?.args, 'ORT_INSTALL=cuda12');
  assert.match(run, /libonnxruntime_providers_cuda\.so/);
  // install.js knows this target for the platform the image is built for
  const metadata = (await import('onnxruntime-node/script/install-metadata.js' as string)) as { default: { requirements: Record<string, string[]> } };
  assert.ok(metadata.default.requirements['linux/x64']?.includes('cuda12'));
});
