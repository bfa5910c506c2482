/**
 * Overhead benchmark: what SRS's request contexts cost a real server.
 *
 * The same three apps (bare node:http, Express 5, Fastify 5; bench/apps/)
 * run under `node` and under `srs run`, side by side in one run, loaded by
 * autocannon over loopback. This machine is noisy (rounds of one server swing
 * by up to ±30 %, and other processes share its two cores), so the benchmark
 *
 *  - pins the servers to one core and itself (the load generator) to another
 *    when taskset is available and there are at least two cores;
 *  - warms every server up before measuring;
 *  - interleaves the measured rounds node/srs in ABBA order, and reports
 *    medians over the rounds;
 *  - reports, besides requests/s, the server's CPU time per request (user+sys
 *    from /proc/<pid>/stat around each round), which is much steadier;
 *  - measures how much CPU other processes used during each round (from
 *    /proc/stat), waits for them to calm down before a round, measures a
 *    disturbed round again, and summarizes the clean rounds.
 *
 * The bench runs the servers with its own Node (process.execPath), so running
 * it under Node 24 measures Node 24. `--help` lists the options.
 */
import os = require('node:os');
import path = require('node:path');
import { request, startServer, type ServerProcess } from '../src/cli/server-process';
import { canPin, pause, pin, QUIET } from './lib/cpu';
import { fixed, int, median, publish, srsRevision } from './lib/report';
import { live, runBenchmark, stopAll, stopOnSignals } from './lib/servers';
import { parseFlags } from './lib/flags';
import { cleanRound, describeSample, measureLoad, usableRounds, type Sample, type Tally } from './lib/sample';

// --- options -----------------------------------------------------------------

type Mode = 'node' | 'srs';
const MODES: readonly Mode[] = ['node', 'srs'];

const APPS: Record<string, { label: string; file: string }> = {
  'plain-http': { label: 'node:http', file: 'plain-http.js' },
  express: { label: 'Express 5', file: 'express.js' },
  fastify: { label: 'Fastify 5', file: 'fastify.js' },
};

interface Options {
  quick: boolean;
  rounds: number;
  duration: number;
  warmup: number;
  connections: number;
  pipelining: number;
  apps: string[];
  pin: boolean;
  serverCpu: number;
  clientCpu: number;
  out: string | null;
  /** Load node and srs at the same time (sharing the server core) instead of one after the other. */
  concurrent: boolean;
  /** Before each round, wait up to this many seconds for other processes to go quiet (0: never). */
  waitQuiet: number;
}

const USAGE = `usage: node dist/bench/overhead.js [options]

  --quick             2 rounds x 1 s, 1 s warm-up (a smoke run; writes *-quick.md)
  --rounds N          measured rounds per server (env BENCH_ROUNDS, default 5)
  --duration S        seconds per round (env BENCH_DURATION, default 3)
  --warmup S          seconds of warm-up load per server (env BENCH_WARMUP, default 3)
  --connections N     autocannon connections (env BENCH_CONNECTIONS, default 50)
  --pipelining N      autocannon pipelining (env BENCH_PIPELINING, default 1)
  --apps LIST         comma-separated subset of ${Object.keys(APPS).join(',')} (env BENCH_APPS)
  --server-cpu N      core the servers are pinned to (default 0)
  --client-cpu N      core this process (autocannon) is pinned to (default 1)
  --no-pin            do not pin anything
  --concurrent        load node and srs at the same time (sharing the server core)
                      instead of one after the other (env BENCH_CONCURRENT=1)
  --wait-quiet S      before each round, wait up to S s while other processes use
                      more than a quarter of a core (env BENCH_WAIT_QUIET, default 30; 0: never)
  --out FILE          where to write the Markdown (default bench/results/overhead-node<major>.md)
  --no-write          print only
`;

function fail(message: string): never {
  process.stderr.write(`overhead: ${message}\n\n${USAGE}`);
  process.exit(2);
}

function parseNumber(raw: string | undefined, name: string, integer: boolean): number {
  const n = Number(raw);
  if (raw === undefined || raw.trim() === '' || !Number.isFinite(n) || n <= 0 || (integer && !Number.isInteger(n))) {
    fail(`${name} expects a positive ${integer ? 'integer' : 'number'}, got "${raw ?? ''}"`);
  }
  return n;
}

function parseWait(raw: string): number {
  const n = Number(raw);
  if (raw.trim() === '' || !Number.isFinite(n) || n < 0) fail(`wait-quiet expects a number of seconds ≥ 0, got "${raw}"`);
  return n;
}

