/**
 * Fault injection against a real Express 5 app (test/fixtures/fault-app.js)
 * under `srs run`. Each run replays a fixed traffic script in a namespace of
 * its own; one random request of the script (in about a quarter of the runs,
 * two) gets `x-fail-at: N` (a random write index, 0 … its number of writes)
 * and throws just before that write, synchronously, in a timer, or in a
 * promise nobody awaits (the mode is random per run). A faulty request is
 * sent without waiting for it, so in the timer and promise modes its writes
 * interleave with the next requests' (and with the other faulty one's).
 *
 * The oracle is a second server, under plain node, that gets the same runs in
 * the same order without the faulty requests. After every run the whole
 * shared state of both (the run's own sessions and cache keys, and the
 * totals, audit log and module variables all runs share) must be equal.
 *
 * Seedable: SRS_FI_SEED=<n> replays a failing sequence; SRS_FI_RUNS=<n>
 * changes the number of runs. The seed is printed on failure.
 */
import { after, before, describe, it } from 'node:test';
import assert = require('node:assert/strict');
import { fixture, request, sleep, startServer, type Reply, type ServerProcess } from './helpers';

const APP = fixture('fault-app.js');
const SEED = process.env.SRS_FI_SEED !== undefined ? Number(process.env.SRS_FI_SEED) : Date.now() % 2 ** 31;
const RUNS = Number(process.env.SRS_FI_RUNS ?? 24);
const MODES = ['sync', 'timer', 'promise'] as const;
type Mode = (typeof MODES)[number];

/** mulberry32: small, fast, good enough to pick faults. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface Req {
  method: 'GET' | 'POST';
  path: string;
  /** The setup request makes the run's sessions; it is never the faulty one. */
  faultable: boolean;
}

const SCRIPT: Req[] = [
  { method: 'POST', path: '/setup', faultable: false },
  { method: 'GET', path: '/visit?user=u1', faultable: true },
  { method: 'POST', path: '/cart/add?user=u1&item=apple&price=3', faultable: true },
  { method: 'GET', path: '/login?user=u3', faultable: true },
  { method: 'POST', path: '/cart/add?user=u1&item=pear&price=5', faultable: true },
  { method: 'GET', path: '/cache/put?key=color&value=red', faultable: true },
  { method: 'GET', path: '/visit?user=u2', faultable: true },
  { method: 'POST', path: '/order?user=u1&id=o1&amount=8', faultable: true },
  { method: 'POST', path: '/cart/add?user=u2&item=fig&price=2', faultable: true },
  { method: 'GET', path: '/tag?user=u1&tag=vip', faultable: true },
  { method: 'GET', path: '/cache/del?key=color', faultable: true },
  { method: 'GET', path: '/logout?user=u3', faultable: true },
  { method: 'POST', path: '/refund?user=u1&id=o1&amount=8', faultable: true },
  { method: 'GET', path: '/visit?user=u1', faultable: true },
  { method: 'GET', path: '/cache/put?key=color&value=blue', faultable: true },
  { method: 'POST', path: '/order?user=u2&id=o2&amount=2', faultable: true },
  { method: 'GET', path: '/visit?user=u2', faultable: true },
];

interface Fault {
  index: number;
  failAt: number;
  mode: Mode;
  /** How long the test waits after sending the faulty request before it goes on. */
  overlapMs: number;
  /** Timer and promise modes: the faulty request's pause between two writes. */
  stepMs: number;
}

function show(reply: Reply): string {
  return reply.error ? `error ${reply.error}` : `${reply.status} ${JSON.stringify(reply.body)}`;
}

const send = (server: ServerProcess, req: Req, headers: Record<string, string>) =>
  request(server.port, req.path, { method: req.method, headers, timeoutMs: 5000 });

/**
 * Sends the script one request at a time; returns each request's number of
 * writes (x-writes). The requests in `faults` are the faulty ones; those in
 * `omit` are left out (the oracle's traffic).
 */
