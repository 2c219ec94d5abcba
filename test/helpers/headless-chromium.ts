/**
 * Opens a local HTML file in Debian's headless Chromium and reports what a reader's browser would
 * do with it, through the Chrome DevTools Protocol over `--remote-debugging-pipe` (fd 3 in, fd 4
 * out, NUL-delimited JSON: no port, no websocket package, nothing left listening).
 *
 * The network is closed three ways: DNS maps every name to NOTFOUND, every proxied request goes to a
 * dead loopback port, and the Fetch domain pauses every request (file:// ones included) so that only
 * the page itself is let through and anything else is failed and recorded. Every request the page
 * makes (Network.requestWillBeSent, any scheme, data: included), every console message, log entry
 * and uncaught exception is collected; `evaluate` then reads the final DOM.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { pathToFileURL } from 'node:url';

export interface PageVisit {
  url: string;
  /** Every request the page made, the page's own navigation included. */
  requests: string[];
  /** Requests other than the page itself: failed by the interceptor. */
  blocked: string[];
  /** console.* calls, Log entries of level warning/error, uncaught exceptions. */
  console: { level: string; text: string }[];
  errors: string[];
  /** document.title after load. */
  title: string;
  /** The value of `probe` (an expression) evaluated in the page after load. */
  probe: unknown;
  /** Full-page PNG, when asked for. */
  screenshot?: Buffer;
}

export function findChromium(): string {
  for (const name of ['chromium', 'chromium-browser', 'google-chrome']) {
    for (const dir of (process.env.PATH ?? '').split(delimiter)) if (dir && existsSync(join(dir, name))) return join(dir, name);
  }
  throw new Error('chromium not found on PATH; install it: apt-get install -y chromium');
}

interface CdpMessage {
  id?: number;
  method?: string;
  params?: Record<string, unknown>;
  result?: Record<string, unknown>;
  error?: { message: string };
  sessionId?: string;
}

class CdpPipe {
  private nextId = 1;
  private buffer = '';
  private readonly pending = new Map<number, { resolve: (r: Record<string, unknown>) => void; reject: (e: Error) => void }>();
  private readonly listeners: ((m: CdpMessage) => void)[] = [];

  constructor(
    private readonly input: Writable,
    output: Readable,
  ) {
    output.setEncoding('utf8');
    output.on('data', (chunk: string) => {
      this.buffer += chunk;
      for (let end = this.buffer.indexOf('\0'); end >= 0; end = this.buffer.indexOf('\0')) {
        const message = JSON.parse(this.buffer.slice(0, end)) as CdpMessage;
        this.buffer = this.buffer.slice(end + 1);
        this.dispatch(message);
      }
    });
  }

  private dispatch(message: CdpMessage): void {
    if (message.id !== undefined) {
      const waiter = this.pending.get(message.id);
      this.pending.delete(message.id);
      if (message.error) waiter?.reject(new Error(`CDP: ${message.error.message}`));
      else waiter?.resolve(message.result ?? {});
      return;
    }
    for (const listener of this.listeners) listener(message);
  }

  on(listener: (m: CdpMessage) => void): void {
    this.listeners.push(listener);
  }

  send(method: string, params: Record<string, unknown> = {}, sessionId?: string): Promise<Record<string, unknown>> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.input.write(`${JSON.stringify({ id, method, params, ...(sessionId ? { sessionId } : {}) })}\0`);
    });
  }

  failAll(error: Error): void {
    for (const waiter of this.pending.values()) waiter.reject(error);
    this.pending.clear();
  }
}

/**
 * Loads `file` (a local path) with the network closed and returns what happened. `probe` is a
 * JavaScript expression evaluated in the page once it has loaded (its JSON value is returned).
 */
