/**
 * Guarantee 2 against its oracle (DESIGN.md): after a faulty request crashes
 * under `srs run`, the shared state is what the same traffic without the
 * faulty request leaves behind.
 *
 * test/fixtures/oracle-app.js keeps every kind of long-lived state (counters,
 * an in-flight gauge, a cache object, a Map, a Set, an append-only log, a
 * reordered list, a config object replaced by assignment, a module `let`, a
 * closure variable, a class static field, nested session objects, strings).
 * Its faulty route writes all of it, then waits for the client to finish the
 * request body; the test holds the body back while benign requests write the
 * same locations, then releases it and the route writes some more and
 * crashes: synchronously in its 'end' handler, in a timer, in a promise
 * nobody awaits, or after its response was sent. A fifth variant does
 * everything synchronously in the handler (nothing can interleave).
 *
 * Benign requests are sent one at a time and are synchronous on the server,
 * so their effects happen in the same order in every run. The oracle is the
 * same benign traffic against a fresh server under plain node.
 */
import { after, before, describe, it } from 'node:test';
import assert = require('node:assert/strict');
import http = require('node:http');
import { fixture, request, sleep, startServer, type Reply, type ServerProcess } from './helpers';

const APP = fixture('oracle-app.js');

type Variant = 'handler' | 'sync' | 'timer' | 'promise' | 'after-response';

interface VariantSpec {
  what: string;
  crash: 'uncaughtException' | 'unhandledRejection';
  error: string;
  response: '500' | 'already-sent';
  /** Whether benign requests write while the faulty request is in flight. */
  interleaved: boolean;
}

const variants: Record<Variant, VariantSpec> = {
  handler: { what: 'throws synchronously in the handler', crash: 'uncaughtException', error: 'TypeError', response: '500', interleaved: false },
  sync: { what: "throws synchronously in its 'end' handler", crash: 'uncaughtException', error: 'TypeError', response: '500', interleaved: true },
  timer: { what: 'throws in a timer', crash: 'uncaughtException', error: 'SyntaxError', response: '500', interleaved: true },
  promise: { what: 'rejects a promise nobody awaits', crash: 'unhandledRejection', error: 'RangeError', response: '500', interleaved: true },
  'after-response': { what: 'throws after its response was sent', crash: 'uncaughtException', error: 'Error', response: 'already-sent', interleaved: true },
};

/** Before the faulty request starts. */
const BEFORE = [
  '/hit?who=alice&bytes=5',
  '/visit?who=alice&item=pear&price=2',
  '/put?key=k1&value=v1',
  '/mset?key=m1&value=one',
  '/join?who=dave',
  '/recent?who=a',
  '/login?who=alice',
];

/** While the faulty request is in flight (between its two write phases). */
const DURING = [
  '/hit?who=bob&bytes=7',
  '/undo',
  '/put?key=shared&value=benign', // reassigns what the faulty request assigned
  '/mset?key=hot&value=benign',
  '/config?version=2&mode=fast',
  '/login?who=bob',
  '/visit?who=alice&item=plum&price=4', // the same nested counters and list
  '/recent?who=b', // appends after the faulty request's unshift
  '/join?who=erin',
  '/leave?who=carol',
  '/del?key=k1',
  '/hit?who=carol&bytes=1',
];

/** After the faulty request's recovery. */
const AFTER = [
  '/hit?who=dave',
  '/visit?who=bob&item=kiwi&price=1',
  '/put?key=k2&value=v2',
  '/mdel?key=m1',
  '/recent?who=c',
  '/login?who=erin',
  '/undo',
];

type State = Record<string, any>;

function show(reply: Reply): string {
  return reply.error ? `error ${reply.error}` : `${reply.status} ${JSON.stringify(reply.body)}`;
}

async function send(server: ServerProcess, path: string): Promise<void> {
  const reply = await request(server.port, path, { timeoutMs: 3000 });
  assert.equal(reply.status, 200, `${path}: ${show(reply)}`);
}

async function sendAll(server: ServerProcess, paths: string[]): Promise<void> {
  for (const path of paths) await send(server, path); // one at a time: a fixed order of effects
}

async function stateOf(server: ServerProcess): Promise<State> {
  const reply = await request(server.port, '/state', { timeoutMs: 3000 });
  assert.equal(reply.status, 200, `/state: ${show(reply)}`);
  return JSON.parse(reply.body!) as State;
}

async function waitFor<T>(probe: () => T | undefined, ms: number, what: string): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = probe();
    if (value !== undefined) return value;
    if (Date.now() >= deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(10);
  }
}

/**
 * A POST whose body the test holds back: the server runs the handler on the
 * headers, and the request's 'end' comes only when the test calls finish().
 */
