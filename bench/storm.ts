/**
 * Crash-storm benchmark: what a stream of crash-triggering requests does to
 * a server's benign traffic and shared state, under each way of keeping a
 * Node.js server up, measured one after the other in one run on one machine.
 *
 * The server is one of two corpus servers (--app), each a scenario in
 * bench/storm/ that says what its benign traffic, its attack (and the
 * attack's harmless twin) and its oracle are:
 *
 *  - upload (default): bench/apps/storm-upload.js, node:http + busboy 0.3.1
 *    / dicer 0.3.0, CVE-2022-24434. Benign: small multipart uploads with
 *    unique names and GET /state. Attack: a fresh connection stores a valid
 *    file part, waits --attack-gap-ms, then sends the part header that
 *    crashes dicer (an attack costs the server a new connection and a
 *    two-part upload besides the crash).
 *  - gateway: bench/apps/storm-gateway.js, Express 4 + http-proxy-middleware
 *    2.0.6 in front of an in-process inventory service, CVE-2024-21536.
 *    Benign: proxied stock updates and catalogue reads. Attack: one
 *    `GET //x@x` on a keep-alive agent (counted by the gateway, then an
 *    unhandled rejection): the storm prices the crash, not its traffic.
 *
 *  - Benign load: autocannon (programmatic), N keep-alive connections, each
 *    looping over the scenario's requests. Every benign request is tracked
 *    by id, so the benchmark knows exactly which succeeded (2xx), which
 *    failed (non-2xx, reset, closed, refused, timed out) and which were
 *    still in flight when the load stopped (outcome unknown: not counted as
 *    failed, and allowed, not required, to be in the final state).
 *  - Attacker: the default rate is 1 attack per 100 benign requests of SRS's
 *    own no-attack goodput, from a short calibration run; --adaptive
 *    instead fires one attack per N benign completions of the setup measured.
 *  - Setups: plain `node`; node:cluster with 2 workers re-forked on exit
 *    (bench/setups/cluster.js); PM2 cluster mode with autorestart (only when
 *    pm2 is installed); `node -r bench/setups/catch-all.js` (logs
 *    uncaughtException/unhandledRejection and goes on); `srs run` with default
 *    options except a raised --budget (the storm would otherwise trip the
 *    crash-loop budget by design); plus no-attack runs of plain node and of
 *    srs as baselines.
 *  - srs is measured in --rounds rounds of (no attack, storm, pulsed storm),
 *    the order alternating, reported as medians. Separate runs of one server
 *    swing by far more than the 5 % the target is about on a shared 2-core
 *    machine, so a pulsed run attacks only in half of its --pulse-ms windows
 *    (on, off, off, on, ...: a drift over the run cancels out) and compares
 *    benign goodput in attack windows with that in calm windows of the same
 *    run (paired); the srs target is judged on that ratio.
 *  - Controls (pulsed, paired; --no-control skips them) split what an attack
 *    costs: plain node with harmless twins of the attacks (the scenario's
 *    attack traffic without the crash), the catch-all with attacks (plus the
 *    exception), srs with twins (plus journaling around the attacker's
 *    requests), srs with attacks.
 *  - Each run: a fresh server, a warm-up (unmeasured), then a calm lead-in
 *    and the storm window; goodput and latency are over the storm window.
 *    Afterwards the benchmark waits for outstanding attacks, reads the whole
 *    state and compares it with the scenario's oracle: the effects of exactly
 *    the successful benign requests (plus possibly those in flight at the
 *    stop), none of the attacker's.
 *
 * Outputs bench/results/storm-node<major>.md (figures) and .svg (benign
 * goodput over time per setup, attacks marked); storm-gateway-node<major>.*
 * for --app gateway. Servers are pinned to one
 * core and this process (autocannon and attacker) to another when taskset and
 * two cores exist, as in bench/overhead.ts. Every process started is stopped
 * at the end, on errors and on Ctrl-C; everything runs on 127.0.0.1; the
 * whole run is bounded by a deadline.
 *
 *   node dist/bench/storm.js [--app upload|gateway] [--quick] [--duration S] [--lead S] [--warmup S]
 *        [--connections N] [--attack-every N | --attack-rate R] [--adaptive]
 *        [--pulse-ms MS] [--no-control]
 *        [--attack-gap-ms MS] [--setups node,cluster,pm2,catch-all,srs]
 *        [--budget N] [--rounds N] [--attempts N] [--no-pin] [--wait-quiet S]
 *        [--profile DIR] [--out-dir DIR | --no-write]
 */
import { spawnSync } from 'node:child_process';
import fs = require('node:fs');
import net = require('node:net');
import os = require('node:os');
import path = require('node:path');
import { performance } from 'node:perf_hooks';
import { request, startServer, type ServerProcess } from '../src/cli/server-process';
import { clockTicks, machineBusySeconds, statFields } from './lib/cpu';
import { parseFlags } from './lib/flags';
import { gatewayScenario } from './storm/gateway';
import { Attack, BenignLedger, CannonContext, CannonRequest, Scenario, Verdict } from './storm/scenario';
import { uploadScenario } from './storm/upload';

// --- autocannon (no bundled types) ------------------------------------------

interface CannonClient {
  requestIterator: { context: CannonContext };
  /** autocannon 8 internals, see benignLoad. */
  _connect?: () => void;
  pipelinedRequests?: { clear(): void };
}
interface CannonOptions {
  url: string;
  connections: number;
  pipelining: number;
  duration: number;
  timeout: number;
  sampleInt: number;
  requests: CannonRequest[];
  setupClient: (client: CannonClient) => void;
}
interface CannonInstance {
  stop(): void;
  on(event: 'response', listener: (client: CannonClient, status: number, bytes: number, ms: number) => void): this;
  on(event: 'reqError', listener: (err: NodeJS.ErrnoException) => void): this;
}
type Autocannon = (opts: CannonOptions, cb: (err: Error | null, result: unknown) => void) => CannonInstance;
const autocannon = require('autocannon') as Autocannon;

// --- options -----------------------------------------------------------------

type SetupKey = 'node' | 'cluster' | 'pm2' | 'catch-all' | 'srs';
const SETUP_KEYS: readonly SetupKey[] = ['node', 'cluster', 'pm2', 'catch-all', 'srs'];

interface Options {
  quick: boolean;
  /** The corpus server under attack. */
  scenario: Scenario;
  /** Seconds of storm (goodput, latency and the attacks are over this window). */
  duration: number;
  /** Calm seconds before the storm (plotted, not in the figures). */
  lead: number;
  warmup: number;
  calibrate: number;
  connections: number;
  /** One read per this many writes on every connection (0: writes only). */
  readsEvery: number;
  /** One attack per this many benign requests. */
  attackEvery: number;
  /** Attacks per second, overriding the calibration. */
  attackRate: number | null;
  adaptive: boolean;
  attackGapMs: number;
  setups: SetupKey[];
  budget: number;
  bucketMs: number;
  pin: boolean;
  serverCpu: number;
  clientCpu: number;
  waitQuiet: number;
  /** Runs disturbed by other processes are measured again, up to this many times in all; the least disturbed is kept. */
  attempts: number;
  /** srs: rounds of (no attack, storm, pulsed storm). */
  rounds: number;
  /** Also the pulsed controls that split what an attack costs (plain node with twins, catch-all, srs with twins). */
  control: boolean;
  /** Pulsed runs: attacks in alternate windows of this many ms. */
  pulseMs: number;
  /** Rounds of paired-CPU runs (two servers on the server core at once), 0 for none. */
  pairedRounds: number;
  /** Write a V8 CPU profile of every srs server here (--cpu-prof); the figures then include the profiler's cost. */
  profileDir: string | null;
  outDir: string | null;
}

const USAGE = `usage: node dist/bench/storm.js [options]

  --app NAME           the corpus server under attack: upload (busboy 0.3.1, CVE-2022-24434: a
                       two-part upload on a fresh connection per attack; default) or gateway
                       (http-proxy-middleware 2.0.6, CVE-2024-21536: one GET //x@x per attack);
                       gateway results go to storm-gateway-node<major>.*
  --quick              3 s storms, short warm-up and calibration (writes storm-node<major>-quick.*)
  --duration S         seconds of storm per setup (env STORM_DURATION, default 10)
  --lead S             calm seconds before each storm, plotted (default 1)
  --warmup S           unmeasured benign load per server before its run (default 5, quick 1;
                       a fresh server's goodput still climbs for seconds: JIT, heap sizing)
  --calibrate S        length of the srs no-attack calibration run (default 3)
  --connections N      benign autocannon connections (env STORM_CONNECTIONS, default 32)
  --reads-every N      one read per N writes on each connection (upload: GET /state per N
                       uploads; gateway: GET /api/items per N stock updates; default 3; 0: none)
  --attack-every N     one attack per N benign requests (default 100)
  --attack-rate R      attacks per second (skips the calibration)
  --adaptive           fire an attack after every N benign completions of the setup measured
                       instead of at a fixed rate
  --attack-gap-ms MS   upload: between the attack's stored valid part and its malicious part
                       (default 20)
  --setups LIST        subset of ${SETUP_KEYS.join(',')} (default all)
  --budget N           srs --budget for the storm (default 1000000)
  --bucket-ms MS       time-series resolution (default 250)
  --server-cpu N       core the servers are pinned to (default 0)
  --client-cpu N       core this process is pinned to (default 1)
  --no-pin             do not pin anything
  --wait-quiet S       before each run, wait up to S s while other processes use
                       more than a quarter of a core (default 20, quick 3; 0: never)
  --attempts N         measure a run again while other processes used more than a quarter
                       of a core during it, up to N times in all; keep the least disturbed
                       (default 2, quick 1)
  --rounds N           srs: rounds of a no-attack, a storm and a pulsed storm run, order
                       alternating; medians reported (default 3, quick 1)
  --pulse-ms MS        pulsed runs attack only in half of their windows of MS ms (on, off,
                       off, on, on, off, ...) and compare the goodput of attack windows
                       with that of calm ones in the same run (default 500)
  --no-control         skip the pulsed runs that split an attack's cost: plain node with
                       harmless twins of the attacks (same connections, timing and stored
                       part, a valid last part), the catch-all with real attacks, srs with
                       twins
  --paired-rounds N    rounds of paired runs that price an attack in server CPU: two servers
                       on the server core at the same time, one with and one without the
                       attack traffic, one attack per --attack-every benign completions of
                       its server (default 3, quick 1; 0: none)
  --profile DIR        write a CPU profile (node --cpu-prof) of every srs server to DIR,
                       named srs-<run>.cpuprofile (the profiler slows the server down)
  --out-dir DIR        where storm-node<major>.md/.svg go (default bench/results)
  --no-write           print the table only
`;