function parseOptions(argv: string[], env: NodeJS.ProcessEnv): Options {
  const flags = parseFlags(argv, new Set(['--rounds', '--duration', '--warmup', '--connections', '--pipelining', '--apps', '--server-cpu', '--client-cpu', '--out', '--wait-quiet']), new Set(['--quick', '--no-pin', '--no-write', '--concurrent']), USAGE, fail);
  const quick = flags.has('--quick');
  const pick = (flag: string, envName: string, full: string, quickDefault: string): string =>
    (flags.get(flag) as string | undefined) ?? env[envName] ?? (quick ? quickDefault : full);

  const apps = pick('--apps', 'BENCH_APPS', Object.keys(APPS).join(','), Object.keys(APPS).join(','))
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
  for (const app of apps) if (!(app in APPS)) fail(`unknown app "${app}"`);
  if (apps.length === 0) fail('--apps is empty');

  const major = process.versions.node.split('.')[0];
  const concurrent = flags.has('--concurrent') || env.BENCH_CONCURRENT === '1';
  // One file per mode: a concurrent run does not overwrite the interleaved one.
  const defaultOut = path.join(__dirname, '..', '..', 'bench', 'results', `overhead-node${major}${concurrent ? '-concurrent' : ''}${quick ? '-quick' : ''}.md`);
  return {
    quick,
    rounds: parseNumber(pick('--rounds', 'BENCH_ROUNDS', '5', '2'), 'rounds', true),
    duration: parseNumber(pick('--duration', 'BENCH_DURATION', '3', '1'), 'duration', false),
    warmup: parseNumber(pick('--warmup', 'BENCH_WARMUP', '3', '1'), 'warmup', false),
    connections: parseNumber(pick('--connections', 'BENCH_CONNECTIONS', '50', '50'), 'connections', true),
    pipelining: parseNumber(pick('--pipelining', 'BENCH_PIPELINING', '1', '1'), 'pipelining', true),
    apps,
    pin: !flags.has('--no-pin'),
    serverCpu: Number(flags.get('--server-cpu') ?? 0),
    clientCpu: Number(flags.get('--client-cpu') ?? 1),
    concurrent,
    waitQuiet: parseWait(pick('--wait-quiet', 'BENCH_WAIT_QUIET', '30', '5')),
    out: flags.has('--no-write') ? null : ((flags.get('--out') as string | undefined) ?? defaultOut),
  };
}

// --- servers -------------------------------------------------------------------

const routePath = '/users/42';

interface Server {
  app: string;
  mode: Mode;
  proc: ServerProcess;
}

async function launch(app: string, mode: Mode, opts: Options): Promise<Server> {
  const entry = path.join(__dirname, '..', '..', 'bench', 'apps', APPS[app]!.file);
  const proc = await startServer({ mode, entry, env: { NODE_ENV: 'production' }, timeoutMs: 20_000 });
  live.add(proc);
  if (opts.pin) pin(proc.child.pid!, opts.serverCpu);
  const reply = await request(proc.port, routePath, { timeoutMs: 15_000 });
  const expected = JSON.stringify({ id: '42', name: 'user 42', active: true, roles: ['reader'] });
  if (reply.status !== 200 || reply.body !== expected) {
    throw new Error(`${app} under ${mode}: unexpected reply ${JSON.stringify(reply)}\n${proc.stderr()}`);
  }
  return { app, mode, proc };
}

// --- load ----------------------------------------------------------------------

function load(server: Server, seconds: number, opts: Options): Promise<Sample> {
  return measureLoad(server.proc, `${server.app} under ${server.mode}`, { url: `http://127.0.0.1:${server.proc.port}${routePath}`, connections: opts.connections, pipelining: opts.pipelining, duration: seconds });
}

// --- statistics and report -------------------------------------------------------

type Pair = Record<Mode, Sample>;

/** A pair measured while other processes left the cores alone. */
const isClean = (pair: Pair) => !(Math.max(pair.node.other, pair.srs.other) >= QUIET);
const usable = (pairs: Pair[]) => usableRounds(pairs, (p) => [p.node, p.srs]);

