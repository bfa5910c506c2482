/**
 * Overhead benchmark: what SRS's request contexts cost a real server.
 *
 * The same three apps (bare node:http, Express 5, Fastify 5; bench/apps/)
 * run under `node` and under `srs run`, side by side in one run, loaded by
 * autocannon over loopback. This machine is noisy (rounds of one server swing
 * by up to ±30 %), so the benchmark
 *
 *  - pins the servers to one core and itself (the load generator) to another
 *    when taskset is available and there are at least two cores;
 *  - warms every server up before measuring;
 *  - interleaves the measured rounds node/srs in ABBA order, and reports
 *    medians over the rounds;
 *  - reports, besides requests/s, the server's CPU time per request (user+sys
 *    from /proc/<pid>/stat around each round), which is much steadier.
 *
 * The bench runs the servers with its own Node (process.execPath), so running
 * it under Node 24 measures Node 24.
 *
 *   node dist/bench/overhead.js [--quick] [--rounds N] [--duration S] [--warmup S]
 *        [--connections N] [--pipelining N] [--apps plain-http,express,fastify]
 *        [--server-cpu N] [--client-cpu N] [--no-pin] [--out FILE | --no-write]
 */
import { spawnSync } from 'node:child_process';
import fs = require('node:fs');
import os = require('node:os');
import path = require('node:path');
import { request, startServer, type ServerProcess } from '../src/cli/server-process';

// --- autocannon (no bundled types) ------------------------------------------

interface CannonResult {
  duration: number; // seconds
  errors: number;
  timeouts: number;
  non2xx: number;
  requests: { total: number; average: number };
  latency: { p50: number; p99: number };
}
interface CannonOptions {
  url: string;
  connections: number;
  pipelining: number;
  duration: number;
}
type Autocannon = (opts: CannonOptions, cb: (err: Error | null, result: CannonResult) => void) => { stop(): void };
const autocannon = require('autocannon') as Autocannon;

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
  const flags = new Map<string, string | true>();
  const valued = new Set(['--rounds', '--duration', '--warmup', '--connections', '--pipelining', '--apps', '--server-cpu', '--client-cpu', '--out', '--wait-quiet']);
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--help' || arg === '-h') {
      process.stdout.write(USAGE);
      process.exit(0);
    }
    const eq = arg.indexOf('=');
    const name = eq > 0 ? arg.slice(0, eq) : arg;
    if (valued.has(name)) {
      const value = eq > 0 ? arg.slice(eq + 1) : argv[++i];
      if (value === undefined) fail(`${name} expects a value`);
      flags.set(name, value);
    } else if (name === '--quick' || name === '--no-pin' || name === '--no-write' || name === '--concurrent') {
      flags.set(name, true);
    } else {
      fail(`unknown argument "${arg}"`);
    }
  }
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
  const defaultOut = path.join(__dirname, '..', '..', 'bench', 'results', `overhead-node${major}${quick ? '-quick' : ''}.md`);
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
    concurrent: flags.has('--concurrent') || env.BENCH_CONCURRENT === '1',
    waitQuiet: parseWait(pick('--wait-quiet', 'BENCH_WAIT_QUIET', '30', '5')),
    out: flags.has('--no-write') ? null : ((flags.get('--out') as string | undefined) ?? defaultOut),
  };
}

// --- processes: CPU time and pinning ------------------------------------------

const clockTicks = (() => {
  const r = spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' });
  const n = Number(r.stdout?.trim());
  return r.status === 0 && Number.isInteger(n) && n > 0 ? n : 100;
})();

/** user+sys CPU seconds of a process (all its threads), or NaN without /proc. */
function cpuSeconds(pid: number): number {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) is in parentheses and may contain spaces.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // fields[0] is field 3 (state); utime and stime are fields 14 and 15.
    return (Number(fields[11]) + Number(fields[12])) / clockTicks;
  } catch {
    return NaN;
  }
}