async function drive(server: ServerProcess, ns: string, mode: Mode, faults: Fault[] = [], omit: number[] = []): Promise<{ writes: number[]; faulty: Reply[] }> {
  const writes: number[] = [];
  const faulty: Array<Promise<Reply>> = [];
  for (let i = 0; i < SCRIPT.length; i++) {
    if (omit.includes(i)) continue;
    const req = SCRIPT[i]!;
    const headers: Record<string, string> = { 'x-ns': ns, 'x-mode': mode };
    const fault = faults.find((f) => f.index === i);
    if (fault) {
      headers['x-fail-at'] = String(fault.failAt);
      headers['x-step-ms'] = String(fault.stepMs);
      faulty.push(send(server, req, headers)); // not awaited: it stays in flight while the next requests run
      if (fault.overlapMs > 0) await sleep(fault.overlapMs);
      continue;
    }
    const reply = await send(server, req, headers);
    assert.equal(reply.status, 200, `${ns} ${req.method} ${req.path}: ${show(reply)}`);
    writes[i] = Number(reply.headers!['x-writes']);
  }
  return { writes, faulty: await Promise.all(faulty) };
}

async function stateOf(server: ServerProcess): Promise<unknown> {
  const reply = await request(server.port, '/state', { timeoutMs: 5000 });
  assert.equal(reply.status, 200, `/state: ${show(reply)}`);
  return JSON.parse(reply.body!);
}

/** Where two JSON values differ, as path: got vs expected lines (the full diff of two states is unreadable). */
function differences(got: unknown, expected: unknown, path = '$', out: string[] = []): string[] {
  if (JSON.stringify(got) === JSON.stringify(expected)) return out;
  if (got && expected && typeof got === 'object' && typeof expected === 'object' && Array.isArray(got) === Array.isArray(expected)) {
    const keys = new Set([...Object.keys(got), ...Object.keys(expected)]);
    for (const k of keys) differences((got as any)[k], (expected as any)[k], `${path}.${k}`, out);
    return out;
  }
  out.push(`${path}: got ${JSON.stringify(got)}, oracle ${JSON.stringify(expected)}`);
  return out;
}

const recoveries = (server: ServerProcess) => server.events().filter((e) => e.type === 'srs.recovery');

async function waitForRecoveries(server: ServerProcess, n: number, ms: number): Promise<Array<Record<string, any>>> {
  const deadline = Date.now() + ms;
  for (;;) {
    const found = recoveries(server);
    if (found.length >= n || Date.now() >= deadline) return found;
    await sleep(10);
  }
}

