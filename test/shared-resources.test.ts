/**
 * Resources one request creates lazily on behalf of everyone
 * (test/fixtures/shared-resources-app.js + shared-resources-lib.js):
 *
 *  A. a client for a line-based TCP backend (like a redis client or a
 *     one-connection pg pool) that connects on first use and keeps the
 *     connection, its 'data'/'close'/'error' handlers maintaining its state;
 *  B. a batch whose flush timer is started by whichever add makes it non-empty.
 *
 * On a crash SRS releases what the faulty request owns (resources.ts): its
 * timers are cleared, the sockets it connected destroyed, its listeners
 * removed. Two exceptions keep shared resources alive:
 *   - a socket one request connected and another request wrote to is shared:
 *     neither destroyed nor stripped of its listeners (A1);
 *   - what runs in require('srs').outsideRequest(fn) belongs to no request
 *     (A2, B1).
 * Without either, the documented default applies: the lazily created resource
 * dies with the request that created it (A3, B2); those rows assert what the
 * app then sees, as it is today.
 *
 * Every case runs twice: with the client/batch code in the app (instrumented:
 * its writes are journaled and rolled back with the faulty request) and as a
 * dependency (a copy under a node_modules folder: not instrumented by default,
 * like a real redis/pg client). Rows marked todo assert the contract and fail
 * today because of a known bug, named in the row.
 *
 * Every case starts its own server (the lazy resource must not exist yet),
 * bounds every wait, and stops the server in `finally`.
 */
import assert = require('node:assert/strict');
import fs = require('node:fs');
import os = require('node:os');
import path = require('node:path');
import { after, before, describe, it } from 'node:test';
import { isDeepStrictEqual } from 'node:util';
import { fixture, request, sleep, startServer, type Reply, type ServerProcess } from './helpers';

const APP = fixture('shared-resources-app.js');
const LIB = fixture('shared-resources-lib.js');
const BATCH_MS = 600;

type Lib = 'app' | 'dependency';
type Setup = 'inline' | 'outside';

interface ClientState {
  connected: boolean;
  destroyed: boolean;
  localPort: number | null;
  connects: number;
  closes: number;
  errors: number;
  pending: number;
}
interface BatchState {
  entries: string[];
  timerPending: boolean;
  flushed: string[];
  flushes: number;
}
interface AppState {
  client: ClientState;
  backend: { accepted: number; open: number[]; lines: number };
  batch: BatchState;
}

// --- one case's server and bounded waits -------------------------------------------

class Case {
  constructor(readonly server: ServerProcess) {}

  get port(): number {
    return this.server.port;
  }

  async state(): Promise<AppState> {
    const reply = await request(this.port, '/state', { timeoutMs: 2000 });
    assert.equal(reply.status, 200, `GET /state: ${show(reply)}`);
    return JSON.parse(reply.body!) as AppState;
  }

  /** Polls /state until `done` holds; fails after ms saying what it waited for. */
  async stateWhen(what: string, done: (s: AppState) => boolean, ms = 3000): Promise<AppState> {
    const deadline = Date.now() + ms;
    for (;;) {
      const s = await this.state();
      if (done(s)) return s;
      if (Date.now() >= deadline) assert.fail(`timed out after ${ms} ms waiting for ${what}; state ${JSON.stringify(s)}\n${this.server.stderr()}`);
      await sleep(10);
    }
  }

  recoveries(): Array<Record<string, any>> {
    return this.server.events().filter((e) => e.type === 'srs.recovery');
  }

  /** Waits for the single recovery of the case and checks it names the faulty request. */
  async recovery(url: string): Promise<Record<string, any>> {
    const deadline = Date.now() + 3000;
    while (this.recoveries().length === 0 && Date.now() < deadline) await sleep(10);
    const events = this.server.events();
    const found = this.recoveries();
    assert.equal(found.length, 1, `exactly one srs.recovery: ${JSON.stringify(events)}\n${this.server.stderr()}`);
    assert.equal(found[0]!.request.url, url);
    assert.match(found[0]!.error.message, /^injected fault: /);
    return found[0]!;
  }

