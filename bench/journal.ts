/**
 * The journal's hot path alone, without HTTP: simulated requests write the
 * realistic app's long-lived state (bench/apps/realistic-shared.js: counters,
 * a session, an LRU entry moved by Map delete + set; nine journaled writes a
 * request) through the same barrier calls instrumented code makes, with N
 * requests open at once, each committed when it ends (oldest first). Prints
 * ns per request for each N, against the same loop with no request open (the
 * barrier's fast path), so that a change to journal.ts can be judged in
 * seconds and, under `valgrind --tool=callgrind`, in instructions. A cost
 * that grows with N is a cost per watcher of a hot location. Before it
 * measures, it writes other state as a server's other code would (--seen):
 * without that, the journal is compiled for the handler's few shapes, and
 * the megamorphic accesses a server pays were missing (with the warm-up,
 * callgrind counted ~1.4 k instructions a journaled write, near the
 * realistic server's ~1.5 k).
 */
import { barrier as R } from '../src/runtime/barrier';
import { RequestContext, storage, type RequestInfo } from '../src/runtime/context';
import { commit, WriteKind } from '../src/runtime/journal';
import { contextEnded, contextOpened } from '../src/runtime/lifecycle';
import { parseFlags } from './lib/flags';

const USAGE = `usage: node dist/bench/journal.js [options]

  --open LIST      requests open at once, comma-separated (default 1,20,300)
  --requests N     simulated requests per measurement (default 200000)
  --repeat N       measurements per setting, the median is printed (default 5)
  --seen KINDS     what the journal's code has seen before the measurement, as
                   in a server whose other code writes other state: all (many
                   object shapes; properties, variables, Map entries, arrays and
                   Set members; the default), app (the same without Set members:
                   the kinds the realistic app writes) or none (the measured
                   requests only)
`;

function fail(message: string): never {
  process.stderr.write(`journal: ${message}\n\n${USAGE}`);
  process.exit(2);
}

class BenchContext extends RequestContext {
  describe(): RequestInfo {
    return { id: this.id, kind: 'bench' };
  }
  isolate(): string {
    return 'none';
  }
}

type Obj = Record<string, any>;
const counters: Obj = { requests: 0, reads: 0, byRoute: Object.create(null) };
const lru = { map: new Map<string, unknown>(), hits: 0 };
const sessions = new Map<string, Obj>();
for (let i = 0; i < 8; i++) sessions.set(`s${i}`, { hits: 0, lastRoute: '', lastSeen: 0 });
for (let i = 0; i < 64; i++) lru.map.set(`user:${i}`, { id: i });

/** GET /users/:id of the realistic app, written as the instrumenter rewrites it. */
function handler(i: number): void {
  (R.a ? R.j(counters, 'requests', WriteKind.Delta) : counters).requests++;
  const route = 'getUser';
  const byRoute = counters.byRoute as Obj;
  (R.a ? R.jc(byRoute, route, WriteKind.Assign) : byRoute)[(R.a ? R.k : route) as string] = (byRoute[route] || 0) + 1;
  (R.a ? R.j(counters, 'reads', WriteKind.Delta) : counters).reads++;
  const session = sessions.get(`s${i & 7}`)!;
  (R.a ? R.j(session, 'hits', WriteKind.Delta) : session).hits++;
  (R.a ? R.j(session, 'lastRoute', WriteKind.Assign) : session).lastRoute = route;
  (R.a ? R.j(session, 'lastSeen', WriteKind.Assign) : session).lastSeen = i;
  const key = `user:${i & 63}`;
  const value = lru.map.get(key);
  (R.a ? (R.m(lru.map, 'delete', 'lru.map.delete') as Map<string, unknown>) : lru.map).delete(key);
  (R.a ? (R.m(lru.map, 'set', 'lru.map.set') as Map<string, unknown>) : lru.map).set(key, value);
  (R.a ? R.j(lru, 'hits', WriteKind.Delta) : lru).hits++;
}

/**
 * Writes of a server's other code, made before the measurement (in requests,
 * through the barrier, as instrumented code makes them) so that the
 * journal's code is compiled with the type feedback a server gives it: many
 * object shapes and keys, and every kind of location. A benchmark that only
 * ever sees its own handler's few shapes measures code a server never runs.
 */