function report(opts: Options, results: Map<string, Pair[]>, pinned: boolean, startedAt: Date, tally: Tally): string {
  const cpus = os.cpus();
  const model = cpus[0]?.model.trim() ?? 'unknown CPU';
  const placement =
    (pinned ? `servers pinned to cpu ${opts.serverCpu}, autocannon to cpu ${opts.clientCpu}` : 'not pinned') +
    (opts.concurrent ? ', node and srs loaded concurrently' : ', node and srs interleaved');
  const lines: string[] = [];
  lines.push('# SRS overhead: request contexts');
  lines.push('');
  lines.push(
    `${srsRevision()} · Node ${process.version} · ${os.platform()} ${os.arch()} · ${cpus.length} × ${model} · ${placement} · ` +
      `${opts.rounds} rounds × ${opts.duration} s (warm-up ${opts.warmup} s), ${opts.connections} connections, ` +
      `pipelining ${opts.pipelining} · GET ${routePath} · ${startedAt.toISOString()}${opts.quick ? ' · QUICK' : ''}`,
  );
  lines.push('');
  lines.push('| app | node req/s | srs req/s | ratio | node µs CPU/req | srs µs CPU/req | CPU ratio |');
  lines.push('|---|---:|---:|---:|---:|---:|---:|');
  const missed: string[] = [];
  const contaminated: string[] = [];
  for (const [app, pairs] of results) {
    const { used } = usable(pairs);
    if (used.length === pairs.length && !pairs.every(isClean)) contaminated.push(APPS[app]!.label);
    const med = (m: Mode, f: (s: Sample) => number) => median(used.map((p) => f(p[m])));
    const rps = { node: med('node', (s) => s.rps), srs: med('srs', (s) => s.rps) };
    const cpu = { node: med('node', (s) => s.cpuUsPerReq), srs: med('srs', (s) => s.cpuUsPerReq) };
    const ratio = rps.srs / rps.node;
    if (ratio < 0.95) missed.push(APPS[app]!.label);
    lines.push(
      `| ${APPS[app]!.label} | ${int(rps.node)} | ${int(rps.srs)} | ${fixed(ratio, 3)} | ` +
        `${fixed(cpu.node, 1)} | ${fixed(cpu.srs, 1)} | ${fixed(cpu.srs / cpu.node, 3)} |`,
    );
  }
  lines.push('');
  lines.push(
    `Medians over the rounds in which other processes used less than ${QUIET} cores ("clean" rounds below; all rounds ` +
      'when fewer than half were clean). ratio = srs / node requests/s (higher is better); CPU ratio = srs / node ' +
      'server CPU time (user+sys) per request (lower is better). ' +
      `Target srs ≥ 0.95 × node requests/s: ${missed.length === 0 ? 'met by every app' : `missed by ${missed.join(', ')}`}.` +
      (contaminated.length > 0 ? ` **Too few clean rounds for ${contaminated.join(', ')}: their numbers include rounds disturbed by other processes.**` : ''),
  );
  lines.push('');
  lines.push(
    `Spread (each round measures node and srs ${opts.concurrent ? 'at the same time' : 'back to back'}, so per-round ratios pair them; ` +
      'over the same rounds as above):',
  );
  lines.push('');
  lines.push('| app | clean rounds | paired req/s ratio, median (min–max) | paired CPU ratio, median (min–max) | server busy node / srs | p99 ms node / srs | other load, cores median (max) | failed requests |');
  lines.push('|---|---:|---:|---:|---:|---:|---:|---:|');
  for (const [app, pairs] of results) {
    const { used, clean } = usable(pairs);
    const range = (xs: number[]) => `${fixed(median(xs), 3)} (${fixed(Math.min(...xs), 3)}–${fixed(Math.max(...xs), 3)})`;
    const busy = (m: Mode) => `${Math.round(median(used.map((p) => p[m].busy)) * 100)} %`;
    const p99 = (m: Mode) => fixed(median(used.map((p) => p[m].p99)), 0);
    const all = used.flatMap((p) => [p.node, p.srs]);
    const bad = pairs.reduce((sum, p) => sum + p.node.bad + p.srs.bad, 0);
    const other = all.map((s) => s.other);
    lines.push(
      `| ${APPS[app]!.label} | ${clean} of ${pairs.length} | ${range(used.map((p) => p.srs.rps / p.node.rps))} | ` +
        `${range(used.map((p) => p.srs.cpuUsPerReq / p.node.cpuUsPerReq))} | ` +
        `${busy('node')} / ${busy('srs')} | ${p99('node')} / ${p99('srs')} | ${fixed(median(other), 2)} (${fixed(Math.max(...other), 2)}) | ${bad} |`,
    );
  }
  lines.push('');
  lines.push(
    '"server busy" is server CPU time per wall-clock second (1 core = 100 %); "other load" is CPU that other ' +
      'processes on the machine used during a round' +
      (opts.waitQuiet > 0
        ? `; before each round the bench waited up to ${opts.waitQuiet} s for it to drop (${Math.round(tally.waited)} s in all), ` +
          `and measured a round again, up to ${ATTEMPTS} times, when it was not clean (${tally.retried} times).`
        : '.'),
  );
  lines.push('');
  lines.push('Rounds (req/s / µs CPU/req; * = not clean):');
  lines.push('');
  for (const [app, pairs] of results) {
    for (const mode of MODES) {
      const row = pairs.map((p) => `${int(p[mode].rps)} / ${fixed(p[mode].cpuUsPerReq, 1)}${isClean(p) ? '' : '*'}`).join(' · ');
      lines.push(`- ${APPS[app]!.label} ${mode}: ${row}`);
    }
  }
  lines.push('');
  return lines.join('\n');
}

