/**
 * Guarantee 6, escalate when unsafe: a crash no request owns, a fault inside
 * SRS, memory exhaustion or a crash loop beyond the budget make SRS stop
 * accepting, let the requests in flight finish (up to the drain deadline) and
 * exit with the reason's own code. Before any server listens there is nothing
 * to protect: a crash is node's business.
 */
import assert = require('node:assert/strict');
import { describe, test } from 'node:test';
import { exitCodes } from '../src/runtime/errors';
import { fixture, request, sleep, startServer, type Reply, type ServerProcess } from './helpers';
import { registerPath, runNode, srsCli, waitFor, within } from './run-helpers';

const escServer = fixture('esc-server.js');

const eventsOf = (s: ServerProcess, type: string) => s.events().filter((e) => e.type === type);
const waitForEvent = (s: ServerProcess, type: string, timeoutMs = 5000) =>
  waitFor(() => s.events().find((e) => e.type === type), `a ${type} event; stderr so far:\n${s.stderr()}`, timeoutMs);
const stillUp = (s: ServerProcess) => s.child.exitCode === null && s.child.signalCode === null;

/** The listening socket closes right after the escalation event is written: allow it a moment. */
async function refusedWithin(port: number, ms: number): Promise<Reply> {
  const deadline = Date.now() + ms;
  for (;;) {
    const reply = await request(port, '/', { timeoutMs: 2000 });
    if (reply.error === 'ECONNREFUSED' || Date.now() > deadline) return reply;
    await sleep(20);
  }
}

describe('escalation: a crash no request owns', { concurrency: 2, timeout: 60_000 }, () => {
  const cases = [
    { name: 'a throw from an interval started at startup', how: 'throw', crash: 'uncaughtException', message: 'housekeeping failed (unowned)' },
    { name: 'a rejection from a timer started when the server began listening', how: 'reject', crash: 'unhandledRejection', message: 'background refresh failed (unowned)' },
  ];
  for (const c of cases) {
    test(`${c.name}: stops accepting, lets the slow request finish, exits 81`, { timeout: 20_000 }, async () => {
      const s = await startServer({ mode: 'srs', entry: escServer, srsArgs: ['--drain-timeout-ms', '8000'] });
      try {
        const slow = request(s.port, '/slow?ms=2500', { timeoutMs: 8000 });
        await waitFor(() => s.stdout().includes('slow-start'), 'the slow request to start');
        const armed = await request(s.port, `/arm?how=${c.how}`);
        assert.equal(armed.status, 200);

        const escalation = await waitForEvent(s, 'srs.escalation');
        assert.equal(escalation.reason, 'unowned-crash');
        assert.equal(escalation.exitCode, exitCodes['unowned-crash']);
        assert.equal(escalation.crash, c.crash);
        assert.equal(escalation.error.message, c.message);
        assert.equal(escalation.inflight, 1, 'the slow request is in flight');
        assert.equal(eventsOf(s, 'srs.recovery').length, 0, 'nothing to recover: no request owns the crash');

        // New connections are refused...
        const refused = await refusedWithin(s.port, 1000);
        assert.equal(refused.error, 'ECONNREFUSED', JSON.stringify(refused));
        // ...while the process waits for the request in flight,
        assert.ok(stillUp(s), 'still draining');
        assert.equal(eventsOf(s, 'srs.exit').length, 0);
        // which completes as if nothing had happened.
        const slowReply = await slow;
        assert.deepEqual({ status: slowReply.status, body: slowReply.body }, { status: 200, body: 'slow done' });

        const exit = await within(s.exited, 5000, 'exit after the drain');
        assert.deepEqual(exit, { code: 81, signal: null });
        const exits = eventsOf(s, 'srs.exit');
        assert.equal(exits.length, 1);
        assert.deepEqual(
          { reason: exits[0]!.reason, exitCode: exits[0]!.exitCode, how: exits[0]!.how, unfinished: exits[0]!.unfinished },
          { reason: 'unowned-crash', exitCode: 81, how: 'drained', unfinished: 0 },
        );
      } finally {
        await s.stop();
      }
    });
  }

  // A thrown value whose message cannot become a string must not make the
  // escalation itself fail (no event, no drain).
  test('an unowned crash with an opaque thrown value still reports and drains', { timeout: 20_000 }, async () => {
    const s = await startServer({ mode: 'srs', entry: escServer, srsArgs: ['--drain-timeout-ms', '8000'] });
    try {
      const slow = request(s.port, '/slow?ms=1500', { timeoutMs: 8000 });
      await waitFor(() => s.stdout().includes('slow-start'), 'the slow request to start');
      await request(s.port, '/arm?how=throw-opaque');
      const exit = await within(s.exited, 8000, 'exit');
      const slowReply = await slow;
      assert.equal(eventsOf(s, 'srs.escalation').length, 1, `an escalation event; stderr: ${JSON.stringify(s.stderr())}`);
      assert.equal(slowReply.status, 200, `the slow request drained: ${JSON.stringify(slowReply)}`);
      assert.deepEqual(exit, { code: 81, signal: null });
    } finally {
      await s.stop();
    }
  });

  test('the drain deadline: a request slower than --drain-timeout-ms is cut, exit 81 near the deadline', { timeout: 20_000 }, async () => {
    const s = await startServer({ mode: 'srs', entry: escServer, srsArgs: ['--drain-timeout-ms', '300'] });
    try {
      const slow = request(s.port, '/slow?ms=5000', { timeoutMs: 8000 });
      await waitFor(() => s.stdout().includes('slow-start'), 'the slow request to start');
      await request(s.port, '/arm?how=throw');
      const escalation = await waitForEvent(s, 'srs.escalation');
      assert.equal(escalation.reason, 'unowned-crash');
      assert.equal(escalation.drainTimeoutMs, 300);

      const exit = await within(s.exited, 3000, 'exit at the drain deadline');
      assert.deepEqual(exit, { code: 81, signal: null });
      const exitEvent = await waitForEvent(s, 'srs.exit');
      assert.equal(exitEvent.how, 'deadline');
      assert.equal(exitEvent.unfinished, 1);
      const waited = Date.parse(exitEvent.time) - Date.parse(escalation.time);
      assert.ok(waited >= 290 && waited < 1500, `exit ${waited} ms after the escalation, deadline 300 ms`);

      const slowReply = await slow;
      assert.equal(slowReply.status, undefined, `the slow request did not complete: ${JSON.stringify(slowReply)}`);
      assert.ok(slowReply.error, 'its connection was cut');
    } finally {
      await s.stop();
    }
  });
});