describe(`fault injection into an Express 5 app (seed ${SEED}, ${RUNS} runs)`, { timeout: 90_000 }, () => {
  let srs: ServerProcess;
  let oracle: ServerProcess;
  let writes: number[];

  before(async () => {
    [srs, oracle] = await Promise.all([startServer({ mode: 'srs', entry: APP }), startServer({ mode: 'node', entry: APP })]);
    // Calibration: the script without faults on both, which also learns each request's number of writes.
    const [a, b] = await Promise.all([drive(srs, 'calibrate', 'sync'), drive(oracle, 'calibrate', 'sync')]);
    assert.deepEqual(a.writes, b.writes);
    writes = a.writes;
    assert.ok(writes.every((n, i) => n > 0 || !SCRIPT[i]!.faultable), `writes per request: ${writes}`);
  });

  after(async () => {
    await Promise.all([srs?.stop(), oracle?.stop()]);
  });

  it('without a fault, srs and plain node end in the same state', async () => {
    assert.deepEqual(await stateOf(srs), await stateOf(oracle));
    assert.deepEqual(srs.events(), []);
  });

  it('every run ends in the oracle state: the same traffic without the faulty request', { timeout: 80_000 }, async (t) => {
    const random = rng(SEED);
    const pick = (n: number) => Math.floor(random() * n);
    const faultable = SCRIPT.map((r, i) => (r.faultable ? i : -1)).filter((i) => i >= 0);
    const cases: Record<string, number> = { restored: 0, compensated: 0, cleansed: 0, propagated: 0, unresolved: 0 };
    const started = Date.now();
    let recovered = 0;
    for (let run = 0; run < RUNS; run++) {
      // Mostly one faulty request; in about a quarter of the runs a second one, possibly in flight together.
      const mode = MODES[pick(MODES.length)]!;
      const first = faultable[pick(faultable.length)]!;
      const indexes = random() < 0.25 ? [first, faultable.filter((i) => i !== first)[pick(faultable.length - 1)]!].sort((a, b) => a - b) : [first];
      const faults: Fault[] = indexes.map((index) => ({ index, failAt: pick(writes[index]! + 1), mode, overlapMs: pick(4), stepMs: pick(6) }));
      const ns = `run${run}`;
      const what =
        `seed ${SEED} run ${run} (${mode}): ` +
        faults
          .map((f) => `${SCRIPT[f.index]!.method} ${SCRIPT[f.index]!.path} fails before write ${f.failAt} of ${writes[f.index]} (overlap ${f.overlapMs} ms, steps ${f.stepMs} ms apart)`)
          .join(' and ') +
        `; replay with SRS_FI_SEED=${SEED}`;
      const [withFault] = await Promise.all([drive(srs, ns, mode, faults), drive(oracle, ns, mode, [], indexes)]);
      for (const reply of withFault.faulty) assert.equal(reply.status, 500, `${what}: a faulty request got ${show(reply)}`);
      recovered += faults.length;
      const events = await waitForRecoveries(srs, recovered, 3000);
      assert.equal(events.length, recovered, `${what}: one recovery per faulty request\n${srs.stderr()}`);
      const mine = events.slice(recovered - faults.length);
      assert.deepEqual(mine.map((e) => e.request.url).sort(), faults.map((f) => SCRIPT[f.index]!.path).sort(), what);
      for (const event of mine) {
        assert.match(event.error.message, /^injected fault before write \d+ /, what);
        assert.equal(event.crash, mode === 'promise' ? 'unhandledRejection' : 'uncaughtException', what);
        assert.equal(event.state.unresolved, 0, `${what}: ${JSON.stringify(event.state)}`);
        for (const k of Object.keys(cases)) cases[k]! += event.state[k];
      }
      const [got, expected] = await Promise.all([stateOf(srs), stateOf(oracle)]);
      const recovery = mine.map((e) => `${e.request.url}: ${JSON.stringify(e.state)} journal ${e.journal}`).join('; ');
      assert.deepEqual(got, expected, `${what}\nrecovery: ${recovery}\n${differences(got, expected).join('\n')}`);
      assert.equal(srs.child.exitCode, null, `${what}: the server is still running`);
    }
    assert.deepEqual(srs.events().filter((e) => e.type !== 'srs.recovery'), [], 'no escalation, no other event');
    t.diagnostic(`seed ${SEED}: ${RUNS} runs, ${recovered} faulty requests in ${Date.now() - started} ms; locations over all recoveries: ${JSON.stringify(cases)}`);
  });

  it(
    'a throw inside an Express route handler: Express answers 500 itself and its partial writes stay',
    { todo: 'a crash the framework handles is not rolled back (DESIGN: SRS stays out)' },
    async () => {
      const headers = { 'x-ns': 'in-handler', 'x-fail-at': '0' };
      const reply = await request(srs.port, '/in-handler', { headers, timeoutMs: 3000 });
      assert.equal(reply.status, 500);
      const { cache } = (await stateOf(srs)) as { cache: Array<[string, unknown]> };
      assert.ok(!cache.some(([k]) => k === 'in-handler:in-handler'), 'the faulty request’s cache entry was taken out');
    },
  );
});