function fail(message: string): never {
  process.stderr.write(`storm: ${message}\n\n${USAGE}`);
  process.exit(2);
}

function parseNumber(raw: string, name: string, opts: { integer?: boolean; zero?: boolean } = {}): number {
  const n = Number(raw);
  const ok = raw.trim() !== '' && Number.isFinite(n) && (opts.zero ? n >= 0 : n > 0) && (!opts.integer || Number.isInteger(n));
  if (!ok) fail(`${name} expects a ${opts.zero ? 'non-negative' : 'positive'} ${opts.integer ? 'integer' : 'number'}, got "${raw}"`);
  return n;
}

function parseOptions(argv: string[], env: NodeJS.ProcessEnv): Options {
  const flags = parseFlags(argv, new Set([
    '--app', '--duration', '--lead', '--warmup', '--calibrate', '--connections', '--reads-every', '--attack-every', '--attack-rate',
    '--attack-gap-ms', '--setups', '--budget', '--bucket-ms', '--server-cpu', '--client-cpu', '--wait-quiet', '--attempts', '--rounds', '--paired-rounds', '--pulse-ms', '--profile', '--out-dir',
  ]), new Set(['--quick', '--no-pin', '--no-write', '--adaptive', '--no-control']), USAGE, fail);
  const quick = flags.has('--quick');
  const pick = (flag: string, full: string, quickDefault: string, envName?: string): string =>
    (flags.get(flag) as string | undefined) ?? (envName ? env[envName] : undefined) ?? (quick ? quickDefault : full);
  const setups = pick('--setups', SETUP_KEYS.join(','), SETUP_KEYS.join(','))
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
  for (const s of setups) if (!SETUP_KEYS.includes(s as SetupKey)) fail(`unknown setup "${s}"`);
  if (setups.length === 0) fail('--setups is empty');
  const rate = flags.get('--attack-rate') as string | undefined;
  if (rate !== undefined && flags.has('--adaptive')) fail('--attack-rate and --adaptive exclude each other');
  const scenarios: Record<string, (root: string) => Scenario> = { upload: uploadScenario, gateway: gatewayScenario };
  const app = (flags.get('--app') as string | undefined) ?? 'upload';
  if (!Object.hasOwn(scenarios, app)) fail(`unknown --app "${app}" (upload or gateway)`);
  return {
    quick,
    scenario: scenarios[app]!(ROOT),
    duration: parseNumber(pick('--duration', '10', '3', 'STORM_DURATION'), 'duration'),
    lead: parseNumber(pick('--lead', '1', '0.5'), 'lead', { zero: true }),
    warmup: parseNumber(pick('--warmup', '5', '1'), 'warmup', { zero: true }),
    calibrate: parseNumber(pick('--calibrate', '3', '1'), 'calibrate'),
    connections: parseNumber(pick('--connections', '32', '32', 'STORM_CONNECTIONS'), 'connections', { integer: true }),
    readsEvery: parseNumber(pick('--reads-every', '3', '3'), 'reads-every', { integer: true, zero: true }),
    attackEvery: parseNumber(pick('--attack-every', '100', '100'), 'attack-every'),
    attackRate: rate === undefined ? null : parseNumber(rate, 'attack-rate'),
    adaptive: flags.has('--adaptive'),
    attackGapMs: parseNumber(pick('--attack-gap-ms', '20', '20'), 'attack-gap-ms', { zero: true }),
    setups: SETUP_KEYS.filter((k) => setups.includes(k)),
    budget: parseNumber(pick('--budget', '1000000', '1000000'), 'budget', { integer: true }),
    bucketMs: parseNumber(pick('--bucket-ms', '250', '250'), 'bucket-ms'),
    pin: !flags.has('--no-pin'),
    serverCpu: parseNumber(pick('--server-cpu', '0', '0'), 'server-cpu', { integer: true, zero: true }),
    clientCpu: parseNumber(pick('--client-cpu', '1', '1'), 'client-cpu', { integer: true, zero: true }),
    waitQuiet: parseNumber(pick('--wait-quiet', '20', '3'), 'wait-quiet', { zero: true }),
    attempts: parseNumber(pick('--attempts', '2', '1'), 'attempts', { integer: true }),
    rounds: parseNumber(pick('--rounds', '3', '1'), 'rounds', { integer: true }),
    control: !flags.has('--no-control'),
    pulseMs: parseNumber(pick('--pulse-ms', '500', '500'), 'pulse-ms'),
    pairedRounds: parseNumber(pick('--paired-rounds', '3', '1'), 'paired-rounds', { integer: true, zero: true }),
    profileDir: flags.has('--profile') ? path.resolve(flags.get('--profile') as string) : null,
    outDir: flags.has('--no-write') ? null : ((flags.get('--out-dir') as string | undefined) ?? path.join(ROOT, 'bench', 'results')),
  };
}

// --- paths -------------------------------------------------------------------------

/** The package root (this file runs from dist/bench). */
const ROOT = path.join(__dirname, '..', '..');
const CLUSTER = path.join(ROOT, 'bench', 'setups', 'cluster.js');
const CATCH_ALL = path.join(ROOT, 'bench', 'setups', 'catch-all.js');
const EXIT_ON_SIGTERM = path.join(ROOT, 'bench', 'setups', 'exit-on-sigterm.js');

// --- processes: trees, CPU, memory, pinning ------------------------------------------

/** user+sys CPU seconds of a process and of its children it has waited for. */
function cpuSeconds(pid: number): number {
  const f = statFields(pid);
  // fields[0] is field 3; utime, stime, cutime, cstime are fields 14-17.
  return f ? (Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14])) / clockTicks : 0;
}

/** Start time of a process (clock ticks since boot): tells a pid from a reused one. */
function startTicks(pid: number): string | undefined {
  return statFields(pid)?.[19];
}

function childrenOf(pid: number): number[] {
  const out: number[] = [];
  try {
    for (const task of fs.readdirSync(`/proc/${pid}/task`)) {
      const text = fs.readFileSync(`/proc/${pid}/task/${task}/children`, 'utf8').trim();
      if (text !== '') for (const c of text.split(/\s+/)) out.push(Number(c));
    }
  } catch {
    // gone, or no /proc
  }
  return out;
}

/** pid and all its live descendants. */
function processTree(pid: number): number[] {
  const all: number[] = [];
  const queue = [pid];
  while (queue.length > 0) {
    const p = queue.shift()!;
    if (statFields(p) === undefined) continue;
    all.push(p);
    queue.push(...childrenOf(p));
  }
  return all;
}