describe('escalation after a recovery: crash budget and memory', { concurrency: 2, timeout: 60_000 }, () => {
  const cases = [
    { name: '--budget 2: the third crash within the window', srsArgs: ['--budget', '2', '--budget-window-ms', '60000'], crashes: 3, reason: 'budget-exceeded', code: 83 },
    { name: 'SRS_BUDGET=1: the second crash within the window', env: { SRS_BUDGET: '1', SRS_BUDGET_WINDOW_MS: '60000' }, crashes: 2, reason: 'budget-exceeded', code: 83 },
    { name: '--heap-limit 0.0001: the first recovery finds the heap over the limit', srsArgs: ['--heap-limit', '0.0001'], crashes: 1, reason: 'memory-exhausted', code: 84 },
    { name: 'SRS_HEAP_LIMIT=0.0001', env: { SRS_HEAP_LIMIT: '0.0001' }, crashes: 1, reason: 'memory-exhausted', code: 84 },
  ] as const;
  for (const c of cases) {
    test(`${c.name} → ${c.reason}, exit ${c.code}`, { timeout: 20_000 }, async () => {
      assert.equal(exitCodes[c.reason], c.code);
      const s = await startServer({ mode: 'srs', entry: escServer, srsArgs: 'srsArgs' in c ? [...c.srsArgs] : [], env: 'env' in c ? c.env : {} });
      try {
        for (let i = 1; i < c.crashes; i++) {
          const crash = await request(s.port, '/crash');
          assert.equal(crash.status, 500, `crash ${i} is recovered`);
          const ok = await request(s.port, '/');
          assert.equal(ok.status, 200, `still serving after crash ${i}`);
          assert.equal(eventsOf(s, 'srs.escalation').length, 0, `no escalation after crash ${i}`);
        }
        const last = await request(s.port, '/crash');
        assert.equal(last.status, 500, 'the request that tips it over is still isolated');
        const escalation = await waitForEvent(s, 'srs.escalation');
        assert.equal(escalation.reason, c.reason);
        assert.equal(escalation.exitCode, c.code);
        assert.equal(escalation.request.url, '/crash');
        assert.equal(escalation.error.name, 'TypeError');
        if (c.reason === 'budget-exceeded') assert.equal(escalation.budget, c.crashes - 1);
        else assert.ok(escalation.heapUsed > escalation.heapLimit * 0.0001);

        const exit = await within(s.exited, 5000, 'exit after the escalation');
        assert.deepEqual(exit, { code: c.code, signal: null });
        const recoveries = eventsOf(s, 'srs.recovery');
        assert.equal(recoveries.length, c.crashes, 'every crash was recovered first');
        const exits = eventsOf(s, 'srs.exit');
        assert.equal(exits.length, 1);
        assert.equal(exits[0]!.reason, c.reason);
        assert.equal(exits[0]!.how, 'drained');
        // Events in order: the last recovery, then the escalation, then the exit.
        const order = s.events().map((e) => e.type);
        assert.deepEqual(order.slice(-3), ['srs.recovery', 'srs.escalation', 'srs.exit']);
      } finally {
        await s.stop();
      }
    });
  }
});