/** Non-idle CPU seconds of the whole machine, summed over its cores, or NaN without /proc. */
function machineBusySeconds(): number {
  try {
    const line = fs.readFileSync('/proc/stat', 'utf8').split('\n', 1)[0]!;
    // cpu user nice system idle iowait irq softirq steal ...
    const [user, nice, system, , , irq, softirq, steal] = line.trim().split(/\s+/).slice(1).map(Number);
    return (user! + nice! + system! + irq! + softirq! + (steal ?? 0)) / clockTicks;
  } catch {
    return NaN;
  }
}

/** CPU seconds of this process and of every server it started. */
function ownCpuSeconds(): number {
  const { user, system } = process.cpuUsage();
  let total = (user + system) / 1e6;
  for (const s of live) total += cpuSeconds(s.child.pid!);
  return total;
}

/**
 * Measures what else runs on the machine (other processes' CPU, in cores)
 * while fn runs: the cores are shared, so a round with a busy neighbour is
 * not comparable with one without.
 */
async function withOtherLoad<T>(fn: () => Promise<T>): Promise<{ value: T; other: number }> {
  const machine0 = machineBusySeconds();
  const own0 = ownCpuSeconds();
  const t0 = process.hrtime.bigint();
  const value = await fn();
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  const other = (machineBusySeconds() - machine0 - (ownCpuSeconds() - own0)) / seconds;
  return { value, other: Math.max(0, other) };
}

/** Waits (bounded) until other processes use less than `threshold` cores; returns the seconds waited. */
async function waitForQuiet(maxSeconds: number, threshold = 0.25): Promise<number> {
  const started = Date.now();
  while (Date.now() - started < maxSeconds * 1000) {
    const { other } = await withOtherLoad(() => pause(500));
    if (!(other >= threshold)) break; // NaN (no /proc) counts as quiet
  }
  return (Date.now() - started) / 1000;
}

function canPin(): boolean {
  if (os.cpus().length < 2 || process.platform !== 'linux') return false;
  return spawnSync('taskset', ['-p', String(process.pid)], { stdio: 'ignore' }).status === 0;
}

/** Pins every thread of pid (threads it creates later inherit it). */
function pin(pid: number, cpu: number): void {
  const r = spawnSync('taskset', ['-a', '-p', '-c', String(cpu), String(pid)], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`taskset failed for pid ${pid}: ${r.stderr}`);
}

// --- servers -------------------------------------------------------------------

const live = new Set<ServerProcess>();

async function stopAll(): Promise<void> {
  const servers = [...live];
  live.clear();
  await Promise.all(servers.map((s) => s.stop()));
}

function onSignal(signal: NodeJS.Signals): void {
  process.stderr.write(`\noverhead: ${signal}, stopping servers\n`);
  void stopAll().finally(() => process.exit(130));
}

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
  const reply = await request(proc.port, routePath);
  const expected = JSON.stringify({ id: '42', name: 'user 42', active: true, roles: ['reader'] });
  if (reply.status !== 200 || reply.body !== expected) {
    throw new Error(`${app} under ${mode}: unexpected reply ${JSON.stringify(reply)}\n${proc.stderr()}`);
  }
  return { app, mode, proc };
}

// --- load ----------------------------------------------------------------------

interface Sample {
  rps: number;
  requests: number;
  cpuUsPerReq: number;
  /** Server CPU seconds per wall second: ~1 means the server core was saturated. */
  busy: number;
  p50: number;
  p99: number;
  bad: number; // errors + timeouts + non-2xx
  /** CPU (in cores) that other processes on the machine used during the round. */
  other: number;
}

function cannon(opts: CannonOptions, hardLimitMs: number): Promise<CannonResult> {
  return new Promise((resolve, reject) => {
    let instance: { stop(): void } | undefined = undefined;
    const guard = setTimeout(() => {
      instance?.stop();
      reject(new Error(`autocannon did not finish within ${hardLimitMs} ms`));
    }, hardLimitMs);
    instance = autocannon(opts, (err, result) => {
      clearTimeout(guard);
      if (err) reject(err);
      else resolve(result);
    });
  });
}