function rssBytes(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

/** Every process this benchmark saw in a server's tree (pid + start time), to make sure all are gone at the end. */
const seenProcesses = new Map<number, string>();

function observeTree(root: number): number[] {
  const pids = processTree(root);
  for (const pid of pids) {
    const start = startTicks(pid);
    if (start !== undefined) seenProcesses.set(pid, start);
  }
  return pids;
}

const treeRss = (root: number) => observeTree(root).reduce((sum, pid) => sum + rssBytes(pid), 0);
/** CPU of a server tree: live processes plus the children they reaped (dead workers end up in cutime). */
const treeCpu = (root: number) => observeTree(root).reduce((sum, pid) => sum + cpuSeconds(pid), 0);


function ownCpuSeconds(): number {
  const { user, system } = process.cpuUsage();
  let total = (user + system) / 1e6;
  for (const s of live) if (s.child.pid !== undefined) total += treeCpu(s.child.pid);
  return total;
}

/** Other processes' CPU (cores) below which the machine counts as quiet. */
const QUIET = 0.25;

async function otherLoadDuring<T>(fn: () => Promise<T>): Promise<{ value: T; other: number }> {
  const machine0 = machineBusySeconds();
  const own0 = ownCpuSeconds();
  const t0 = performance.now();
  const value = await fn();
  const seconds = (performance.now() - t0) / 1000;
  const other = (machineBusySeconds() - machine0 - (ownCpuSeconds() - own0)) / seconds;
  return { value, other: Math.max(0, other) };
}

async function waitForQuiet(maxSeconds: number): Promise<number> {
  const started = performance.now();
  while (performance.now() - started < maxSeconds * 1000) {
    const { other } = await otherLoadDuring(() => sleep(500));
    if (!(other >= QUIET)) break; // NaN (no /proc) counts as quiet
  }
  return (performance.now() - started) / 1000;
}

function canPin(): boolean {
  if (os.cpus().length < 2 || process.platform !== 'linux') return false;
  return spawnSync('taskset', ['-p', String(process.pid)], { stdio: 'ignore' }).status === 0;
}

/** Pins every thread of every process of the tree (processes forked later inherit it). */
function pinTree(root: number, cpu: number): void {
  for (const pid of processTree(root)) {
    const r = spawnSync('taskset', ['-a', '-p', '-c', String(cpu), String(pid)], { encoding: 'utf8' });
    // A process (or one of its threads, with -a) may end between the listing and taskset.
    if (r.status !== 0 && statFields(pid) !== undefined && !/No such process/.test(r.stderr)) throw new Error(`taskset failed for pid ${pid}: ${r.stderr}`);
  }
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

// --- servers -------------------------------------------------------------------------

const live = new Set<ServerProcess>();

async function stopServer(proc: ServerProcess): Promise<void> {
  live.delete(proc);
  await proc.stop();
}

/** Stops every server, then kills (by pid, checking it is the same process) anything of their trees still alive. */
async function stopAll(): Promise<void> {
  const servers = [...live];
  live.clear();
  await Promise.all(servers.map((s) => s.stop()));
  await killLeftovers();
}

async function killLeftovers(): Promise<number> {
  let killed = 0;
  for (let attempt = 0; attempt < 2; attempt++) {
    const alive = [...seenProcesses].filter(([pid, start]) => startTicks(pid) === start && statFields(pid)?.[0] !== 'Z');
    if (alive.length === 0) break;
    if (attempt === 0) {
      await sleep(500); // a worker may still be on its way out
      continue;
    }
    for (const [pid] of alive) {
      try {
        process.kill(pid, 'SIGKILL');
        killed++;
      } catch {
        // already gone
      }
    }
  }
  seenProcesses.clear();
  return killed;
}

let interrupted = false;
function onSignal(signal: NodeJS.Signals): void {
  if (interrupted) return;
  interrupted = true;
  process.stderr.write(`\nstorm: ${signal}, stopping servers\n`);
  void stopAll().finally(() => process.exit(130));
}

interface Setup {
  key: SetupKey;
  label: string;
  /** Why it cannot be measured here, if so. */
  unavailable?: string;
  /** A supervisor restarts what crashed (the root process survives a crash). */
  supervised: boolean;
  /** `name` identifies the run (for profile files). */
  launch(opts: Options, name: string): Promise<ServerProcess>;
  /** A line on the server's stderr that says a worker died and is being restarted. */
  restartLine?: RegExp;
}

const env = { NODE_ENV: 'production' };

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = net.createServer();
    probe.on('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as net.AddressInfo;
      probe.close(() => resolve(port));
    });
  });
}

/**
 * pm2 (a devDependency), found without running it: `pm2 -v` would start a
 * PM2 daemon in the user's ~/.pm2 and leave it running.
 */
function findPm2(): { version: string; runtime: string } | undefined {
  try {
    const manifest = require.resolve('pm2/package.json', { paths: [ROOT] });
    const { version } = JSON.parse(fs.readFileSync(manifest, 'utf8')) as { version: string };
    const runtime = path.join(path.dirname(manifest), 'bin', 'pm2-runtime');
    return fs.existsSync(runtime) ? { version, runtime: fs.realpathSync(runtime) } : undefined;
  } catch {
    return undefined; // not installed
  }
}

function setups(scenario: Scenario): Setup[] {
  const APP = scenario.app;
  const pm2 = findPm2();
  let pm2Home: string | undefined;
  return [
    { key: 'node', label: 'plain node', supervised: false, launch: () => startServer({ mode: 'node', entry: APP, env, timeoutMs: 20_000 }) },
    {
      key: 'cluster',
      label: 'node:cluster, 2 workers, re-fork on exit',
      supervised: true,
      restartLine: /^cluster: worker \d+ exited/,
      launch: () => startServer({ mode: 'node', entry: CLUSTER, args: [APP], env, timeoutMs: 20_000 }),
    },
    {
      key: 'pm2',
      label: 'PM2 cluster mode (-i 2), autorestart',
      supervised: true,
      ...(pm2 ? {} : { unavailable: 'not measured: pm2 not installed' }),
      // pm2-runtime keeps PM2 in the foreground, so it is stopped like any
      // server; PM2_HOME is a private directory so no user daemon is touched.
      // A restart is PM2 starting a worker again after the first two.
      restartLine: /exited with code/,
      // The app gets a fixed port (PORT), as under cluster.js.
      launch: async () => {
        if (pm2Home === undefined) {
          const home = (pm2Home = fs.mkdtempSync(path.join(os.tmpdir(), 'storm-pm2-')));
          process.on('exit', () => fs.rmSync(home, { recursive: true, force: true }));
        }
        return startServer({
          mode: 'node',
          entry: pm2!.runtime,
          args: ['start', APP, '-i', '2', '--name', `storm-${scenario.key}`],
          env: { ...env, PM2_HOME: pm2Home, PORT: String(await freePort()) },
          timeoutMs: 30_000,
        });
      },
    },
    {
      key: 'catch-all',
      label: 'plain node + uncaughtException catch-all',
      supervised: false,
      launch: () => startServer({ mode: 'node', entry: APP, nodeArgs: ['-r', CATCH_ALL], env, timeoutMs: 20_000 }),
    },
    {
      key: 'srs',
      label: 'srs run',
      supervised: false,
      launch: (opts, name) =>
        startServer({
          mode: 'srs',
          entry: APP,
          srsArgs: ['--budget', String(opts.budget)],
          nodeArgs: opts.profileDir
            ? ['--cpu-prof', `--cpu-prof-dir=${opts.profileDir}`, `--cpu-prof-name=srs-${name}.cpuprofile`, '-r', EXIT_ON_SIGTERM]
            : [],
          env,
          timeoutMs: 30_000,
        }),
    },
  ];
}

// --- benign traffic ---------------------------------------------------------------------

interface Response {
  /** ms since the run's t0 */
  t: number;
  status: number;
  ms: number;
}

interface LoadResult {
  responses: Response[];
  /** Benign requests answered non-2xx. */
  non2xx: number;
  /** Benign requests sent and never answered, other than those in flight when the load stopped. */
  lost: number;
  /** Client-side errors by code (each error loses the request of that connection). */
  errors: Map<string, number>;
  inFlightAtStop: number;
}

function cannon(opts: CannonOptions, hardLimitMs: number, onInstance: (i: CannonInstance) => void): Promise<void> {
  return new Promise((resolve, reject) => {
    let instance: CannonInstance | undefined = undefined;
    const guard = setTimeout(() => {
      instance?.stop();
      reject(new Error(`autocannon did not finish within ${hardLimitMs} ms`));
    }, hardLimitMs);
    instance = autocannon(opts, (err) => {
      clearTimeout(guard);
      if (err) reject(err);
      else resolve();
    });
    onInstance(instance);
  });
}

/**
 * Benign load for `seconds` (or until stop() is called through `control`),
 * every request tracked in the ledger. Times are relative to t0.
 */
async function benignLoad(
  port: number,
  seconds: number,
  ledger: BenignLedger,
  opts: Options,
  t0: number,
  control: { stop?: () => void; onOk?: () => void } = {},
): Promise<LoadResult> {
  const clients: CannonClient[] = [];
  const result: LoadResult = { responses: [], non2xx: 0, lost: 0, errors: new Map(), inFlightAtStop: 0 };
  // The ledger's pending set is empty at the start of a load (see below).
  // With pipelining 1 a response always answers the request its connection
  // built last (context.cur), whichever request object autocannon hands back:
  // each of the scenario's requests answers context.cur in its onResponse.
  const requests = opts.scenario.benignRequests(ledger, opts.readsEvery);
  // autocannon 8 reconnects after a connection error or close without
  // forgetting the request that was in flight on it, so every later
  // response would be matched with the request before it (and its start
  // time): forget it on every (re)connect, as a timeout already does.
  const setupClient = (client: CannonClient) => {
    clients.push(client);
    const connect = client._connect;
    const queue = client.pipelinedRequests;
    if (typeof connect === 'function' && queue && typeof queue.clear === 'function') {
      client._connect = function (this: CannonClient) {
        queue.clear();
        connect.call(this);
      };
    }
  };
  await cannon(
    {
      url: `http://127.0.0.1:${port}`,
      connections: opts.connections,
      pipelining: 1,
      duration: seconds,
      timeout: 5,
      sampleInt: 50, // how soon a stop takes effect
      requests,
      setupClient,
    },
    seconds * 1000 + 20_000,
    (instance) => {
      control.stop = () => instance.stop();
      instance.on('response', (_client, status, _bytes, ms) => {
        result.responses.push({ t: performance.now() - t0, status, ms });
        if (status >= 200 && status < 300) control.onOk?.();
        else result.non2xx++;
      });
      instance.on('reqError', (err) => {
        const code = err.code ?? (err.message === 'request timed out' ? 'TIMEOUT' : err.message);
        result.errors.set(code, (result.errors.get(code) ?? 0) + 1);
      });
    },
  );
  // Each connection has exactly one request in flight (pipelining 1): the last it built.
  const inFlight = new Set(clients.map((c) => c.requestIterator.context.cur).filter((id): id is string => id !== undefined));
  for (const id of ledger.pending) {
    if (inFlight.has(id)) result.inFlightAtStop++;
    else result.lost++;
    ledger.unknown.add(id);
  }
  ledger.pending.clear();
  return result;
}

// --- one run ----------------------------------------------------------------------------------