describe('escalation: a fault inside SRS', { timeout: 30_000 }, () => {
  // The app's own lazy normalizer turns a shared property the request wrote
  // into a getter that throws URIError on a malformed path. The request
  // crashes on it (recoverable), and SRS, rolling back the request's write to
  // that property, reads it and gets the same URIError inside its recovery.
  test('recovery throws (rolling back a shared property that became a throwing getter) → internal-fault, exit 82', async () => {
    const s = await startServer({ mode: 'srs', entry: escServer });
    try {
      const ok = await request(s.port, '/');
      assert.equal(ok.status, 200);
      const started = Date.now();
      await request(s.port, '/hostile/%E0%A4%A', { timeoutMs: 3000 });
      const exit = await within(s.exited, 3000, 'exit after the internal fault');
      assert.deepEqual(exit, { code: 82, signal: null });
      assert.ok(Date.now() - started < 3000);

      const escalation = eventsOf(s, 'srs.escalation');
      assert.equal(escalation.length, 1, s.stderr());
      assert.equal(escalation[0]!.reason, 'internal-fault');
      assert.equal(escalation[0]!.exitCode, exitCodes['internal-fault']);
      assert.equal(escalation[0]!.error.name, 'URIError', 'the fault SRS hit');
      assert.match(escalation[0]!.error.stack, /rollback/);
      assert.equal(escalation[0]!.original.name, 'URIError', "the app's crash it was recovering from");
      assert.equal(escalation[0]!.crash, 'uncaughtException');
      assert.equal(eventsOf(s, 'srs.recovery').length, 0, 'the recovery did not complete');
      const exits = eventsOf(s, 'srs.exit');
      assert.equal(exits.length, 1);
      assert.equal(exits[0]!.reason, 'internal-fault');
      assert.equal(exits[0]!.exitCode, 82);
    } finally {
      await s.stop();
    }
  });
});

describe('no escalation before any server listens: a crash is node\'s', { concurrency: 2, timeout: 60_000 }, () => {
  const entry = fixture('esc-async-throw.js');
  for (const how of ['throw', 'reject']) {
    for (const launch of [[srsCli, 'run'], ['-r', registerPath], ['--import', registerPath]]) {
      test(`async ${how} in a script that never listens: ${launch[0] === srsCli ? 'srs run' : `node ${launch[0]} srs/register`}`, async () => {
        const [plain, underSrs] = await Promise.all([runNode([entry, how]), runNode([...launch, entry, how])]);
        assert.equal(plain.code, 1, plain.stderr);
        assert.deepEqual(
          { code: underSrs.code, signal: underSrs.signal, stdout: underSrs.stdout, stderr: underSrs.stderr },
          { code: plain.code, signal: plain.signal, stdout: plain.stdout, stderr: plain.stderr },
        );
        assert.match(underSrs.stderr, /batch job failed/);
        assert.doesNotMatch(underSrs.stderr, /"type":"srs\./);
      });
    }
  }
});