  /** Nothing but the one recovery: no suppressed follow-up error, no escalation. */
  /** One recovery, no escalation; follow-up errors of the recovered request may be reported after it. */
  onlyTheRecovery(followUps = false): void {
    const events = this.server.events();
    const types = events.map((e) => e.type);
    assert.deepEqual(
      followUps ? types.filter((t) => t !== 'srs.suppressed') : types,
      ['srs.recovery'],
      `events: ${JSON.stringify(events.map((e) => ({ type: e.type, error: e.error?.message, reason: e.reason })))}`,
    );
    assert.equal(this.server.child.exitCode, null, 'the server is still running');
  }
}

function show(reply: Reply): string {
  return reply.error !== undefined ? `error ${reply.error}` : `${reply.status} ${JSON.stringify(reply.body)}`;
}

async function openGate(c: Case, name: 'backend' | 'crash'): Promise<void> {
  assert.equal(show(await request(c.port, `/gate?name=${name}`, { timeoutMs: 2000 })), '202 "open"');
}

const query = (c: Case, value: string, extra = '', timeoutMs = 2000) => request(c.port, `/q?v=${value}${extra}`, { timeoutMs });

/** Later queries after the recovery: each answered on the connection the backend numbered `conn`. */
async function laterQueriesSucceed(c: Case, conn: number): Promise<void> {
  for (const v of ['later1', 'later2']) {
    const reply = await query(c, v, '&delay=0');
    assert.equal(show(reply), `200 "${conn}:${v}"`, `later query ${v}\n${c.server.stderr()}`);
  }
  const [a, b] = await Promise.all([query(c, 'par1', '&delay=20'), query(c, 'par2', '&delay=0')]);
  assert.equal(show(a), `200 "${conn}:par1"`, 'concurrent later queries');
  assert.equal(show(b), `200 "${conn}:par2"`, 'concurrent later queries');
}

// --- the cases ----------------------------------------------------------------------

/**
 * A1: the faulty request opens the connection and sends a query; while it
 * waits (the backend holds its reply until the test opens gate 'backend'), a
 * benign request sends a query on the same connection; then the faulty
 * request crashes. `crash: 'reply'`: in its reply's continuation, before the
 * benign reply arrives (200 ms later, through the shared connection's 'data'
 * handler, after the recovery); `'gate'`: in a timer of its own once the test
 * opens gate 'crash', after the benign request got its answer.
 */
function sharedConnection(crash: 'reply' | 'gate') {
  return async (c: Case) => {
    const faultyUrl = `/q?v=f&delay=-1&crash=${crash}`;
    const faulty = request(c.port, faultyUrl, { timeoutMs: 5000 });
    await c.stateWhen('the faulty query to reach the backend', (s) => s.backend.lines === 1);
    let recoveriesWhenBenignAnswered = -1;
    const benign = query(c, 'b', crash === 'reply' ? '&delay=200' : '&delay=0', 3000).then((r) => {
      recoveriesWhenBenignAnswered = c.recoveries().length;
      return r;
    });
    const s = await c.stateWhen('the benign query to reach the backend', (st) => st.backend.lines === 2);
    assert.equal(s.backend.accepted, 1, 'both queries went over one connection');
    assert.equal(c.recoveries().length, 0, 'the faulty request is still waiting when the benign one writes');
    await openGate(c, 'backend');
    if (crash === 'gate') {
      assert.equal(show(await benign), '200 "1:b"', 'the benign request gets its answer before the crash');
      await openGate(c, 'crash');
    }

    assert.equal(show(await faulty), '500 "Internal Server Error\\n"');
    const benignReply = await benign;
    assert.equal(show(benignReply), '200 "1:b"', `the benign request gets its answer on the shared connection\n${c.server.stderr()}`);
    assert.equal(recoveriesWhenBenignAnswered, crash === 'reply' ? 1 : 0, 'the benign reply arrives after / before the crash');

    const event = await c.recovery(faultyUrl);
    assert.equal(event.released.sockets, 0, `the shared socket is not destroyed: ${JSON.stringify(event.released)}`);
    assert.equal(event.released.listeners, 0, `the shared socket keeps its handlers: ${JSON.stringify(event.released)}`);

    await laterQueriesSucceed(c, 1);
    const end = await c.state();
    assert.deepEqual(end.backend.open, [1], 'still the same, single connection');
    assert.equal(end.backend.accepted, 1);
    assert.deepEqual(
      { connected: end.client.connected, destroyed: end.client.destroyed, connects: end.client.connects, closes: end.client.closes, pending: end.client.pending },
      { connected: true, destroyed: false, connects: 1, closes: 0, pending: 0 },
    );
    c.onlyTheRecovery();
  };
}