function writeOtherState(sets: boolean): void {
  class Base {
    x = 1;
  }
  class Derived extends Base {
    y = 2;
  }
  const objects: Obj[] = [];
  for (let i = 0; i < 60; i++) {
    const o: Obj = {};
    for (let k = 0; k <= i % 12; k++) o[`f${(i * 7 + k) % 23}`] = k;
    objects.push(o);
  }
  for (let i = 0; i < 20; i++) objects.push(i % 2 ? new Base() : new Derived(), Object.create(null) as Obj);
  const maps = [new Map<unknown, unknown>(), new Map<unknown, unknown>([[1, 2]])];
  const setsOf = [new Set<unknown>(), new Set<unknown>([1])];
  const arrays: unknown[][] = [[], [1, 2], ['a']];
  let n = 0;
  let text = '';
  const scope = R.sc0();
  const request = (round: number): void => {
    for (const o of objects) {
      const keys = Object.keys(o);
      const k = keys.length > 0 ? keys[round % keys.length]! : `z${round % 5}`;
      R.j(o, k, round % 3)[k] = round;
      R.jc(o, `q${round % 7}`, WriteKind.Assign)[R.k as string] = round;
    }
    for (const m of maps) {
      (R.m(m, 'set', 'm.set') as Map<unknown, unknown>).set(round % 9, round);
      (R.m(m, 'delete', 'm.delete') as Map<unknown, unknown>).delete((round + 3) % 9);
    }
    if (sets) {
      for (const st of setsOf) {
        (R.m(st, 'add', 'st.add') as Set<unknown>).add(round % 5);
        (R.m(st, 'delete', 'st.delete') as Set<unknown>).delete((round + 2) % 5);
      }
    }
    for (const a of arrays) {
      (R.m(a, 'push', 'a.push') as unknown[]).push(round);
      if (a.length > 8) (R.m(a, 'splice', 'a.splice') as unknown[]).splice(0, 4);
    }
    R.jv(scope, 'n', () => n, (v) => { n = v as number; }, WriteKind.Delta);
    n++;
    R.jv(scope, 'text', () => text, (v) => { text = v as string; }, WriteKind.Assign);
    text = `t${round}`;
  };
  for (let i = 0; i < 300; i++) {
    const ctx = new BenchContext();
    contextOpened();
    for (let round = 0; round < 3; round++) storage.run(ctx, request, i * 3 + round);
    end(ctx);
  }
}

function end(ctx: RequestContext): void {
  commit(ctx);
  contextEnded(ctx);
}

/** ns per request with `open` requests open at once; 0: no request at all (the fast path). */
function measure(open: number, requests: number): number {
  const ring: Array<RequestContext | null> = new Array(Math.max(open, 1)).fill(null);
  let at = 0;
  const started = process.hrtime.bigint();
  for (let i = 0; i < requests; i++) {
    if (open === 0) {
      handler(i);
      continue;
    }
    const ctx = new BenchContext();
    contextOpened();
    storage.run(ctx, handler, i);
    const done = ring[at];
    ring[at] = ctx;
    at = (at + 1) % open;
    // The oldest request ends and its work is over: lifecycle.ts would commit
    // it on a later turn of the event loop; here at once, so that N stays N.
    if (done !== null) end(done);
  }
  for (const ctx of ring) if (ctx !== null) end(ctx);
  return Number(process.hrtime.bigint() - started) / requests;
}

async function main(): Promise<void> {
  const flags = parseFlags(process.argv.slice(2), new Set(['--open', '--requests', '--repeat', '--seen']), new Set(), USAGE, fail);
  const int = (name: string, fallback: number, min: number): number => {
    const raw = flags.get(name);
    if (raw === undefined) return fallback;
    const n = Number(raw);
    if (!Number.isInteger(n) || n < min) fail(`${name} expects an integer ≥ ${min}, got "${String(raw)}"`);
    return n;
  };
  const opens = String(flags.get('--open') ?? '1,20,300').split(',').map((s) => {
    const n = Number(s.trim());
    if (!Number.isInteger(n) || n < 1) fail(`--open expects positive integers, got "${s}"`);
    return n;
  });
  const requests = int('--requests', 200_000, 1000);
  const repeat = int('--repeat', 5, 1);
  const seen = String(flags.get('--seen') ?? 'all');
  if (seen !== 'all' && seen !== 'app' && seen !== 'none') fail(`--seen expects all, app or none, got "${seen}"`);
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;
  // The barrier's flag and the idle sweep settle on later turns of the event loop: let them, between measurements.
  const settle = () => new Promise((resolve) => setTimeout(resolve, 20));
  if (seen !== 'none') writeOtherState(seen === 'all');
  measure(20, 20_000); // warm-up: the JIT sees every path first
  await settle();
  const rows: string[] = [];
  const fast: number[] = [];
  for (let r = 0; r < repeat; r++) fast.push(measure(0, requests));
  rows.push(`| none (fast path) | ${median(fast).toFixed(0)} |`);
  for (const open of opens) {
    const samples: number[] = [];
    for (let r = 0; r < repeat; r++) {
      samples.push(measure(open, requests));
      await settle();
    }
    rows.push(`| ${open} | ${median(samples).toFixed(0)} |`);
  }
  process.stdout.write(
    `Journal hot path, Node ${process.version}: nine journaled writes a simulated request, median of ${repeat} × ${requests} requests, other state seen before: ${seen}\n\n` +
      `| requests open at once | ns per request |\n|---:|---:|\n${rows.join('\n')}\n`,
  );
}

main().catch((err: unknown) => {
  process.stderr.write(`journal: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