function held(port: number, path: string): { finish(): Promise<Reply> } {
  let resolveReply!: (r: Reply) => void;
  const reply = new Promise<Reply>((resolve) => (resolveReply = resolve));
  const req = http.request(
    { host: '127.0.0.1', port, path, method: 'POST', headers: { 'transfer-encoding': 'chunked' }, agent: false },
    (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolveReply({ status: res.statusCode, body, headers: res.headers }));
      res.on('error', (e) => resolveReply({ status: res.statusCode, error: (e as NodeJS.ErrnoException).code ?? e.message }));
    },
  );
  req.setTimeout(5000, () => req.destroy(Object.assign(new Error('timeout'), { code: 'TIMEOUT' })));
  req.on('error', (e) => resolveReply({ error: (e as NodeJS.ErrnoException).code ?? e.message }));
  req.flushHeaders();
  return {
    finish() {
      req.end();
      return reply;
    },
  };
}

const recoveryOf = (server: ServerProcess, url: string) =>
  server.events().find((e) => e.type === 'srs.recovery' && e.request?.url === url);

/** Runs BEFORE, the faulty request, DURING, AFTER; returns the final state and the recovery event. */
async function runWithFault(server: ServerProcess, variant: Variant): Promise<{ state: State; event: Record<string, any> }> {
  const spec = variants[variant];
  const url = `/faulty/${variant}`;
  await sendAll(server, BEFORE);
  let faultyReply: Reply;
  if (spec.interleaved) {
    const faulty = held(server.port, url);
    await waitFor(() => (server.stdout().includes(`phase1 ${variant}\n`) ? true : undefined), 3000, `${url} to start`);
    await sendAll(server, DURING);
    faultyReply = await faulty.finish();
  } else {
    faultyReply = await request(server.port, url, { timeoutMs: 3000 });
  }
  if (spec.response === '500') assert.equal(faultyReply.status, 500, `${url}: ${show(faultyReply)}`);
  else assert.equal(faultyReply.status, 200, `${url}: ${show(faultyReply)}`);
  const event = await waitFor(() => recoveryOf(server, url), 3000, `the recovery of ${url}`);
  if (!spec.interleaved) await sendAll(server, DURING);
  await sendAll(server, AFTER);
  return { state: await stateOf(server), event };
}