interface RunResult {
  setup: Setup;
  attack: boolean;
  /** The control: harmless twins of the attacks. */
  twin: boolean;
  /** Attacks only in half of the windows of opts.pulseMs (see isAttackWindow). */
  pulse: boolean;
  /** Pulsed runs: benign goodput in attack windows and in calm windows (their first quarter left out), and on / off. */
  paired?: { on: number; off: number; ratio: number };
  /** srs: which round of (no attack, storm) runs. */
  round?: number;
  skipped?: string;
  /** Plotted timeline length (s): lead + duration. */
  span: number;
  buckets: number[];
  attacks: Attack[];
  restartTimes: number[];
  diedAt?: number;
  goodput: number;
  failed: number;
  non2xx: number;
  errors: Map<string, number>;
  inFlightAtStop: number;
  p50: number;
  p99: number;
  verdict: Verdict;
  rssStart: number;
  rssEnd: number;
  restarts: number;
  recoveries: number[];
  /** Recoveries that undid shared writes of the attacker (restored or compensated > 0). */
  recoveriesUndoing: number;
  escalations: number;
  suppressed: number;
  cpuPerOk: number;
  busy: number;
  other: number;
  attackRate: number;
  /** How many times it was measured (see --attempts). */
  attempts: number;
}

function percentile(values: number[], p: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

async function getJson<T>(port: number, urlPath: string): Promise<T | undefined> {
  const reply = await request(port, urlPath, { timeoutMs: 5000 });
  if (reply.status !== 200 || reply.body === undefined) return undefined;
  try {
    return JSON.parse(reply.body) as T;
  } catch {
    return undefined;
  }
}

/** The full state of every process that answers (a cluster: each worker, found by asking on fresh connections). */
async function readStates(port: number, workers: number, statePath: string): Promise<unknown[]> {
  const byPid = new Map<number, unknown>();
  for (let i = 0; i < (workers > 1 ? 16 : 1) && byPid.size < workers; i++) {
    const s = await getJson<{ pid: number }>(port, statePath);
    if (s) byPid.set(s.pid, s);
  }
  return [...byPid.values()];
}

interface RunSpec {
  setup: Setup;
  attack: boolean;
  twin?: boolean;
  pulse?: boolean;
  round?: number;
  /** Overrides opts.duration (the calibration). */
  duration?: number;
}

/** runOne, again while other processes disturbed it (up to opts.attempts in all); the least disturbed run. */
async function measure(spec: RunSpec, opts: Options, attackRate: number, pinned: boolean, log: (s: string) => void): Promise<RunResult> {
  let best: RunResult | undefined;
  for (let attempt = 1; attempt <= opts.attempts; attempt++) {
    const r = await runOne(spec, opts, attackRate, pinned, log);
    if (best === undefined || r.other < best.other) best = { ...r, attempts: attempt };
    else best.attempts = attempt;
    // (A process that died took its CPU accounting along: no measure of the others then, and nothing to gain.)
    if (r.skipped || r.diedAt !== undefined || !(r.other >= QUIET) || attempt === opts.attempts) break;
    log(`  other processes used ${fixed(r.other, 2)} cores during the run; measuring it again`);
  }
  return best!;
}

async function runOne(spec: RunSpec, opts: Options, attackRate: number, pinned: boolean, log: (s: string) => void): Promise<RunResult> {
  const { setup } = spec;
  const duration = spec.duration ?? opts.duration;
  const span = opts.lead + duration;
  const base: RunResult = {
    setup, attack: spec.attack, twin: spec.twin ?? false, pulse: spec.pulse ?? false, round: spec.round, span, buckets: [], attacks: [], restartTimes: [],
    goodput: NaN, failed: NaN, non2xx: 0, errors: new Map(), inFlightAtStop: 0, p50: NaN, p99: NaN,
    verdict: { equal: false, short: 'n/a', text: 'n/a' }, rssStart: NaN, rssEnd: NaN, restarts: 0, recoveries: [], recoveriesUndoing: 0,
    escalations: 0, suppressed: 0, cpuPerOk: NaN, busy: NaN, other: NaN, attackRate: spec.attack ? attackRate : 0, attempts: 1,
  };
  if (setup.unavailable) return { ...base, skipped: setup.unavailable };

  const kind = `${spec.pulse ? 'pulsed-' : ''}${spec.twin ? 'control' : spec.attack ? 'storm' : 'no-attack'}`;
  const name = spec.duration !== undefined ? 'calibration' : `${kind}${spec.round !== undefined ? `-${spec.round}` : ''}`;
  const proc = await setup.launch(opts, name);
  live.add(proc);
  try {
    const root = proc.child.pid!;
    const restartTimes: number[] = [];
    let t0 = performance.now();
    // node:cluster's setup reports a re-fork on stderr, pm2-runtime on stdout.
    for (const stream of [proc.child.stdout!, proc.child.stderr!]) {
      let partial = '';
      stream.on('data', (d: string) => {
        const lines = (partial + d).split('\n');
        partial = lines.pop()!;
        for (const line of lines) if (setup.restartLine?.test(line)) restartTimes.push(performance.now() - t0);
      });
    }
    const workers = setup.key === 'cluster' || setup.key === 'pm2' ? 2 : 1;
    // The workers of a cluster are up once every one of them answers.
    for (let i = 0; i < 50 && processTree(root).length < workers + (workers > 1 ? 1 : 0); i++) await sleep(100);
    if (pinned) pinTree(root, opts.serverCpu);

    const ledger = new BenignLedger();
    if (opts.warmup > 0) await benignLoad(proc.port, opts.warmup, ledger, opts, performance.now());
    if (opts.waitQuiet > 0) {
      const waited = await waitForQuiet(opts.waitQuiet);
      if (waited >= 1) log(`  waited ${waited.toFixed(1)} s for other processes to go quiet`);
    }
    if (pinned) pinTree(root, opts.serverCpu);

    const rssStart = treeRss(root);
    const cpu0 = treeCpu(root);
    restartTimes.length = 0;
    const attacks: Attack[] = [];
    const outstanding = new Set<Promise<void>>();
    let attackNo = 0;
    const fire = () => {
      const n = ++attackNo;
      const p = opts.scenario.attackOnce({ port: proc.port, n, gapMs: opts.attackGapMs, t0, harmless: spec.twin ?? false, ledger }).then((a) => {
        attacks.push(a);
        outstanding.delete(p);
      });
      outstanding.add(p);
    };
    let diedAt: number | undefined;
    const control: { stop?: () => void; onOk?: () => void } = {};
    let stormOver = false;
    let okInStorm = 0;
    /** Pulsed runs: the index of the pulse window a time (ms since t0) falls in. */
    const windowOf = (t: number) => Math.floor((t - opts.lead * 1000) / opts.pulseMs);
    const attackWindow = (t: number) => t >= opts.lead * 1000 && (!spec.pulse || isAttackWindow(windowOf(t)));
    if (spec.attack && opts.adaptive) {
      control.onOk = () => {
        if (stormOver || !attackWindow(performance.now() - t0)) return;
        if (++okInStorm % opts.attackEvery === 0) fire();
      };
    }

    t0 = performance.now();
    const { value: load, other } = await otherLoadDuring(async () => {
      // Fixed-rate attacks: the k-th at lead + (k - 0.5) / rate, drift-free.
      let timer: NodeJS.Timeout | undefined;
      if (spec.attack && !opts.adaptive) {
        const interval = 1000 / attackRate;
        let k = 0;
        const schedule = () => {
          let at = opts.lead * 1000 + (k + 0.5) * interval;
          while (at < span * 1000 && !attackWindow(at)) at = opts.lead * 1000 + (++k + 0.5) * interval;
          if (at >= span * 1000) return;
          timer = setTimeout(() => {
            k++;
            fire();
            schedule();
          }, Math.max(0, at - (performance.now() - t0)));
        };
        schedule();
      }
      // A process that nobody restarts and that died: the rest of the run is refused connections.
      const watch = setInterval(() => {
        if (!setup.supervised && diedAt === undefined && (proc.child.exitCode !== null || proc.child.signalCode !== null)) {
          diedAt = performance.now() - t0;
          control.stop?.();
        }
      }, 20);
      try {
        return await benignLoad(proc.port, span, ledger, opts, t0, control);
      } finally {
        stormOver = true;
        clearTimeout(timer);
        clearInterval(watch);
      }
    });
    await Promise.all(outstanding);
    await sleep(300); // requests cut by the stop finish server-side
    const alive = proc.child.exitCode === null && proc.child.signalCode === null;
    // A dead root took its CPU accounting with it.
    const cpu = alive ? treeCpu(root) - cpu0 : NaN;
    const rssEnd = alive ? treeRss(root) : NaN;
    const states = alive ? await readStates(proc.port, workers, opts.scenario.statePath) : [];
    const restarts = restartTimes.length;
    const verdict = alive
      ? opts.scenario.judge(states, ledger, restarts)
      : { equal: false, short: 'lost' as const, text: `lost: the process died at ${((diedAt ?? 0) / 1000).toFixed(2)} s (exit code ${proc.child.exitCode ?? proc.child.signalCode}), all state gone` };

    const start = opts.lead * 1000;
    const end = span * 1000;
    const inWindow = load.responses.filter((r) => r.t >= start && r.t < end);
    const ok = inWindow.filter((r) => r.status >= 200 && r.status < 300);
    const buckets = new Array<number>(Math.ceil(end / opts.bucketMs)).fill(0);
    for (const r of load.responses) {
      if (r.status >= 200 && r.status < 300 && r.t < end) buckets[Math.floor(r.t / opts.bucketMs)]!++;
    }
    let paired: RunResult['paired'];
    if (spec.pulse) {
      // Goodput in attack windows vs calm windows, each window's first quarter left out (the switch settles).
      const ok2xx = { on: 0, off: 0 };
      const windows = Math.floor((duration * 1000) / opts.pulseMs);
      const counted = { on: 0, off: 0 };
      for (let w = 0; w < windows; w++) counted[isAttackWindow(w) ? 'on' : 'off'] += (opts.pulseMs * 0.75) / 1000;
      for (const r of ok) {
        const w = windowOf(r.t);
        if (w >= windows || r.t - opts.lead * 1000 - w * opts.pulseMs < opts.pulseMs * 0.25) continue;
        ok2xx[isAttackWindow(w) ? 'on' : 'off']++;
      }
      const on = ok2xx.on / counted.on;
      const off = ok2xx.off / counted.off;
      paired = { on, off, ratio: on / off };
    }
    const events = proc.events();
    const recoveryEvents = events.filter((e) => e.type === 'srs.recovery');
    const okTotal = load.responses.filter((r) => r.status >= 200 && r.status < 300).length;
    const result: RunResult = {
      ...base,
      buckets: buckets.map((n) => (n * 1000) / opts.bucketMs),
      attacks: attacks.sort((a, b) => a.t - b.t),
      restartTimes,
      diedAt,
      paired,
      goodput: ok.length / duration,
      failed: load.non2xx + load.lost,
      non2xx: load.non2xx,
      errors: load.errors,
      inFlightAtStop: load.inFlightAtStop,
      p50: percentile(ok.map((r) => r.ms), 50),
      p99: percentile(ok.map((r) => r.ms), 99),
      verdict,
      rssStart,
      rssEnd,
      restarts,
      recoveries: recoveryEvents.map((e) => Number(e.durationUs)),
      recoveriesUndoing: recoveryEvents.filter((e) => Number(e.state?.restored ?? 0) + Number(e.state?.compensated ?? 0) > 0).length,
      escalations: events.filter((e) => e.type === 'srs.escalation').length,
      suppressed: events.filter((e) => e.type === 'srs.suppressed').length,
      cpuPerOk: okTotal > 0 ? (cpu * 1e6) / okTotal : NaN,
      busy: cpu / ((performance.now() - t0) / 1000),
      other: alive ? other : NaN,
    };
    return result;
  } finally {
    await stopServer(proc);
    await killLeftovers();
  }
}

// --- report ------------------------------------------------------------------------------------

const int = (n: number) => (Number.isFinite(n) ? Math.round(n).toLocaleString('en-US') : 'n/a');
const fixed = (n: number, digits: number) => (Number.isFinite(n) ? n.toFixed(digits) : 'n/a');
const mb = (bytes: number) => (Number.isFinite(bytes) ? (bytes / 1048576).toFixed(1) : '—');

function median(values: number[]): number {
  const xs = values.filter((v) => Number.isFinite(v)).sort((a, b) => a - b);
  if (xs.length === 0) return NaN;
  const mid = xs.length >> 1;
  return xs.length % 2 === 1 ? xs[mid]! : (xs[mid - 1]! + xs[mid]!) / 2;
}

function srsRevision(): string {
  const { version } = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { version: string };
  const git = spawnSync('git', ['describe', '--always', '--dirty'], { cwd: ROOT, encoding: 'utf8' });
  const rev = git.status === 0 ? git.stdout.trim() : process.env.BENCH_SRS_REV;
  return rev ? `srs ${version} (${rev})` : `srs ${version}`;
}

function outcomes(attacks: Attack[]): string {
  const counts = new Map<string, number>();
  for (const a of attacks) counts.set(a.outcome, (counts.get(a.outcome) ?? 0) + 1);
  return [...counts].sort((a, b) => b[1] - a[1]).map(([o, n]) => `${o} ×${n}`).join(', ') || '—';
}

/**
 * Pulsed runs attack in windows on, off, off, on, on, off, off, on, ... (ABBA),
 * so that a steady drift of goodput over the run (a server still warming up,
 * a heap still growing) weighs on attack and calm windows alike.
 */
function isAttackWindow(w: number): boolean {
  return w % 4 === 0 || w % 4 === 3;
}

/** One line of the table: every run of one setup with or without attacks (srs: one per round). */
interface Row {
  setup: Setup;
  attack: boolean;
  twin: boolean;
  pulse: boolean;
  runs: RunResult[];
  skipped?: string;
  /** Median over the runs. */
  goodput: number;
  /** The run with the median goodput (the lower middle one for an even count): what the chart shows. */
  rep: RunResult;
}

function rowsOf(runs: RunResult[]): Row[] {
  const rows: Row[] = [];
  for (const r of runs) {
    let row = rows.find((x) => x.setup.key === r.setup.key && x.attack === r.attack && x.twin === r.twin && x.pulse === r.pulse);
    if (!row) {
      row = { setup: r.setup, attack: r.attack, twin: r.twin, pulse: r.pulse, runs: [], skipped: r.skipped, goodput: NaN, rep: r };
      rows.push(row);
    }
    row.runs.push(r);
  }
  for (const row of rows) {
    if (row.skipped) continue;
    row.goodput = median(row.runs.map((r) => r.goodput));
    const sorted = [...row.runs].sort((a, b) => a.goodput - b.goodput);
    row.rep = sorted[(sorted.length - 1) >> 1]!;
  }
  return rows;
}

function rowName(row: Row, opts: Options): string {
  const sent = row.twin ? 'harmless twins of the attacks' : 'attacks';
  const what = row.pulse
    ? `, pulsed: ${sent} in half of the ${opts.pulseMs} ms windows`
    : row.twin
      ? `, ${sent}`
      : row.attack
        ? ''
        : ', no attack';
  return `${row.setup.label}${what}${row.runs.length > 1 ? ` (median of ${row.runs.length} runs)` : ''}`;
}

/** Pulsed rows: median over the runs of goodput in attack windows / goodput in calm windows. */
const pairedRatio = (row: Row) => median(row.runs.map((r) => r.paired?.ratio ?? NaN));

/** The no-attack row a storm row is compared with: srs with its own, everything else with plain node's. */
function baselineRow(row: Row, rows: Row[]): Row | undefined {
  const key = row.setup.key === 'srs' ? 'srs' : 'node';
  return rows.find((b) => !b.attack && !b.skipped && b.setup.key === key);
}

function verdictOf(row: Row): Verdict {
  const texts = new Map<string, number>();
  for (const r of row.runs) if (!r.verdict.equal) texts.set(r.verdict.text, (texts.get(r.verdict.text) ?? 0) + 1);
  if (texts.size === 0) return { equal: true, short: 'equal', text: 'yes' };
  const first = row.runs.find((r) => !r.verdict.equal)!.verdict;
  const bad = row.runs.filter((r) => !r.verdict.equal).length;
  const text = row.runs.length > 1 ? `${bad} of ${row.runs.length} runs differ; e.g. ${first.text}` : first.text;
  return { equal: false, short: first.short, text };
}

const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);

