/**
 * The journal's hot path alone, without HTTP: simulated requests write the
 * realistic app's long-lived state (bench/apps/realistic-shared.js: counters,
 * a session, an LRU entry moved by Map delete + set; nine journaled writes a
 * request) through the same barrier calls instrumented code makes, with N
 * requests open at once, each committed when it ends (oldest first). Prints
 * ns per request for each N, against the same loop with no request open (the
 * barrier's fast path), so that a change to journal.ts can be judged in
 * seconds and, under `valgrind --tool=callgrind`, in instructions. A cost
 * that grows with N is a cost per watcher of a hot location.
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
  const flags = parseFlags(process.argv.slice(2), new Set(['--open', '--requests', '--repeat']), new Set(), USAGE, fail);
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
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;
  // The barrier's flag and the idle sweep settle on later turns of the event loop: let them, between measurements.
  const settle = () => new Promise((resolve) => setTimeout(resolve, 20));
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
    `Journal hot path, Node ${process.version}: nine journaled writes a simulated request, median of ${repeat} × ${requests} requests\n\n` +
      `| requests open at once | ns per request |\n|---:|---:|\n${rows.join('\n')}\n`,
  );
}

main().catch((err: unknown) => {
  process.stderr.write(`journal: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