async function load(server: Server, seconds: number, opts: Options): Promise<Sample> {
  const pid = server.proc.child.pid!;
  const cpuBefore = cpuSeconds(pid);
  const { value: result, other } = await withOtherLoad(() =>
    cannon(
      { url: `http://127.0.0.1:${server.proc.port}${routePath}`, connections: opts.connections, pipelining: opts.pipelining, duration: seconds },
      seconds * 1000 + 15_000,
    ),
  );
  const cpu = cpuSeconds(pid) - cpuBefore;
  if (server.proc.child.exitCode !== null || server.proc.child.signalCode !== null) {
    throw new Error(`${server.app} under ${server.mode} exited during the run\n${server.proc.stderr()}`);
  }
  const requests = result.requests.total;
  if (!(requests > 0)) throw new Error(`${server.app} under ${server.mode}: no request completed`);
  return {
    rps: requests / result.duration,
    requests,
    cpuUsPerReq: (cpu * 1e6) / requests,
    busy: cpu / result.duration,
    p50: result.latency.p50,
    p99: result.latency.p99,
    bad: result.errors + result.timeouts + result.non2xx,
    other,
  };
}

function describe(s: Sample): string {
  return `${int(s.rps)} req/s, ${fixed(s.cpuUsPerReq, 1)} µs CPU/req, server busy ${Math.round(s.busy * 100)} %, other load ${fixed(s.other, 2)} cores`;
}

const pause = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Which SRS is measured: the package version and, in a git checkout, the commit. */
function srsRevision(): string {
  const root = path.join(__dirname, '..', '..');
  const { version } = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')) as { version: string };
  const git = spawnSync('git', ['describe', '--always', '--dirty'], { cwd: root, encoding: 'utf8' });
  const rev = git.status === 0 ? git.stdout.trim() : process.env.BENCH_SRS_REV;
  return rev ? `srs ${version} (${rev})` : `srs ${version}`;
}

// --- statistics and report -------------------------------------------------------

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

const int = (n: number) => Math.round(n).toLocaleString('en-US');
const fixed = (n: number, digits: number) => (Number.isFinite(n) ? n.toFixed(digits) : 'n/a');

function report(opts: Options, results: Map<string, Record<Mode, Sample[]>>, pinned: boolean, startedAt: Date, tally: Tally): string {
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
  for (const [app, samples] of results) {
    const rps = { node: median(samples.node.map((s) => s.rps)), srs: median(samples.srs.map((s) => s.rps)) };
    const cpu = { node: median(samples.node.map((s) => s.cpuUsPerReq)), srs: median(samples.srs.map((s) => s.cpuUsPerReq)) };
    const ratio = rps.srs / rps.node;
    if (ratio < 0.95) missed.push(APPS[app]!.label);
    lines.push(
      `| ${APPS[app]!.label} | ${int(rps.node)} | ${int(rps.srs)} | ${fixed(ratio, 3)} | ` +
        `${fixed(cpu.node, 1)} | ${fixed(cpu.srs, 1)} | ${fixed(cpu.srs / cpu.node, 3)} |`,
    );
  }
  lines.push('');
  lines.push(
    'Medians over the rounds. ratio = srs / node requests/s (higher is better); CPU ratio = srs / node ' +
      'server CPU time (user+sys) per request (lower is better). ' +
      `Target srs ≥ 0.95 × node requests/s: ${missed.length === 0 ? 'met by every app' : `missed by ${missed.join(', ')}`}.`,
  );
  lines.push('');
  lines.push('Spread (each round measures node and srs back to back, so per-round ratios pair them):');
  lines.push('');
  lines.push('| app | paired req/s ratio, median (min–max) | paired CPU ratio, median (min–max) | server busy node / srs | p99 ms node / srs | other load, cores median (max) | failed requests |');
  lines.push('|---|---:|---:|---:|---:|---:|---:|');
  for (const [app, samples] of results) {
    const pairs = samples.node.map((n, i) => ({ rps: samples.srs[i]!.rps / n.rps, cpu: samples.srs[i]!.cpuUsPerReq / n.cpuUsPerReq }));
    const range = (xs: number[]) => `${fixed(median(xs), 3)} (${fixed(Math.min(...xs), 3)}–${fixed(Math.max(...xs), 3)})`;
    const busy = (m: Mode) => `${Math.round(median(samples[m].map((s) => s.busy)) * 100)} %`;
    const p99 = (m: Mode) => fixed(median(samples[m].map((s) => s.p99)), 0);
    const all = [...samples.node, ...samples.srs];
    const bad = all.reduce((sum, s) => sum + s.bad, 0);
    const other = all.map((s) => s.other);
    lines.push(
      `| ${APPS[app]!.label} | ${range(pairs.map((p) => p.rps))} | ${range(pairs.map((p) => p.cpu))} | ` +
        `${busy('node')} / ${busy('srs')} | ${p99('node')} / ${p99('srs')} | ${fixed(median(other), 2)} (${fixed(Math.max(...other), 2)}) | ${bad} |`,
    );
  }
  lines.push('');
  lines.push(
    '"server busy" is server CPU time per wall-clock second (1 core = 100 %); "other load" is CPU that other ' +
      'processes on the machine used during a round, which skews it' +
      (opts.waitQuiet > 0
        ? `; before each pair the bench waited up to ${opts.waitQuiet} s for it to drop (${Math.round(tally.waited)} s in all), ` +
          `and measured a pair again, up to ${ATTEMPTS} times, when it reached ${NOISY_PAIR} cores (${tally.retried} times).`
        : '.'),
  );
  lines.push('');
  lines.push('Rounds (req/s, µs CPU/req):');
  lines.push('');
  for (const [app, samples] of results) {
    const row = (m: Mode) => samples[m].map((s) => `${int(s.rps)} / ${fixed(s.cpuUsPerReq, 1)}`).join(' · ');
    lines.push(`- ${APPS[app]!.label} node: ${row('node')}`);
    lines.push(`- ${APPS[app]!.label} srs: ${row('srs')}`);
  }
  lines.push('');
  return lines.join('\n');
}