/**
 * A2: the faulty request opens the connection inside outsideRequest() and
 * crashes before anyone else used it: `'sync'` right after writing its query
 * (the socket is still connecting), `'reply'` in its reply's continuation.
 */
function connectedOutside(crash: 'sync' | 'reply') {
  return async (c: Case) => {
    const faultyUrl = `/q?v=f&delay=50&crash=${crash}`;
    assert.equal(show(await request(c.port, faultyUrl, { timeoutMs: 3000 })), '500 "Internal Server Error\\n"');
    const event = await c.recovery(faultyUrl);
    assert.equal(event.released.sockets, 0, `a connection opened outside any request is not the request's: ${JSON.stringify(event.released)}`);

    await laterQueriesSucceed(c, 1);
    const end = await c.state();
    assert.equal(end.backend.accepted, 1, 'the connection the faulty request opened is reused');
    assert.deepEqual(end.backend.open, [1]);
    assert.deepEqual(
      { connected: end.client.connected, connects: end.client.connects, closes: end.client.closes, pending: end.client.pending },
      { connected: true, connects: 1, closes: 0, pending: 0 },
    );
    c.onlyTheRecovery();
  };
}

/**
 * A3, the default: the faulty request opens the connection (no
 * outsideRequest) and crashes before anyone else used it. The socket is the
 * request's: destroyed. Its listeners stay (the socket is an emitter the
 * request created) but run in the recovered request's context from then on,
 * so the client's 'close' handler runs when the socket closes:
 *  - app code: the handler's writes to shared state are refused (the journal
 *    already put the client's fields back: no connection), so `closes` stays 0
 *    and the next query reconnects;
 *  - dependency (not instrumented): the handler drops the dead socket itself
 *    (`closes` 1), and the next query reconnects.
 */
function ownedConnection(crash: 'sync' | 'reply', expect: 'refused' | 'ran') {
  return async (c: Case) => {
    const faultyUrl = `/q?v=f&delay=50&crash=${crash}`;
    assert.equal(show(await request(c.port, faultyUrl, { timeoutMs: 3000 })), '500 "Internal Server Error\\n"');
    const event = await c.recovery(faultyUrl);
    assert.equal(event.released.sockets, 1, `the faulty request's connection is destroyed: ${JSON.stringify(event.released)}`);
    assert.equal(event.released.listeners, 0, `the socket it created keeps its listeners: ${JSON.stringify(event.released)}`);

    const gone = await c.stateWhen('the backend to see the connection closed', (s) => s.backend.open.length === 0);
    if (expect === 'refused') {
      // The faulty request's writes to the client (sock, connects, pending) were rolled back,
      // and its 'close' handler, confined to the recovered request, could not write.
      const settled = await c.stateWhen('the client to look unconnected', (s) => !s.client.connected);
      assert.deepEqual(settled.client, { connected: false, destroyed: false, localPort: null, connects: 0, closes: 0, errors: 0, pending: 0 });
      assert.ok(event.state.restored >= 2, `the client's fields are restored: ${JSON.stringify(event.state)}`);
    } else {
      const settled = await c.stateWhen("the client's 'close' handler to run", (s) => s.client.closes === 1);
      assert.equal(settled.client.connected, false, 'the client dropped the dead socket');
    }
    const accepted = gone.backend.accepted; // 0 or 1: destroyed while connecting may or may not have reached accept()
    await laterQueriesSucceed(c, accepted + 1);
    const end = await c.state();
    assert.deepEqual(end.backend.open, [accepted + 1], 'one new connection');
    assert.equal(end.client.connected, true);
    // The confined 'close' handler's refused write, or its rejection of the pending query.
    c.onlyTheRecovery(true);
  };
}

interface BatchExpect {
  releasedTimers: number;
  /** The batch right after the recovery, before the flush time. */
  afterCrash: BatchState;
  /** Past the flush time of the timer the faulty request's add started. */
  afterFlushTime: BatchState;
  /** A later add 'c', past its flush time. */
  afterNextAdd: BatchState;
}

