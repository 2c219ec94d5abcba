import assert from 'node:assert/strict';
import { test } from 'node:test';
import { startObservabilityServer } from '../../../shared/src/observability/http-endpoints.ts';
import { createServiceMetrics, METRIC_NAMES, METRICS } from '../../../shared/src/observability/metrics.ts';
import { declaredMetrics, sampleValue } from './prom-text.ts';

test('the endpoint server on a random port serves Prometheus text, liveness and readiness', async () => {
  const metrics = createServiceMetrics('worker');
  let ready = false;
  let alive = true;
  const server = await startObservabilityServer({ port: 0, host: '127.0.0.1', metrics, isReady: () => ready, isAlive: () => alive });
  const url = (path: string) => `http://127.0.0.1:${server.port}${path}`;
  try {
    assert.ok(server.port > 0);
    metrics.batch('scored', 0.2);
    metrics.examples(7);

    const res = await fetch(url('/metrics'));
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
    const text = await res.text();
    const declared = declaredMetrics(text);
    for (const name of METRIC_NAMES) assert.ok(declared.has(name), `${name} missing from /metrics`);
    for (const m of Object.values(METRICS)) assert.equal(declared.get(m.name), m.type, `${m.name} type`);
    assert.ok(declared.has('process_cpu_user_seconds_total'), 'default process metrics are exported too');
    assert.equal(sampleValue(text, 'safesift_batches_total', { service: 'worker', outcome: 'scored' }), 1);
    assert.equal(sampleValue(text, 'safesift_examples_total', { service: 'worker' }), 7);

    assert.equal((await fetch(url('/healthz'))).status, 200);
    assert.equal((await fetch(url('/readyz'))).status, 503);
    ready = true;
    assert.equal((await fetch(url('/readyz'))).status, 200);
    alive = false;
    assert.equal((await fetch(url('/healthz'))).status, 503);
    assert.equal((await fetch(url('/nope'))).status, 404);
    assert.equal((await fetch(url('/metrics'), { method: 'POST' })).status, 405);
  } finally {
    await server.close();
  }
  await assert.rejects(fetch(url('/healthz')), 'closed server refuses connections');
});

test('a scrape that fails answers 500 instead of hanging or crashing', async () => {
  const server = await startObservabilityServer({
    port: 0,
    host: '127.0.0.1',
    metrics: { contentType: 'text/plain', metrics: () => Promise.reject(new Error('collector broke')) },
    isReady: () => true,
    isAlive: () => true,
  });
  try {
    const res = await fetch(`http://127.0.0.1:${server.port}/metrics`);
    assert.equal(res.status, 500);
    assert.match(await res.text(), /collector broke/);
  } finally {
    await server.close();
  }
});

test('a port already in use is a configuration error naming the address', async () => {
  const first = await startObservabilityServer({ port: 0, host: '127.0.0.1', metrics: createServiceMetrics('reducer'), isReady: () => true, isAlive: () => true });
  try {
    await assert.rejects(
      startObservabilityServer({ port: first.port, host: '127.0.0.1', metrics: createServiceMetrics('reducer'), isReady: () => true, isAlive: () => true }),
      (error: Error) => error.name === 'ConfigError' && error.message.includes(`127.0.0.1:${first.port}`) && error.message.includes('EADDRINUSE'),
    );
  } finally {
    await first.close();
  }
});