// --- main ------------------------------------------------------------------------

/** Other load (cores) above which a pair is measured again. */
const NOISY_PAIR = 0.5;
const ATTEMPTS = 3;

interface Tally {
  waited: number;
  retried: number;
}

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
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

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
    const results = new Map<string, Record<Mode, Sample[]>>();
    for (const app of opts.apps) results.set(app, { node: [], srs: [] });
    const tally: Tally = { waited: 0, retried: 0 };
    for (let round = 0; round < opts.rounds; round++) {
      for (const [appIndex, app] of opts.apps.entries()) {
        // ABBA: alternate which mode goes first, so drift hits both equally.
        const order: Mode[] = (round + appIndex) % 2 === 0 ? ['node', 'srs'] : ['srs', 'node'];
        let byMode: Record<Mode, Sample> | undefined;
        for (let attempt = 1; attempt <= ATTEMPTS; attempt++) {
          if (opts.waitQuiet > 0) {
            const waited = await waitForQuiet(opts.waitQuiet);
            if (waited >= 1) log(`waited ${waited.toFixed(1)} s for other processes to go quiet`);
            tally.waited += waited;
          }
          byMode = await measurePair(servers.get(app)!, order, opts);
          const noisy = Math.max(byMode.node.other, byMode.srs.other) >= NOISY_PAIR;
          if (!noisy || opts.waitQuiet === 0 || attempt === ATTEMPTS) break;
          tally.retried++;
          log(`round ${round + 1}/${opts.rounds} ${app}: other processes used the CPU, measuring the pair again`);
        }
        for (const mode of MODES) {
          results.get(app)![mode].push(byMode![mode]);
          log(`round ${round + 1}/${opts.rounds} ${app} ${mode}: ${describe(byMode![mode])}`);
        }
      }
    }
    const markdown = report(opts, results, pinned, startedAt, tally);
    process.stdout.write(markdown);
    if (opts.out !== null) {
      fs.mkdirSync(path.dirname(opts.out), { recursive: true });
      fs.writeFileSync(opts.out, markdown);
      log(`overhead: wrote ${path.relative(process.cwd(), opts.out)}`);
    }
  } finally {
    await stopAll();
    clearTimeout(deadline);
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`overhead: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  void stopAll().finally(() => process.exit(1));
});