// --- main ------------------------------------------------------------------------

const ATTEMPTS = 3;

/** One node/srs pair in the given order, back to back (or at the same time with --concurrent). */
async function measurePair(pair: Record<Mode, Server>, order: Mode[], opts: Options): Promise<Record<Mode, Sample>> {
  const byMode = {} as Record<Mode, Sample>;
  if (opts.concurrent) {
    const samples = await Promise.all(order.map((mode) => load(pair[mode], opts.duration, opts)));
    order.forEach((mode, i) => (byMode[mode] = samples[i]!));
  } else {
    for (const mode of order) {
      byMode[mode] = await load(pair[mode], opts.duration, opts);
      await pause(300);
    }
  }
  return byMode;
}

async function main(): Promise<void> {
  const opts = parseOptions(process.argv.slice(2), process.env);
  const startedAt = new Date();
  const log = (s: string) => process.stderr.write(`${s}\n`);

  // Bounded in time: the plan, the worst case of waiting and retrying, and slack for startups.
  const pairs = opts.apps.length * opts.rounds;
  const planned = opts.apps.length * MODES.length * opts.warmup + pairs * (MODES.length * opts.duration + 1);
  const worst = planned + pairs * ATTEMPTS * (opts.waitQuiet + MODES.length * opts.duration + 1) + 120;
  const deadline = setTimeout(() => {
    log(`overhead: exceeded ${Math.round(worst)} s, stopping`);
    void stopAll().finally(() => process.exit(1));
  }, worst * 1000);
  deadline.unref();
  stopOnSignals('overhead');

  const pinned = opts.pin && canPin();
  if (opts.pin && !pinned) log('overhead: taskset or a second core is missing; running unpinned');
  if (pinned) pin(process.pid, opts.clientCpu);
  log(`overhead: Node ${process.version}, ${opts.apps.join(', ')}; about ${Math.round(planned)} s of load`);

  try {
    const servers = new Map<string, Record<Mode, Server>>();
    for (const app of opts.apps) {
      const node = await launch(app, 'node', opts);
      const srs = await launch(app, 'srs', opts);
      servers.set(app, { node, srs });
    }
    for (const [app, pair] of servers) {
      for (const mode of MODES) {
        log(`warm-up ${app} ${mode}`);
        await load(pair[mode], opts.warmup, opts);
        await pause(300);
      }
    }
    const results = new Map<string, Pair[]>();
    for (const app of opts.apps) results.set(app, []);
    const tally: Tally = { waited: 0, retried: 0 };
    for (let round = 0; round < opts.rounds; round++) {
      for (const [appIndex, app] of opts.apps.entries()) {
        // ABBA: alternate which mode goes first, so drift hits both equally.
        const order: Mode[] = (round + appIndex) % 2 === 0 ? ['node', 'srs'] : ['srs', 'node'];
        const what = `round ${round + 1}/${opts.rounds} ${app}`;
        const byMode = await cleanRound(() => measurePair(servers.get(app)!, order, opts), isClean, { waitQuiet: opts.waitQuiet, attempts: ATTEMPTS, what }, tally, log);
        results.get(app)!.push(byMode);
        for (const mode of MODES) log(`${what} ${mode}: ${describeSample(byMode[mode])}`);
      }
    }
    const markdown = report(opts, results, pinned, startedAt, tally);
    publish('overhead', markdown, opts.out, log);
  } finally {
    await stopAll();
    clearTimeout(deadline);
  }
}

runBenchmark('overhead', main);