/**
 * What an attack costs in server CPU, measured without the drift of the
 * machine: two servers of one setup on the server core at the same time, the
 * same benign load on each, the attack traffic on one of them only; per round,
 * the ratio of their CPU per benign 2xx.
 */
interface PairedCost {
  what: string;
  /** ratio (with / without) per round */
  ratios: number[];
}

const PAIRS: Array<{ what: string; setup: 'node' | 'srs'; without: Partial<RunSpec>; with: Partial<RunSpec> }> = [
  { what: 'plain node, harmless twins vs no attack', setup: 'node', without: { attack: false }, with: { attack: true, twin: true } },
  { what: 'srs, harmless twins vs no attack', setup: 'srs', without: { attack: false }, with: { attack: true, twin: true } },
  { what: 'srs, attacks vs harmless twins', setup: 'srs', without: { attack: true, twin: true }, with: { attack: true } },
  { what: 'srs, attacks vs no attack', setup: 'srs', without: { attack: false }, with: { attack: true } },
];

async function measurePaired(all: Setup[], opts: Options, attackRate: number, pinned: boolean, log: (s: string) => void): Promise<PairedCost[]> {
  // Both runs start together and must overlap: no waiting for quiet, no second attempts. Each
  // server gets about half the core, so attacks follow its own benign completions (one per
  // --attack-every), not the rate calibrated on a server alone.
  const together = { ...opts, waitQuiet: 0, attempts: 1, adaptive: true };
  const costs: PairedCost[] = [];
  for (const pair of PAIRS) {
    const setup = all.find((s) => s.key === pair.setup)!;
    if (!opts.setups.includes(pair.setup) || setup.unavailable) continue;
    const cost: PairedCost = { what: pair.what, ratios: [] };
    for (let round = 1; round <= opts.pairedRounds; round++) {
      log(`paired: ${pair.what} (round ${round})`);
      const [without, withAttacks] = await Promise.all([
        runOne({ setup, attack: false, ...pair.without, round }, together, attackRate, pinned, () => {}),
        runOne({ setup, attack: false, ...pair.with, round }, together, attackRate, pinned, () => {}),
      ]);
      const ratio = withAttacks.cpuPerOk / without.cpuPerOk;
      log(`  ${fixed(without.cpuPerOk, 0)} vs ${fixed(withAttacks.cpuPerOk, 0)} µs CPU per benign 2xx: ${fixed(ratio, 3)}`);
      if (Number.isFinite(ratio)) cost.ratios.push(ratio);
    }
    costs.push(cost);
  }
  return costs;
}

interface Context {
  paired: PairedCost[];
  opts: Options;
  pinned: boolean;
  startedAt: Date;
  attackRate: number;
  calibrated?: number;
  totalSeconds: number;
}