/** Waits until `flushBy` has passed, then for the batch to equal `expected` (it must still, or now, do so). */
async function batchAt(c: Case, flushBy: number, expected: BatchState, what: string): Promise<void> {
  await sleep(Math.max(0, flushBy + 200 - Date.now()));
  const deadline = Date.now() + 2000;
  let batch = (await c.state()).batch;
  while (!isDeepStrictEqual(batch, expected) && Date.now() < deadline) {
    await sleep(20);
    batch = (await c.state()).batch;
  }
  assert.deepEqual(batch, expected, what);
}

/**
 * B: the faulty request adds 'f' (its add starts the flush timer), a benign
 * request adds 'b' (the timer is already running), then the faulty request
 * crashes in a timer of its own (gate 'crash'), before the flush. Later,
 * another add 'c'.
 */
function batchFlush(expect: BatchExpect) {
  return async (c: Case) => {
    const faultyUrl = `/batch?entry=f&crash=gate`;
    const faulty = request(c.port, faultyUrl, { timeoutMs: 5000 });
    await c.stateWhen("the faulty request's entry", (s) => s.batch.entries.includes('f'));
    const firstFlushBy = Date.now() + BATCH_MS; // its add, and so its timer, started before it was visible
    assert.equal(show(await request(c.port, '/batch?entry=b', { timeoutMs: 2000 })), '202 "queued"');
    await openGate(c, 'crash');
    assert.equal(show(await faulty), '500 "Internal Server Error\\n"');
    const event = await c.recovery(faultyUrl);
    assert.equal(event.released.timers, expect.releasedTimers, `released: ${JSON.stringify(event.released)}`);

    assert.deepEqual((await c.state()).batch, expect.afterCrash, 'right after the recovery (before the flush time)');
    await batchAt(c, firstFlushBy, expect.afterFlushTime, "past the flush time of the faulty request's timer");

    assert.equal(show(await request(c.port, '/batch?entry=c', { timeoutMs: 2000 })), '202 "queued"');
    await batchAt(c, Date.now() + BATCH_MS, expect.afterNextAdd, "past the flush time of the later add's timer");
    c.onlyTheRecovery();
  };
}

// --- the table ------------------------------------------------------------------------

interface Row {
  name: string;
  lib: Lib;
  setup: Setup;
  /** A known bug makes this row fail today: it runs as todo, with the bug as the reason. */
  bug?: string;
  run(c: Case): Promise<void>;
}

const BUG_JOURNAL =
  "the journal rolls back the client's fields the faulty request wrote when it connected (client.sock, client.connects): " +
  'the shared socket stays open with nobody referring to it (a leaked connection) and the next query opens a new one';
const BUG_REPLY_QUEUE =
  "in app code, the journal takes the faulty request's waiter out of the client's reply queue, but its " +
  'query already went to the socket, so its reply is handed to the next benign query (crossed replies)';

