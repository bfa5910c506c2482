/**
 * End to end against real frameworks: the same shop (test/fixtures/frameworks)
 * on node:http, Express 4, Express 5, Fastify 5 and Koa 2, each crashed in
 * every way that reaches the process in that framework, under `srs run`.
 * For every (framework x crash) row: the process stays up, only the faulty
 * request fails, a request in flight across the crash completes, the faulty
 * request's pending timer never fires, and exactly one correct recovery event
 * is written. The same rows under plain node show what SRS prevents.
 */
import { after, before, describe, it } from 'node:test';
import assert = require('node:assert/strict');
import { fixture, request, sleep, startServer, type Reply, type ServerProcess } from './helpers';

// Must match test/fixtures/frameworks/shop.js (its analytics timer fires 200 ms after a request starts).
const SLOW_MS = 300;
const SRS_500_BODY = 'Internal Server Error\n';

type Crash =
  | 'sync'
  | 'data'
  | 'timer'
  | 'error-event'
  | 'rejection'
  | 'async-handler'
  | 'after-response';

interface CrashSpec {
  /** What the route does wrong. */
  what: string;
  method?: string;
  body?: string;
  headers?: Record<string, string>;
  /** The recovery event, when the crash reaches the process. */
  crash: 'uncaughtException' | 'unhandledRejection';
  error: { name: string; message: string };
  response: '500' | 'already-sent';
  /** For after-response crashes: the normal response the client got first. */
  sent?: { status: number; body: string };
  /** Minimum counts in event.released besides the pending analytics timer. */
  released?: { listeners?: number; timers?: number };
}

const crashes: Record<Crash, CrashSpec> = {
  sync: {
    what: 'throws synchronously in the route handler',
    crash: 'uncaughtException',
    error: { name: 'TypeError', message: "Cannot read properties of undefined (reading 'price')" },
    response: '500',
  },
  data: {
    what: "throws in the request's 'data' listener",
    method: 'POST',
    // ~100 KB: the bad row at the end arrives in a later read from the socket,
    // not with the headers (those two paths attribute the crash differently).
    body: `sku,qty\n${'A1,2\n'.repeat(20_000)}B7\n`,
    headers: { 'content-type': 'text/csv' },
    crash: 'uncaughtException',
    error: { name: 'TypeError', message: "Cannot read properties of undefined (reading 'trim')" },
    response: '500',
    released: { listeners: 1 },
  },
  timer: {
    what: 'throws in a detached setTimeout callback',
    crash: 'uncaughtException',
    error: { name: 'TypeError', message: "Cannot read properties of undefined (reading 'toUpperCase')" },
    response: '500',
  },
  'error-event': {
    what: "lets an EventEmitter emit 'error' with no listener",
    crash: 'uncaughtException',
    error: { name: 'Error', message: 'export of orders failed: disk quota exceeded' },
    response: '500',
    // Its listeners are on an emitter the request created: kept (confined to the
    // recovered request), not counted as released.
  },
  rejection: {
    what: 'starts async work that rejects and nobody awaits',
    crash: 'unhandledRejection',
    error: { name: 'RangeError', message: 'Invalid array length' },
    response: '500',
    // the analytics timer and the one that would have sent "order placed"
    released: { timers: 2 },
  },
  'async-handler': {
    what: 'has an async route handler that rejects',
    crash: 'unhandledRejection',
    error: { name: 'TypeError', message: "Cannot read properties of undefined (reading 'name')" },
    response: '500',
  },
  'after-response': {
    what: "throws in a 'finish' listener after the response was sent",
    crash: 'uncaughtException',
    error: { name: 'TypeError', message: "Cannot read properties of undefined (reading 'total')" },
    response: 'already-sent',
    sent: { status: 200, body: 'receipt sent' },
  },
};

interface Framework {
  name: string;
  entry: string;
  /** Crashes the framework catches itself (its own 500): they never reach the process. */
  handled: Crash[];
}

const frameworks: Framework[] = [
  { name: 'node:http', entry: 'http.js', handled: [] },
  { name: 'Express 4', entry: 'express4.js', handled: ['sync'] },
  { name: 'Express 5', entry: 'express5.js', handled: ['sync', 'async-handler'] },
  { name: 'Fastify 5', entry: 'fastify.js', handled: ['sync', 'async-handler'] },
  { name: 'Koa 2', entry: 'koa.js', handled: ['sync', 'async-handler'] },
];