function header(ctx: Context): string {
  const cpus = os.cpus();
  const model = cpus[0]?.model.trim() ?? 'unknown CPU';
  const { opts } = ctx;
  return (
    `${srsRevision()} · Node ${process.version} · ${os.platform()} ${os.arch()} · ${cpus.length} × ${model} · ` +
    `${ctx.pinned ? `servers pinned to cpu ${opts.serverCpu}, load generator and attacker to cpu ${opts.clientCpu}` : 'not pinned'} · ` +
    `${ctx.startedAt.toISOString()}${opts.quick ? ' · QUICK' : ''}${opts.profileDir ? ' · PROFILED (srs under --cpu-prof)' : ''}`
  );
}

function attackDescription(ctx: Context): string {
  const { opts } = ctx;
  if (opts.adaptive) return `one attack after every ${opts.attackEvery} benign 2xx responses of the setup under attack`;
  if (ctx.calibrated !== undefined) {
    return (
      `${fixed(ctx.attackRate, 1)} attacks/s = 1 per ${opts.attackEvery} benign requests at srs's no-attack goodput ` +
      `(${int(ctx.calibrated)} req/s in a ${opts.calibrate} s calibration run), the same rate for every setup`
    );
  }
  return `${fixed(ctx.attackRate, 1)} attacks/s (--attack-rate), the same for every setup`;
}