export async function visitPage(file: string, options: { probe?: string; screenshot?: { width: number }; timeoutMs?: number } = {}): Promise<PageVisit> {
  const url = pathToFileURL(file).href;
  const profile = await mkdtemp(join(tmpdir(), 'safesift-chromium-'));
  const child: ChildProcess = spawn(findChromium(), [
    '--headless', '--no-sandbox', '--disable-gpu', '--remote-debugging-pipe', `--user-data-dir=${profile}`,
    '--host-resolver-rules=MAP * ~NOTFOUND', '--proxy-server=127.0.0.1:9', '--proxy-bypass-list=<-loopback>',
    '--no-first-run', '--no-default-browser-check', '--disable-background-networking', '--disable-component-update',
    '--disable-sync', '--disable-extensions', '--mute-audio', '--hide-scrollbars',
    'about:blank',
  ], { stdio: ['ignore', 'ignore', 'pipe', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr?.setEncoding('utf8');
  child.stderr?.on('data', (c: string) => { stderr = (stderr + c).slice(-4000); });
  const cdp = new CdpPipe(child.stdio[3] as Writable, child.stdio[4] as Readable);
  const exited = new Promise<never>((_, reject) => child.once('exit', (code) => {
    const error = new Error(`chromium exited (${code}) before the page was read: ${stderr}`);
    cdp.failAll(error);
    reject(error);
  }));
  exited.catch(() => undefined);
  const timeoutMs = options.timeoutMs ?? 30_000;
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => { timer = setTimeout(() => reject(new Error(`chromium: no answer within ${timeoutMs} ms: ${stderr}`)), timeoutMs); });
  try {
    return await Promise.race([drive(cdp, url, options), exited, timeout]);
  } finally {
    clearTimeout(timer);
    // Browser.close lets Chromium end its helper processes and stop writing the profile; SIGKILL if it hangs.
    const gone = new Promise((resolve) => (child.exitCode !== null || child.signalCode !== null ? resolve(null) : child.once('exit', resolve)));
    cdp.send('Browser.close').catch(() => undefined);
    const kill = setTimeout(() => child.kill('SIGKILL'), 3000);
    await gone;
    clearTimeout(kill);
    await rm(profile, { recursive: true, force: true, maxRetries: 5, retryDelay: 200 });
  }
}

async function drive(cdp: CdpPipe, url: string, options: { probe?: string; screenshot?: { width: number } }): Promise<PageVisit> {
  const visit: PageVisit = { url, requests: [], blocked: [], console: [], errors: [], title: '', probe: undefined };
  const { targetId } = (await cdp.send('Target.createTarget', { url: 'about:blank' })) as { targetId: string };
  const { sessionId } = (await cdp.send('Target.attachToTarget', { targetId, flatten: true })) as { sessionId: string };
  const send = (method: string, params: Record<string, unknown> = {}) => cdp.send(method, params, sessionId);
  let loaded: () => void = () => undefined;
  const load = new Promise<void>((resolve) => { loaded = resolve; });
  cdp.on((m) => {
    if (m.sessionId !== sessionId || m.params === undefined) return;
    const p = m.params;
    switch (m.method) {
      case 'Network.requestWillBeSent':
        visit.requests.push(String((p.request as { url: string }).url));
        break;
      case 'Fetch.requestPaused': {
        const requested = String((p.request as { url: string }).url);
        if (requested === url) void send('Fetch.continueRequest', { requestId: p.requestId });
        else {
          visit.blocked.push(requested);
          void send('Fetch.failRequest', { requestId: p.requestId, errorReason: 'BlockedByClient' });
        }
        break;
      }
      case 'Runtime.consoleAPICalled':
        visit.console.push({ level: String(p.type), text: ((p.args as { value?: unknown; description?: string }[]) ?? []).map((a) => String(a.value ?? a.description ?? '')).join(' ') });
        break;
      case 'Log.entryAdded': {
        const entry = p.entry as { level: string; text: string; url?: string };
        if (entry.level === 'error' || entry.level === 'warning') visit.console.push({ level: entry.level, text: `${entry.text}${entry.url ? ` (${entry.url})` : ''}` });
        break;
      }
      case 'Runtime.exceptionThrown':
        visit.errors.push(JSON.stringify((p.exceptionDetails as { text?: string; exception?: { description?: string } })?.exception?.description ?? p.exceptionDetails));
        break;
      case 'Page.loadEventFired':
        loaded();
        break;
    }
  });
  await send('Fetch.enable', { patterns: [{ urlPattern: '*' }] });
  await send('Network.enable');
  await send('Runtime.enable');
  await send('Log.enable');
  await send('Page.enable');
  if (options.screenshot) await send('Emulation.setDeviceMetricsOverride', { width: options.screenshot.width, height: 900, deviceScaleFactor: 1, mobile: false });
  await send('Page.navigate', { url });
  await load;
  // Let anything the page might do after load (timers, lazy loads) happen before looking.
  await new Promise((resolve) => setTimeout(resolve, 300));
  const evaluate = async (expression: string) => {
    const r = (await send('Runtime.evaluate', { expression, returnByValue: true })) as { result: { value?: unknown }; exceptionDetails?: unknown };
    if (r.exceptionDetails) throw new Error(`evaluate ${expression}: ${JSON.stringify(r.exceptionDetails)}`);
    return r.result.value;
  };
  visit.title = String(await evaluate('document.title'));
  if (options.probe) visit.probe = await evaluate(options.probe);
  if (options.screenshot) {
    const metrics = (await send('Page.getLayoutMetrics')) as { cssContentSize: { width: number; height: number } };
    const clip = { x: 0, y: 0, width: options.screenshot.width, height: Math.ceil(metrics.cssContentSize.height), scale: 1 };
    const { data } = (await send('Page.captureScreenshot', { format: 'png', captureBeyondViewport: true, clip })) as { data: string };
    visit.screenshot = Buffer.from(data, 'base64');
  }
  return visit;
}