const allCrashes = Object.keys(crashes) as Crash[];
const entryOf = (fw: Framework) => fixture(`frameworks/${fw.entry}`);
const tagOf = (fw: Framework, crash: Crash) => `${fw.name.replace(/[^A-Za-z0-9]+/g, '')}-${crash}`;
const crashPath = (fw: Framework, crash: Crash) => `/crash/${crash}?id=${tagOf(fw, crash)}`;
const send = (server: ServerProcess, crash: Crash) => (path: string) =>
  request(server.port, path, { method: crashes[crash].method, body: crashes[crash].body, headers: crashes[crash].headers, timeoutMs: 3000 });

const alive = (server: ServerProcess) => server.child.exitCode === null && server.child.signalCode === null;
const recoveriesOf = (server: ServerProcess, path: string) =>
  server.events().filter((e) => e.type === 'srs.recovery' && e.request?.url === path);

async function waitFor<T>(probe: () => T | undefined, ms: number): Promise<T | undefined> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = probe();
    if (value !== undefined || Date.now() >= deadline) return value;
    await sleep(20);
  }
}

/** How the process ended, or undefined if it is still running after `ms`. */
async function exitWithin(server: ServerProcess, ms: number): Promise<{ code: number | null } | undefined> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<undefined>((resolve) => (timer = setTimeout(resolve, ms, undefined)));
  try {
    return await Promise.race([server.exited, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

function show(reply: Reply): string {
  return reply.error ? `error ${reply.error}` : `${reply.status} ${JSON.stringify(reply.body)}`;
}

async function shopState(server: ServerProcess): Promise<{ audit: string[] }> {
  const reply = await request(server.port, '/state', { timeoutMs: 3000 });
  assert.equal(reply.status, 200, `/state: ${show(reply)}`);
  return JSON.parse(reply.body!) as { audit: string[] };
}

/** The shop's analytics log once `path`'s record is in it (or after `ms`, whatever it holds then). */
async function auditOnceRecorded(server: ServerProcess, path: string, ms: number): Promise<string[]> {
  const deadline = Date.now() + ms;
  for (;;) {
    const { audit } = await shopState(server);
    if (audit.includes(path) || Date.now() >= deadline) return audit;
    await sleep(50);
  }
}

/**
 * Sends /slow, then the faulty request while /slow is in flight, and checks
 * the five guarantees of one row against the server, which survives it.
 */
async function checkRecovered(server: ServerProcess, fw: Framework, crash: Crash): Promise<void> {
  const spec = crashes[crash];
  const path = crashPath(fw, crash);
  const slowPath = `/slow?id=${tagOf(fw, crash)}`;
  const slowStarted = Date.now();
  const slow = request(server.port, slowPath, { timeoutMs: 3000 }).then((reply) => ({ reply, at: Date.now() }));
  await sleep(50); // /slow is now waiting on its timer, in flight
  const faultyStarted = Date.now();
  const faulty = await send(server, crash)(path);

  // 2. Only the faulty request fails.
  if (spec.response === '500') {
    assert.equal(faulty.status, 500, `faulty request: ${show(faulty)}`);
    assert.equal(faulty.body, SRS_500_BODY);
  } else {
    assert.equal(faulty.status, spec.sent!.status, `faulty request: ${show(faulty)}`);
    assert.equal(faulty.body, spec.sent!.body);
  }

  // 5. Exactly one event, and the right one.
  const events = await waitFor(() => {
    const found = recoveriesOf(server, path);
    return found.length > 0 ? found : undefined;
  }, 2000);
  assert.ok(events, `no srs.recovery event for ${path}; stderr:\n${server.stderr()}`);
  const [event] = events;
  assert.equal(events.length, 1, `recovery events for ${path}: ${JSON.stringify(events)}`);
  assert.equal(event!.request.method, spec.method ?? 'GET');
  assert.equal(event!.request.url, path);
  assert.equal(event!.crash, spec.crash);
  assert.equal(event!.error.name, spec.error.name);
  assert.equal(event!.error.message, spec.error.message);
  assert.equal(event!.response, spec.response);
  assert.equal(typeof event!.durationUs, 'number');
  assert.ok(event!.released.timers >= (spec.released?.timers ?? 1), `released: ${JSON.stringify(event!.released)}`);
  assert.ok(event!.released.listeners >= (spec.released?.listeners ?? 0), `released: ${JSON.stringify(event!.released)}`);

  // 3. The request in flight across the crash completes normally.
  const { reply: slowReply, at: slowEnded } = await slow;
  assert.equal(slowReply.status, 200, `/slow: ${show(slowReply)}`);
  assert.equal(slowReply.body, `slow done ${tagOf(fw, crash)}`);
  const crashedAt = Date.parse(event!.time);
  assert.ok(slowStarted <= crashedAt && crashedAt <= slowEnded, '/slow was in flight when the crash happened');
  assert.ok(slowEnded - slowStarted >= SLOW_MS - 10, '/slow took its time: it was not cut short');

  // 4. The faulty request's analytics timer never fires. It was scheduled
  // after /slow's (same delay), so once /slow's has fired, the faulty one's
  // is due within (faultyStarted - slowStarted): wait that long and a margin.
  const recorded = await auditOnceRecorded(server, slowPath, 3000);
  assert.ok(recorded.includes(slowPath), `the benign request's timer fired: ${JSON.stringify(recorded)}`);
  await sleep(faultyStarted - slowStarted + 150);
  const { audit } = await shopState(server);
  assert.ok(!audit.includes(path), `the faulty request's timer must not fire: ${JSON.stringify(audit)}`);

  // 1. The process stays up and serves.
  const ok = await request(server.port, '/ok', { timeoutMs: 3000 });
  assert.equal(ok.status, 200, `/ok: ${show(ok)}`);
  assert.equal(ok.body, 'ok');
  assert.ok(alive(server), 'the server process is still running');
}

/** The framework answers the crash itself; SRS must neither report nor release anything. */
async function checkHandledByFramework(server: ServerProcess, fw: Framework, crash: Crash): Promise<void> {
  const path = crashPath(fw, crash);
  const faulty = await send(server, crash)(path);
  assert.equal(faulty.status, 500, `faulty request: ${show(faulty)}`);
  assert.notEqual(faulty.body, SRS_500_BODY, 'the 500 is the framework’s own');
  const audit = await auditOnceRecorded(server, path, 3000);
  assert.ok(audit.includes(path), `a request that did not crash the process keeps its timers: ${JSON.stringify(audit)}`);
  assert.deepEqual(recoveriesOf(server, path), []);
  assert.ok(alive(server));
}

for (const fw of frameworks) {
  describe(`${fw.name} under srs`, { timeout: 30_000 }, () => {
    let server: ServerProcess | undefined;
    before(async () => {
      server = await startServer({ mode: 'srs', entry: entryOf(fw) });
    });
    after(async () => {
      await server?.stop();
    });

    for (const crash of allCrashes) {
      const handled = fw.handled.includes(crash);
      const title = handled
        ? `a route that ${crashes[crash].what}: ${fw.name} answers it itself, SRS stays out`
        : `a route that ${crashes[crash].what}: only that request fails`;
      it(title, { timeout: 8000 }, () =>
        handled ? checkHandledByFramework(server!, fw, crash) : checkRecovered(server!, fw, crash),
      );
    }

    it('after all of them: one recovery per crash, no escalation, still serving', { timeout: 5000 }, async () => {
      const reached = allCrashes.filter((c) => !fw.handled.includes(c)).length;
      const events = server!.events();
      assert.equal(events.filter((e) => e.type === 'srs.recovery').length, reached);
      assert.deepEqual(events.filter((e) => e.type === 'srs.escalation' || e.type === 'srs.exit'), []);
      const ok = await request(server!.port, '/ok', { timeoutMs: 3000 });
      assert.equal(ok.status, 200);
      assert.ok(alive(server!));
    });
  });
}

// Controls: the same rows under plain node. A crash that reaches the process
// kills it there, so the rows above would fail if SRS did nothing.
describe('the same crashes under plain node', { timeout: 60_000, concurrency: 2 }, () => {
  for (const fw of frameworks) {
    for (const crash of allCrashes) {
      const handled = fw.handled.includes(crash);
      const title = handled
        ? `${fw.name}, a route that ${crashes[crash].what}: the framework answers 500, the process lives`
        : `${fw.name}, a route that ${crashes[crash].what}: the process dies`;
      it(title, { timeout: 10_000 }, async () => {
        const server = await startServer({ mode: 'node', entry: entryOf(fw) });
        try {
          const faulty = await send(server, crash)(crashPath(fw, crash));
          if (handled) {
            assert.equal(faulty.status, 500, show(faulty));
            const ok = await request(server.port, '/ok', { timeoutMs: 3000 });
            assert.equal(ok.status, 200);
            assert.ok(alive(server));
            return;
          }
          const exit = await exitWithin(server, 5000);
          assert.ok(exit, 'the process should have died');
          assert.notEqual(exit.code, 0, `exit: ${JSON.stringify(exit)}`);
          const sent = crashes[crash].sent;
          if (sent) assert.equal(faulty.status, sent.status, show(faulty));
          else assert.equal(faulty.status, undefined, `no response before dying: ${show(faulty)}`);
        } finally {
          await server.stop();
        }
      });
    }
  }
});