function report(runs: RunResult[], ctx: Context): string {
  const { opts } = ctx;
  const rows = rowsOf(runs);
  const L: string[] = [];
  L.push('# SRS crash storm: benign traffic under a stream of crashing requests');
  L.push('');
  L.push(header(ctx));
  L.push('');
  const text = opts.scenario.text({ readsEvery: opts.readsEvery, gapMs: opts.attackGapMs });
  L.push(
    `Server: ${text.server}. ` +
      `Benign load: autocannon, ${opts.connections} keep-alive connections, each looping over ${text.load}. ` +
      `Attacks (${opts.scenario.advisory}): ${attackDescription(ctx)}; ${text.attack}. Each run: fresh server, ${opts.warmup} s warm-up, ${opts.lead} s calm lead-in, ` +
      `then ${opts.duration} s of storm; goodput and latency are over the storm window. srs is measured in ${opts.rounds} ` +
      `round${opts.rounds > 1 ? 's' : ''} of one no-attack run, one storm run and one pulsed storm run (attacks only in half of its ${opts.pulseMs} ms windows, on, off, off, on, on, off, ..., so that a drift over the run cancels out; goodput in attack windows is compared with that in calm windows of the same run, each window's first quarter left out), the order alternating; medians reported. srs runs with default options except ` +
      `\`--budget ${opts.budget}\`: the default budget (1000 recoveries per 60 s, then escalate so that a supervisor restarts the ` +
      `process) is meant to stop crash loops, and a sustained storm is one. Whole benchmark: ${Math.round(ctx.totalSeconds)} s.`,
  );
  L.push('');
  L.push(
    '| setup | attacks | benign goodput (2xx/s) | vs no-attack | benign failed | p50 / p99 ms | state = oracle | RSS MB start → end | restarts | recoveries | recovery µs p50 / p99 / max |',
  );
  L.push('|---|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|');
  for (const row of rows) {
    if (row.skipped) {
      L.push(`| ${rowName(row, opts)} | ${row.skipped} | | | | | | | | | |`);
      continue;
    }
    const base = row.attack && !row.pulse ? baselineRow(row, rows) : undefined;
    const vs = row.pulse
      ? `${fixed(pairedRatio(row), 3)} (paired)`
      : base
        ? `${fixed(row.goodput / base.goodput, 3)}${base.setup.key !== row.setup.key ? ` (of node's)` : ''}`
        : '—';
    const rec = row.runs.flatMap((r) => r.recoveries);
    const recovery = rec.length > 0 ? `${int(percentile(rec, 50))} / ${int(percentile(rec, 99))} / ${int(rec.reduce((a, b) => Math.max(a, b), -Infinity))}` : '—';
    const died = row.runs.some((r) => r.diedAt !== undefined);
    const restarts = row.setup.supervised ? int(sum(row.runs.map((r) => r.restarts))) : died ? 'none (died)' : '0';
    const verdict = verdictOf(row);
    const attacks = sum(row.runs.map((r) => r.attacks.length));
    L.push(
      `| ${rowName(row, opts)} | ${row.twin ? `0 (${int(attacks)} twins)` : row.attack ? int(attacks) : '0'} | ${int(row.goodput)} | ${vs} | ${int(sum(row.runs.map((r) => r.failed)))} | ` +
        `${fixed(median(row.runs.map((r) => r.p50)), 1)} / ${fixed(median(row.runs.map((r) => r.p99)), 1)} | ${verdict.text} | ` +
        `${mb(row.rep.rssStart)} → ${mb(row.rep.rssEnd)} | ${restarts} | ${row.setup.key === 'srs' ? int(rec.length) : '—'} | ${recovery} |`,
    );
  }
  L.push('');
  L.push(
    '"benign failed": benign requests answered non-2xx or never answered (reset, closed, refused, timed out; a client ' +
      'retries a refused connection at once, so a dead server piles these up until the load stops), summed over the runs; ' +
      'requests still in flight when the load stopped are not counted (their outcome is unknown). "state = oracle": ' +
      `${text.oracle}; a cluster is asked on fresh ` +
      'connections until both workers answered, and their states are added up. "vs no-attack": storm goodput over the ' +
      'no-attack goodput of the same setup (srs), or of plain node (the setups without a no-attack run). RSS: the whole ' +
      `server process tree after warm-up → after the storm (${text.growth}; for ` +
      'several runs, of the median one). Recovery µs: durationUs of the srs.recovery events, all runs pooled.',
  );
  L.push('');
  L.push('Details:');
  L.push('');
  for (const row of rows) {
    if (row.skipped) continue;
    const bits: string[] = [];
    const rs = row.runs;
    if (rs.length > 1) bits.push(`goodput per run ${rs.map((r) => int(r.goodput)).join(', ')}`);
    if (row.pulse) {
      const pairs = rs.map((r) => (r.paired ? `${int(r.paired.on)} vs ${int(r.paired.off)} (${fixed(r.paired.ratio, 3)})` : 'n/a'));
      bits.push(`goodput in attack windows vs calm windows ${pairs.join(', ')}`);
    }
    const attacks = rs.flatMap((r) => r.attacks);
    if (row.attack) bits.push(`${row.twin ? 'twin' : 'attack'} outcomes ${outcomes(attacks)}`);
    const errors = new Map<string, number>();
    for (const r of rs) for (const [code, n] of r.errors) errors.set(code, (errors.get(code) ?? 0) + n);
    if (errors.size > 0) bits.push(`client errors ${[...errors].map(([c, n]) => `${c} ×${n}`).join(', ')}`);
    const non2xx = sum(rs.map((r) => r.non2xx));
    if (non2xx > 0) bits.push(`non-2xx ${non2xx}`);
    for (const r of rs) if (r.diedAt !== undefined) bits.push(`process died at ${(r.diedAt / 1000).toFixed(2)} s`);
    if (row.setup.key === 'srs' && row.attack && !row.twin && !row.pulse) {
      const rec = rs.flatMap((r) => r.recoveries);
      bits.push(`recoveries that undid attacker writes ${sum(rs.map((r) => r.recoveriesUndoing))} of ${rec.length}`);
      bits.push(`escalations ${sum(rs.map((r) => r.escalations))}, suppressed ${sum(rs.map((r) => r.suppressed))}`);
      const base = baselineRow(row, rows);
      if (base && base.runs.length === rs.length && rs.length > 1) {
        const paired = rs.map((r) => r.goodput / base.runs.find((b) => b.round === r.round)!.goodput);
        bits.push(`per-round ratio to the no-attack run of the same round ${paired.map((x) => fixed(x, 3)).join(', ')}`);
      }
    }
    const cpu = median(rs.map((r) => r.cpuPerOk));
    if (Number.isFinite(cpu)) bits.push(`server CPU ${fixed(cpu, 0)} µs per benign 2xx, busy ${Math.round(median(rs.map((r) => r.busy)) * 100)} %`);
    const other = rs.map((r) => r.other).filter((x) => Number.isFinite(x));
    if (other.length > 0) {
      const retried = sum(rs.map((r) => r.attempts - 1));
      bits.push(`other processes ${other.map((x) => fixed(x, 2)).join(', ')} cores${retried > 0 ? ` (${retried} disturbed run${retried > 1 ? 's' : ''} measured again)` : ''}`);
    }
    if (row.attack && attacks.length > 0) {
      const ok = sum(rs.map((r) => r.goodput * (r.span - opts.lead)));
      bits.push(`1 ${row.twin ? 'twin' : 'attack'} per ${int(ok / attacks.length)} benign 2xx`);
    }
    const verdict = verdictOf(row);
    if (!verdict.equal) bits.push(`state: ${verdict.text}`);
    L.push(`- ${rowName(row, opts)}: ${bits.join('; ')}.`);
  }
  L.push('');
  const find = (key: SetupKey, attack: boolean, twin: boolean, pulse: boolean) =>
    rows.find((r) => r.setup.key === key && r.attack === attack && r.twin === twin && r.pulse === pulse && !r.skipped);
  const storm = find('srs', true, false, false);
  const calm = find('srs', false, false, false);
  const pulsed = find('srs', true, false, true);
  if (storm) {
    const between = calm ? storm.goodput / calm.goodput : NaN;
    const within = pulsed ? pairedRatio(pulsed) : NaN;
    const judged = Number.isFinite(within) ? within : between;
    const failed = sum([...storm.runs, ...(pulsed?.runs ?? [])].map((r) => r.failed));
    const verdict = verdictOf(storm);
    const checks = [
      `goodput under attack ${fixed(within, 3)} of the goodput without attacks in the same runs (pulsed, paired)` +
        ` and ${fixed(between, 3)} between separate runs (medians), target ≥ 0.95 ${judged >= 0.95 ? 'met' : 'MISSED'}` +
        (Number.isFinite(within) ? ' (judged on the paired ratio: separate runs of one server swing by far more than 5 % here)' : ''),
      `${int(failed)} benign failures (target 0: ${failed === 0 ? 'met' : 'MISSED'})`,
      `state ${verdict.equal ? 'equals the oracle (target: met)' : `differs from the oracle (target MISSED): ${verdict.text}`}`,
      `${sum(storm.runs.map((r) => r.recoveries.length))} recoveries for ${sum(storm.runs.map((r) => r.attacks.length))} attacks, ` +
        `${sum(storm.runs.map((r) => r.escalations))} escalations`,
    ];
    if (calm) {
      const a = median(storm.runs.map((r) => r.cpuPerOk));
      const b = median(calm.runs.map((r) => r.cpuPerOk));
      checks.push(`server CPU per benign 2xx ${fixed(a, 0)} µs under the storm vs ${fixed(b, 0)} µs without (×${fixed(a / b, 3)})`);
    }
    L.push(`Targets for srs: ${checks.join('; ')}.`);
    L.push('');
  }
  const split = [
    ['plain node, harmless twins of the attacks', find('node', true, true, true)],
    ['the catch-all, attacks', find('catch-all', true, false, true)],
    ['srs, harmless twins', find('srs', true, true, true)],
    ['srs, attacks', pulsed],
  ] as const;
  if (split.filter(([, row]) => row !== undefined).length > 1) {
    L.push(
      'What an attack costs, piece by piece (pulsed runs: goodput in attack windows / in calm windows of the same run): ' +
        split
          .filter(([, row]) => row !== undefined)
          .map(([what, row]) => `${what} ${fixed(pairedRatio(row!), 3)}`)
          .join('; ') +
        `. Twins are the attacks without the crash: ${text.twin}. ` +
        'Plain node with twins prices the traffic itself; the catch-all adds the exception (no recovery, the ' +
        'request hangs); srs with twins adds journaling around the attacker\'s requests; srs with ' +
        'attacks adds the crash, the recovery, the 500 and the event.',
    );
    L.push('');
  }
  const priced = ctx.paired.filter((p) => p.ratios.length > 0);
  if (priced.length > 0) {
    const range = (r: number[]) => `${fixed(median(r), 3)} (${fixed(Math.min(...r), 3)}–${fixed(Math.max(...r), 3)})`;
    L.push(
      `What an attack costs in server CPU (paired: two servers of the setup on the server core at the same time, the same ` +
        `benign load on each; one of them also gets the traffic named first, the other the traffic named after "vs", one ` +
        `attack (or twin) per ${ctx.opts.attackEvery} benign completions of its server; ratio of their server CPU per benign 2xx, ` +
        `median of ${ctx.opts.pairedRounds} round${ctx.opts.pairedRounds > 1 ? 's' : ''} (min–max)): ` +
        priced.map((p) => `${p.what} ${range(p.ratios)}`).join('; ') +
        '. Seconds of one server measured after another drift with the machine; two servers loaded at once share its ' +
        'speed, so this is the steadier price of an attack, in CPU rather than goodput.',
    );
    L.push('');
  }
  return L.join('\n');
}

// --- the chart ------------------------------------------------------------------------------------

const COLORS: Record<SetupKey, string> = {
  node: '#374151',
  cluster: '#d97706',
  pm2: '#7c3aed',
  'catch-all': '#0e7490',
  srs: '#15803d',
};
const ATTACK_COLOR = '#dc2626';

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

function niceCeil(v: number): number {
  if (!(v > 0)) return 1;
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}

/** One panel per setup under attack: benign goodput per bucket, attacks, restarts, death; dashed: no attack. */
function chart(runs: RunResult[], ctx: Context): string {
  const { opts } = ctx;
  const rows = rowsOf(runs);
  const storms = rows.filter((r) => r.attack && !r.twin && !r.pulse);
  const span = opts.lead + opts.duration;
  const W = 980;
  const left = 78;
  const right = 24;
  const plotW = W - left - right;
  const panelH = 96;
  const titleH = 34;
  const axisH = 30;
  const top = 136;
  const H = top + storms.length * (titleH + panelH + axisH) + 24;
  const shown = rows.filter((r) => !r.skipped && !r.pulse).map((r) => r.rep);
  const ymax = niceCeil(Math.max(1, ...shown.flatMap((r) => r.buckets)) * 1.05);
  const x = (seconds: number) => left + (seconds / span) * plotW;
  const o: string[] = [];
  o.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="DejaVu Sans, Helvetica, Arial, sans-serif" font-size="12">`);
  o.push(`<rect width="${W}" height="${H}" fill="#ffffff"/>`);
  o.push(`<text x="${left}" y="26" font-size="17" font-weight="bold">Crash storm (${esc(opts.scenario.key)}, ${esc(opts.scenario.advisory)}): benign goodput over time (Node ${esc(process.version)})</text>`);
  o.push(`<text x="${left}" y="46" fill="#444">${esc(attackDescription(ctx))}</text>`);
  o.push(
    `<text x="${left}" y="62" fill="#444">${esc(
      `${opts.connections} benign connections; ${opts.bucketMs} ms buckets; srs: the median of ${opts.rounds} run${opts.rounds > 1 ? 's' : ''}; ` +
        header(ctx).split(' · ').slice(2, 4).join(' · '),
    )}</text>`,
  );
  let lx = left;
  let ly = 84;
  const legend = (draw: (lx: number, ly: number) => string, label: string) => {
    const width = 30 + label.length * 6.8 + 24;
    if (lx + width > W - right) {
      lx = left;
      ly += 18;
    }
    o.push(draw(lx, ly));
    o.push(`<text x="${lx + 30}" y="${ly + 4}">${esc(label)}</text>`);
    lx += width;
  };
  legend((lx, ly) => `<line x1="${lx}" y1="${ly}" x2="${lx + 24}" y2="${ly}" stroke="#15803d" stroke-width="2"/>`, "benign 2xx responses/s (the setup's colour)");
  legend(
    (lx, ly) => `<line x1="${lx}" y1="${ly}" x2="${lx + 24}" y2="${ly}" stroke="#9ca3af" stroke-width="1.5" stroke-dasharray="5 3"/>`,
    'no attack (srs: srs; others: plain node)',
  );
  legend((lx, ly) => `<line x1="${lx + 12}" y1="${ly - 7}" x2="${lx + 12}" y2="${ly + 7}" stroke="${ATTACK_COLOR}" stroke-width="2"/>`, 'attack (crashing part sent)');
  legend((lx, ly) => `<path d="M${lx + 7},${ly - 6} h10 l-5,9 z" fill="#111"/>`, 'worker exited, re-forked');
  legend((lx, ly) => `<text x="${lx + 6}" y="${ly + 6}" font-size="17" font-weight="bold" fill="${ATTACK_COLOR}">✕</text>`, 'process died');
  legend((lx, ly) => `<rect x="${lx}" y="${ly - 7}" width="24" height="14" fill="#fee2e2"/>`, 'storm window');

  storms.forEach((row, i) => {
    const r = row.rep;
    const y0 = top + i * (titleH + panelH + axisH) + titleH;
    const y = (v: number) => y0 + panelH - (Math.min(v, ymax) / ymax) * panelH;
    const color = COLORS[row.setup.key];
    const verdict = verdictOf(row);
    const base = baselineRow(row, rows);
    const pulsed = rows.find((x) => x.setup.key === row.setup.key && x.pulse && !x.twin && !x.skipped);
    const summary = row.skipped
      ? row.skipped
      : `${int(row.goodput)} benign 2xx/s${base ? ` (${fixed(row.goodput / base.goodput, 2)} × no-attack` : ''}` +
        `${pulsed ? `${base ? '; ' : ' ('}paired ${fixed(pairedRatio(pulsed), 2)})` : base ? ')' : ''} · ` +
        `${int(sum(row.runs.map((x) => x.failed)))} benign failed · state ` +
        (verdict.equal ? '= oracle' : verdict.short === 'corrupted' ? 'corrupted' : verdict.short === 'lost' ? 'lost' : '≠ oracle') +
        (row.setup.supervised ? ` · ${int(r.restarts)} restarts` : '') +
        (row.setup.key === 'srs' ? ` · ${r.recoveries.length} recoveries, p99 ${int(percentile(r.recoveries, 99))} µs` : '');
    // About 0.58 em per character in a sans-serif face: shrink a title that would not fit.
    const chars = `${i + 1}. ${row.setup.label} — ${summary}`.length;
    const titleSize = Math.max(9, Math.min(13, Math.floor((plotW / (chars * 0.58)) * 10) / 10));
    o.push(
      `<text x="${left}" y="${y0 - 10}" font-size="${titleSize}" xml:space="preserve"><tspan font-weight="bold" fill="${color}">${i + 1}. ${esc(row.setup.label)}</tspan>` +
        `<tspan fill="#333"> — ${esc(summary)}</tspan></text>`,
    );
    o.push(`<rect x="${left}" y="${y0}" width="${plotW}" height="${panelH}" fill="#fafafa" stroke="#d1d5db"/>`);
    if (row.skipped) {
      o.push(`<text x="${left + plotW / 2}" y="${y0 + panelH / 2 + 5}" text-anchor="middle" fill="#6b7280" font-size="14">${esc(row.skipped)}</text>`);
    } else {
      o.push(`<rect x="${x(opts.lead)}" y="${y0}" width="${x(span) - x(opts.lead)}" height="${panelH}" fill="#fee2e2" opacity="0.55"/>`);
    }
    for (const f of [0, 0.5, 1]) {
      const yy = y(ymax * f);
      if (f > 0) o.push(`<line x1="${left}" y1="${yy}" x2="${left + plotW}" y2="${yy}" stroke="#e5e7eb"/>`);
      o.push(`<text x="${left - 6}" y="${yy + 4}" text-anchor="end" fill="#555" font-size="11">${int(ymax * f)}</text>`);
    }
    o.push(`<text transform="translate(${left - 52},${y0 + panelH / 2}) rotate(-90)" text-anchor="middle" fill="#555" font-size="11">2xx/s</text>`);
    const step = span > 12 ? 2 : span > 5 ? 1 : 0.5;
    for (let s = 0; s <= span + 1e-9; s += step) {
      const xx = x(s);
      o.push(`<line x1="${xx}" y1="${y0 + panelH}" x2="${xx}" y2="${y0 + panelH + 4}" stroke="#555"/>`);
      o.push(`<text x="${xx}" y="${y0 + panelH + 16}" text-anchor="middle" fill="#555" font-size="11">${Number(s.toFixed(1))}</text>`);
    }
    o.push(`<text x="${left + plotW}" y="${y0 + panelH + 28}" text-anchor="end" fill="#555" font-size="11">time (s)</text>`);
    if (row.skipped) return;
    const line = (buckets: number[]) =>
      buckets
        .slice(0, Math.ceil((span * 1000) / opts.bucketMs))
        .map((v, k) => `${k === 0 ? 'M' : 'L'}${x(((k + 0.5) * opts.bucketMs) / 1000).toFixed(1)},${y(v).toFixed(1)}`)
        .join(' ');
    if (base && base.rep.buckets.length > 0) {
      o.push(`<path d="${line(base.rep.buckets)}" fill="none" stroke="#9ca3af" stroke-width="1.5" stroke-dasharray="5 3"/>`);
    }
    for (const a of r.attacks) {
      const xx = x(a.t / 1000).toFixed(1);
      o.push(`<line x1="${xx}" y1="${y0 + panelH - 9}" x2="${xx}" y2="${y0 + panelH}" stroke="${ATTACK_COLOR}" stroke-width="1" opacity="0.7"/>`);
    }
    o.push(`<path d="${line(r.buckets)}" fill="none" stroke="${color}" stroke-width="2" stroke-linejoin="round"/>`);
    for (const t of r.restartTimes) {
      if (t > span * 1000) continue;
      const xx = x(t / 1000);
      o.push(`<path d="M${(xx - 4).toFixed(1)},${y0 + 1} h8 l-4,7 z" fill="#111" opacity="0.75"/>`);
    }
    if (r.diedAt !== undefined) {
      const xx = x(r.diedAt / 1000);
      o.push(`<text x="${xx}" y="${y0 + panelH / 2 + 6}" text-anchor="middle" font-size="20" font-weight="bold" fill="${ATTACK_COLOR}">✕</text>`);
      o.push(`<text x="${xx + 12}" y="${y0 + panelH / 2 + 4}" fill="${ATTACK_COLOR}" font-size="12">process died at ${(r.diedAt / 1000).toFixed(2)} s: nothing answers</text>`);
    }
  });
  o.push('</svg>');
  return o.join('\n') + '\n';
}

// --- main ---------------------------------------------------------------------------------------

async function main(): Promise<void> {
  const opts = parseOptions(process.argv.slice(2), process.env);
  const startedAt = new Date();
  const t0 = performance.now();
  const log = (s: string) => process.stderr.write(`${s}\n`);
  const all = setups(opts.scenario);
  const chosen = all.filter((s) => opts.setups.includes(s.key));
  const srs = all.find((s) => s.key === 'srs')!;
  const node = all.find((s) => s.key === 'node')!;

  const specs: RunSpec[] = [];
  if (opts.setups.includes('node')) specs.push({ setup: node, attack: false });
  for (const s of chosen) {
    if (s.key !== 'srs') {
      specs.push({ setup: s, attack: true });
      continue;
    }
    // Rounds of (no attack, storm, pulsed storm), the order alternating (ABC CBA ...), so that drift hits all alike.
    for (let round = 1; round <= opts.rounds; round++) {
      const group: RunSpec[] = [{ setup: s, attack: false, round }, { setup: s, attack: true, round }, { setup: s, attack: true, pulse: true, round }];
      specs.push(...(round % 2 === 1 ? group : group.reverse()));
    }
  }
  if (opts.control) {
    // What an attack costs, piece by piece, each paired within one run (see report()).
    for (const s of chosen) {
      if (s.key === 'node') specs.push({ setup: s, attack: true, twin: true, pulse: true });
      if (s.key === 'catch-all') specs.push({ setup: s, attack: true, pulse: true });
      if (s.key === 'srs') specs.push({ setup: s, attack: true, twin: true, pulse: true });
    }
  }

  // Bounded in time: per run a start-up, the warm-up, the wait for quiet, the run itself, draining, stopping.
  const perRun = (d: number) => opts.attempts * (20 + opts.warmup + opts.waitQuiet + opts.lead + d + 10);
  const budgetSeconds = 3 * perRun(opts.calibrate) + (specs.length + PAIRS.length * opts.pairedRounds) * perRun(opts.duration) + 60;
  const deadline = setTimeout(() => {
    log(`storm: exceeded ${Math.round(budgetSeconds)} s, stopping`);
    void stopAll().finally(() => process.exit(1));
  }, budgetSeconds * 1000);
  deadline.unref();
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  const pinned = opts.pin && canPin();
  if (opts.pin && !pinned) log('storm: taskset or a second core is missing; running unpinned');
  if (pinned) spawnSync('taskset', ['-a', '-p', '-c', String(opts.clientCpu), String(process.pid)], { stdio: 'ignore' });

  try {
    let attackRate = opts.attackRate ?? NaN;
    let calibrated: number | undefined;
    if (opts.attackRate === null && !opts.adaptive) {
      log(`storm: calibrating on srs, no attack, ${opts.calibrate} s`);
      // Other processes only ever lower goodput: the best of up to three tries, stopping at an undisturbed one.
      let best = 0;
      for (let attempt = 1; attempt <= 3; attempt++) {
        const cal = await runOne({ setup: srs, attack: false, duration: opts.calibrate }, { ...opts, lead: 0 }, 0, pinned, log);
        best = Math.max(best, cal.goodput);
        if (!(cal.other >= QUIET)) break;
        log(`  ${int(cal.goodput)} req/s while other processes used ${fixed(cal.other, 2)} cores; calibrating again`);
      }
      if (!(best > 0)) throw new Error('calibration: srs served no benign request');
      calibrated = best;
      attackRate = best / opts.attackEvery;
      log(`storm: srs no-attack goodput ${int(best)} req/s -> ${fixed(attackRate, 1)} attacks/s`);
    }
    const ctx: Context = { opts, pinned, startedAt, attackRate, calibrated, totalSeconds: 0, paired: [] };
    log(`storm: Node ${process.version}; ${specs.length} runs of ${opts.lead + opts.duration} s; ${attackDescription(ctx)}`);
    const runs: RunResult[] = [];
    for (const spec of specs) {
      const what = spec.attack ? `${spec.pulse ? 'pulsed ' : ''}${spec.twin ? 'harmless twins' : 'storm'}` : 'no attack';
      log(`run: ${spec.setup.label}, ${what}${spec.round !== undefined && opts.rounds > 1 ? ` (round ${spec.round})` : ''}`);
      const r = await measure(spec, opts, attackRate, pinned, log);
      runs.push(r);
      log(
        r.skipped
          ? `  ${r.skipped}`
          : `  ${int(r.goodput)} benign 2xx/s, ${int(r.failed)} failed, p99 ${fixed(r.p99, 1)} ms, ${r.attacks.length} attacks, ` +
              `state ${r.verdict.text}, restarts ${r.restarts}, recoveries ${r.recoveries.length}, ` +
              `${fixed(r.cpuPerOk, 0)} µs CPU/2xx, other load ${fixed(r.other, 2)}` +
              (r.paired ? `; attack windows ${int(r.paired.on)}/s vs calm ${int(r.paired.off)}/s = ${fixed(r.paired.ratio, 3)}` : ''),
      );
    }
    if (opts.pairedRounds > 0) ctx.paired = await measurePaired(all, opts, attackRate, pinned, log);
    ctx.totalSeconds = (performance.now() - t0) / 1000;
    const markdown = report(runs, ctx);
    process.stdout.write(markdown);
    if (opts.outDir !== null) {
      const major = process.versions.node.split('.')[0];
      const app = opts.scenario.key === 'upload' ? '' : `${opts.scenario.key}-`;
      const stem = path.join(opts.outDir, `storm-${app}node${major}${opts.quick ? '-quick' : ''}`);
      fs.mkdirSync(opts.outDir, { recursive: true });
      fs.writeFileSync(`${stem}.md`, markdown);
      fs.writeFileSync(`${stem}.svg`, chart(runs, ctx));
      log(`storm: wrote ${path.relative(process.cwd(), stem)}.md and .svg`);
    }
  } finally {
    await stopAll();
    clearTimeout(deadline);
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`storm: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  void stopAll().finally(() => process.exit(1));
});