const rows: Row[] = [
  { name: 'A1 shared connection, faulty crashes in its reply before the benign reply', lib: 'app', setup: 'inline', bug: BUG_JOURNAL, run: sharedConnection('reply') },
  { name: 'A1 shared connection, faulty crashes in its reply before the benign reply', lib: 'dependency', setup: 'inline', run: sharedConnection('reply') },
  { name: 'A1 shared connection, faulty crashes in a timer after the benign reply', lib: 'app', setup: 'inline', bug: BUG_JOURNAL, run: sharedConnection('gate') },
  { name: 'A1 shared connection, faulty crashes in a timer after the benign reply', lib: 'dependency', setup: 'inline', run: sharedConnection('gate') },
  { name: 'A2 connected in outsideRequest, faulty crashes while it is connecting', lib: 'app', setup: 'outside', bug: BUG_REPLY_QUEUE, run: connectedOutside('sync') },
  { name: 'A2 connected in outsideRequest, faulty crashes while it is connecting', lib: 'dependency', setup: 'outside', run: connectedOutside('sync') },
  { name: 'A2 connected in outsideRequest, faulty crashes in its reply', lib: 'app', setup: 'outside', run: connectedOutside('reply') },
  { name: 'A2 connected in outsideRequest, faulty crashes in its reply', lib: 'dependency', setup: 'outside', run: connectedOutside('reply') },
  { name: 'A3 connected by the faulty request alone (default), crash while connecting: the journal resets the client', lib: 'app', setup: 'inline', run: ownedConnection('sync', 'refused') },
  { name: 'A3 connected by the faulty request alone (default), crash while connecting: the client sees the close', lib: 'dependency', setup: 'inline', run: ownedConnection('sync', 'ran') },
  { name: 'A3 connected by the faulty request alone (default), crash in its reply: the journal resets the client', lib: 'app', setup: 'inline', run: ownedConnection('reply', 'refused') },
  { name: 'A3 connected by the faulty request alone (default), crash in its reply: the client sees the close', lib: 'dependency', setup: 'inline', run: ownedConnection('reply', 'ran') },
  {
    name: 'B1 flush timer started in outsideRequest: the benign entry is flushed (the faulty one taken out)',
    lib: 'app',
    setup: 'outside',
    run: batchFlush({
      releasedTimers: 0,
      afterCrash: { entries: ['b'], timerPending: true, flushed: [], flushes: 0 },
      afterFlushTime: { entries: [], timerPending: false, flushed: ['b'], flushes: 1 },
      afterNextAdd: { entries: [], timerPending: false, flushed: ['b', 'c'], flushes: 2 },
    }),
  },
  {
    name: 'B1 flush timer started in outsideRequest: the benign entry is flushed (with the faulty one: not journaled)',
    lib: 'dependency',
    setup: 'outside',
    run: batchFlush({
      releasedTimers: 0,
      afterCrash: { entries: ['f', 'b'], timerPending: true, flushed: [], flushes: 0 },
      afterFlushTime: { entries: [], timerPending: false, flushed: ['f', 'b'], flushes: 1 },
      afterNextAdd: { entries: [], timerPending: false, flushed: ['f', 'b', 'c'], flushes: 2 },
    }),
  },
  {
    name: 'B2 flush timer started by the faulty request (default): cleared; the benign entry waits for the next add',
    lib: 'app',
    setup: 'inline',
    run: batchFlush({
      releasedTimers: 1,
      afterCrash: { entries: ['b'], timerPending: false, flushed: [], flushes: 0 },
      afterFlushTime: { entries: ['b'], timerPending: false, flushed: [], flushes: 0 },
      afterNextAdd: { entries: [], timerPending: false, flushed: ['b', 'c'], flushes: 1 },
    }),
  },
  {
    name: 'B2 flush timer started by the faulty request (default): cleared; the batch never flushes again',
    lib: 'dependency',
    setup: 'inline',
    run: batchFlush({
      releasedTimers: 1,
      afterCrash: { entries: ['f', 'b'], timerPending: true, flushed: [], flushes: 0 },
      afterFlushTime: { entries: ['f', 'b'], timerPending: true, flushed: [], flushes: 0 },
      afterNextAdd: { entries: ['f', 'b', 'c'], timerPending: true, flushed: [], flushes: 0 },
    }),
  },
];

describe('resources created lazily on behalf of everyone', { timeout: 180_000 }, () => {
  let depDir: string;
  let depLib: string;

  before(() => {
    // The same client and batch code as a dependency: under a node_modules folder, not instrumented by default.
    depDir = fs.mkdtempSync(path.join(os.tmpdir(), 'srs-shared-resources-'));
    depLib = path.join(depDir, 'node_modules', 'srs-test-lazy', 'index.js');
    fs.mkdirSync(path.dirname(depLib), { recursive: true });
    fs.copyFileSync(LIB, depLib);
  });

  after(() => {
    if (depDir) fs.rmSync(depDir, { recursive: true, force: true });
  });

  for (const row of rows) {
    it(`${row.name} [${row.lib}, ${row.setup}]`, { timeout: 20_000, todo: row.bug }, async () => {
      const server = await startServer({
        mode: 'srs',
        entry: APP,
        env: { SRS_TEST_SETUP: row.setup, SRS_TEST_LIB: row.lib === 'app' ? LIB : depLib, SRS_TEST_BATCH_MS: String(BATCH_MS) },
      });
      try {
        await row.run(new Case(server));
      } finally {
        await server.stop();
      }
    });
  }
});