describe('oracle: state after a recovered crash = state of the same traffic without the faulty request', { timeout: 60_000 }, () => {
  let oracle: State;

  before(async () => {
    const server = await startServer({ mode: 'node', entry: APP });
    try {
      await sendAll(server, [...BEFORE, ...DURING, ...AFTER]);
      oracle = await stateOf(server);
    } finally {
      await server.stop();
    }
  });

  it('control: the same traffic under srs, no fault, ends in the oracle state', { timeout: 15_000 }, async () => {
    const server = await startServer({ mode: 'srs', entry: APP });
    try {
      await sendAll(server, [...BEFORE, ...DURING, ...AFTER]);
      assert.deepEqual(await stateOf(server), oracle);
      assert.deepEqual(server.events(), []);
    } finally {
      await server.stop();
    }
  });

  for (const [variant, spec] of Object.entries(variants) as Array<[Variant, VariantSpec]>) {
    describe(`a faulty request that ${spec.what}`, { timeout: 20_000 }, () => {
      let server: ServerProcess;
      let state: State;
      let event: Record<string, any>;

      before(async () => {
        server = await startServer({ mode: 'srs', entry: APP });
        ({ state, event } = await runWithFault(server, variant));
      });
      after(async () => {
        await server?.stop();
      });

      it('is recovered once, as the crash it was', () => {
        assert.equal(server.events().filter((e) => e.type === 'srs.recovery').length, 1, server.stderr());
        assert.deepEqual(server.events().filter((e) => e.type === 'srs.escalation' || e.type === 'srs.exit'), []);
        assert.equal(event.crash, spec.crash);
        assert.equal(event.error.name, spec.error);
        assert.equal(event.response, spec.response);
        assert.equal(server.child.exitCode, null, 'the server is still running');
      });

      it('every location ends as in the oracle', () => {
        if (spec.interleaved) {
          // The one non-commutative location benign requests appended to after
          // the faulty request did: its value carries the faulty 'F' on
          // (propagation, checked below); everything else is exact.
          const { trail, ...rest } = state;
          const { trail: oracleTrail, ...oracleRest } = oracle;
          assert.deepEqual(rest, oracleRest, `state:  ${JSON.stringify(state)}\noracle: ${JSON.stringify(oracle)}\nevent:  ${JSON.stringify(event.state)}`);
          assert.notEqual(trail, oracleTrail);
          assert.equal(trail.replaceAll('F', ''), oracleTrail, `trail ${JSON.stringify(trail)} vs oracle ${JSON.stringify(oracleTrail)}`);
        } else {
          assert.deepEqual(state, oracle, `state:  ${JSON.stringify(state)}\noracle: ${JSON.stringify(oracle)}\nevent:  ${JSON.stringify(event.state)}`);
        }
      });

      it('the recovery event counts each case the scenario forces', (t) => {
        const counts = event.state as Record<string, number>;
        t.diagnostic(`journal ${event.journal}, state ${JSON.stringify(counts)}, ${event.durationUs} µs`);
        assert.equal(counts.unresolved, 0, JSON.stringify(counts));
        // refunds, motd, cache.mallory/stale, m:mallory/m:old, members, stats.down, ... nobody else wrote.
        assert.ok(counts.restored >= 10, `restored: ${JSON.stringify(counts)}`);
        assert.ok(event.journal >= counts.restored + counts.compensated + counts.cleansed, `journal ${event.journal}: ${JSON.stringify(counts)}`);
        if (spec.interleaved) {
          // hits, credits, bytes, inflight, log, recent, the closure counter, the static field, alice's session.
          assert.ok(counts.compensated >= 8, `compensated: ${JSON.stringify(counts)}`);
          // cache.shared, registry 'hot', config, lastUser (and trail, which others appended to last).
          assert.ok(counts.cleansed >= 4, `cleansed: ${JSON.stringify(counts)}`);
          // trail: benign requests appended to the faulty request's string.
          assert.equal(counts.propagated, 1, `propagated: ${JSON.stringify(counts)}`);
        } else {
          // Nothing ran between its first write and its crash.
          assert.equal(counts.compensated, 0, JSON.stringify(counts));
          assert.equal(counts.cleansed, 0, JSON.stringify(counts));
          assert.equal(counts.propagated, 0, JSON.stringify(counts));
        }
      });
    });
  }
  describe('two faulty requests in flight together (one crashes in a timer, the other in a promise)', { timeout: 20_000 }, () => {
    let server: ServerProcess;
    let state: State;
    let events: Array<Record<string, any>>;

    before(async () => {
      server = await startServer({ mode: 'srs', entry: APP });
      await sendAll(server, BEFORE);
      const first = held(server.port, '/faulty/timer');
      await waitFor(() => (server.stdout().includes('phase1 timer\n') ? true : undefined), 3000, '/faulty/timer to start');
      await sendAll(server, DURING.slice(0, 6));
      const second = held(server.port, '/faulty/promise');
      await waitFor(() => (server.stdout().includes('phase1 promise\n') ? true : undefined), 3000, '/faulty/promise to start');
      await sendAll(server, DURING.slice(6));
      // The first one's rollback happens while the second one still has writes on top of it, and the other way round.
      assert.equal((await first.finish()).status, 500);
      await waitFor(() => recoveryOf(server, '/faulty/timer'), 3000, 'the first recovery');
      assert.equal((await second.finish()).status, 500);
      await waitFor(() => recoveryOf(server, '/faulty/promise'), 3000, 'the second recovery');
      await sendAll(server, AFTER);
      state = await stateOf(server);
      events = server.events().filter((e) => e.type === 'srs.recovery');
    });
    after(async () => {
      await server?.stop();
    });

    it('both are recovered, and every location but one ends as in the oracle', (t) => {
      assert.equal(events.length, 2);
      for (const e of events) t.diagnostic(`${e.request.url}: journal ${e.journal}, state ${JSON.stringify(e.state)}`);
      // Only the list both unshifted may be unresolved (see the todo below).
      for (const e of events) assert.ok(e.state.unresolved <= 1, JSON.stringify(e.state));
      // trail: propagation, as above; recent: see the todo below.
      const { trail, recent: _recent, ...rest } = state;
      const { trail: oracleTrail, recent: _oracleRecent, ...oracleRest } = oracle;
      assert.deepEqual(rest, oracleRest, `state:  ${JSON.stringify(state)}\noracle: ${JSON.stringify(oracle)}`);
      assert.equal(trail.replaceAll('F', ''), oracleTrail);
      assert.ok(events.some((e) => e.state.propagated > 0));
    });

    it(
      'the list both unshifted ends as in the oracle, or a recovery says unresolved',
      { todo: "the first one's unshift, followed by the second one's, is counted as cleansed; the second one's snapshot then brings it back" },
      () => {
        assert.ok(
          JSON.stringify(state.recent) === JSON.stringify(oracle.recent) || events.some((e) => e.state.unresolved > 0),
          `recent ${JSON.stringify(state.recent)}, oracle ${JSON.stringify(oracle.recent)}; ${events.map((e) => JSON.stringify(e.state)).join(', ')}`,
        );
      },
    );
  });
});
