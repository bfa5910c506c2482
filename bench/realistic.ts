/**
 * Realistic-app benchmark (issue 4): what SRS costs an app that keeps state.
 *
 * Two apps (bench/apps/realistic-express.js, realistic-fastify.js) share one
 * module of application logic (realistic-shared.js: a Map-based LRU cache,
 * counters and a session map written on every request) and serve a mix of
 * GET routes with params and POSTs with a small JSON body parsed by the
 * framework. Each app runs in four setups side by side in one run:
 *
 *   node   plain node
 *   off    srs run --instrument off   (request contexts only)
 *   app    srs run                    (the app's own code instrumented: the default)
 *   all    srs run --instrument all   (node_modules too: Express/Fastify and their dependencies)
 *
 * The method is the overhead benchmark's (bench/lib/): servers pinned to one
 * core and autocannon to the other, a warm-up, rounds interleaved in ABBA
 * order (the setups forward, then backward), medians over the rounds, server
 * CPU time per request from /proc, rounds disturbed by other processes
 * measured again and left out.
 *
 * `--startup N` also measures, per app, time-to-listening over N starts of
 * node, --instrument off, app and all with a cold cache (a fresh --cache-dir)
 * and all with a warm cache (the same directory again), with the
 * instrumenter's own time read by a preload (bench/setups/transform-report.js)
 * and the number of files written to the cache.
 *
 * `--profile DIR` instead runs every setup under `node --cpu-prof` with the
 * same load and writes a summary of where the CPU goes, per request, by
 * category and by SRS function.
 */
import fs = require('node:fs');
import os = require('node:os');
import path = require('node:path');
import { request, startServer, type ServerProcess } from '../src/cli/server-process';
import { type CannonRequest } from './lib/cannon';
import { canPin, pause, pin, QUIET, waitForQuiet } from './lib/cpu';
import { fixed, int, median, publish, repoRoot, srsRevision } from './lib/report';
import { live, runBenchmark, stopAll, stopOnSignals } from './lib/servers';
import { parseFlags } from './lib/flags';
import { cleanRound, describeSample, measureLoad, usableRounds, type Sample, type Tally } from './lib/sample';

// --- setups and apps -------------------------------------------------------------

type SetupName = 'node' | 'off' | 'app' | 'all' | 'base';
/** cli: another build's srs CLI (the `base` setup of --compare). */
const SETUPS: Record<SetupName, { label: string; mode: 'node' | 'srs'; srsArgs: string[]; cli?: string }> = {
  node: { label: 'node', mode: 'node', srsArgs: [] },
  off: { label: 'srs --instrument off', mode: 'srs', srsArgs: ['--instrument', 'off'] },
  app: { label: 'srs (app instrumented)', mode: 'srs', srsArgs: [] },
  all: { label: 'srs --instrument all', mode: 'srs', srsArgs: ['--instrument', 'all'] },
  // Filled in by --compare DIR: the --compare-setup setup (default app) of the build in DIR.
  base: { label: 'srs (app instrumented), another build', mode: 'srs', srsArgs: [] },
};
/** The setups --setups names (base only comes with --compare). */
const SETUP_NAMES: SetupName[] = ['node', 'off', 'app', 'all'];

/** Targets on requests/s against node (issue 4). */
const TARGETS: Partial<Record<SetupName, number>> = { app: 0.9, all: 0.8 };

const APPS: Record<string, { label: string; file: string }> = {
  express: { label: 'Express 5', file: 'realistic-express.js' },
  fastify: { label: 'Fastify 5', file: 'realistic-fastify.js' },
};

const appsDir = path.join(repoRoot, 'bench', 'apps');
const TRANSFORM_REPORT = path.join(repoRoot, 'bench', 'setups', 'transform-report.js');
const EXIT_ON_SIGTERM = path.join(repoRoot, 'bench', 'setups', 'exit-on-sigterm.js');

/**
 * The request mix every connection cycles through: 100 requests over 8
 * sessions (cookie or header), ~100 distinct cache keys for a 64-entry LRU
 * (hits, misses and evictions), 50 % GET /users/:id, 20 % GET
 * /products/:category/:id, 25 % POST /users/:id/events with a JSON body,
 * 5 % GET /stats.
 */
function requestMix(): CannonRequest[] {
  const categories = ['books', 'music', 'games', 'tools'];
  const mix: CannonRequest[] = [];
  for (let i = 0; i < 100; i++) {
    const sid = `s${i % 8}`;
    const headers: Record<string, string> = i % 2 === 0 ? { cookie: `theme=dark; sid=${sid}` } : { 'x-session-id': sid };
    const user = (i * 37) % 71;
    const slot = i % 20;
    if (slot < 10) mix.push({ method: 'GET', path: `/users/${user}`, headers });
    else if (slot < 14) mix.push({ method: 'GET', path: `/products/${categories[i % 4]}/${(i * 13) % 41}`, headers });
    else if (slot < 19) {
      const body = JSON.stringify({ type: ['click', 'view', 'cart', 'search'][i % 4], value: i, tags: ['a', 'b'], meta: { page: i % 9 } });
      mix.push({ method: 'POST', path: `/users/${user}/events`, headers: { ...headers, 'content-type': 'application/json' }, body });
    } else mix.push({ method: 'GET', path: '/stats', headers });
  }
  return mix;
}
const MIX = requestMix();

// --- options -----------------------------------------------------------------

interface Options {
  quick: boolean;
  rounds: number;
  duration: number;
  warmup: number;
  connections: number;
  pipelining: number;
  apps: string[];
  setups: SetupName[];
  pin: boolean;
  serverCpu: number;
  clientCpu: number;
  waitQuiet: number;
  /** Starts per setup for the time-to-listening measurement (0: skip it). */
  startups: number;
  /** Profile instead of measuring throughput: where the .cpuprofile files go. */
  profileDir: string | null;
  profileSeconds: number;
  /** Load each setup at the same time as node (the two sharing the server core). */
  concurrent: boolean;
  /** Each request waits this long for a "database" after updating the state (0: none). */
  waitMs: number;
  /** Start every server again (and warm it up) before each round. */
  relaunch: boolean;
  /** With --compare: the setup run by both builds. */
  compareSetup: 'app' | 'all';
  out: string | null;
}

const USAGE = `usage: node dist/bench/realistic.js [options]

  --quick             2 rounds x 1 s, 1 s warm-up, 2 starts (a smoke run; writes *-quick.md)
  --rounds N          measured rounds per setup (env BENCH_ROUNDS, default 5)
  --duration S        seconds per round (env BENCH_DURATION, default 3)
  --warmup S          seconds of warm-up load per server (env BENCH_WARMUP, default 3)
  --connections N     autocannon connections (env BENCH_CONNECTIONS, default 50)
  --pipelining N      autocannon pipelining (env BENCH_PIPELINING, default 1)
  --apps LIST         comma-separated subset of ${Object.keys(APPS).join(',')} (env BENCH_APPS)
  --setups LIST       comma-separated subset of ${SETUP_NAMES.join(',')} (node is always included)
  --startup N         time-to-listening over N starts per setup (default 5, quick 2; 0: skip)
  --server-cpu N      core the servers are pinned to (default 0)
  --client-cpu N      core this process (autocannon) is pinned to (default 1)
  --no-pin            do not pin anything
  --wait-quiet S      before each round, wait up to S s while other processes use
                      more than a quarter of a core (env BENCH_WAIT_QUIET, default 30; 0: never)
  --profile DIR       instead: run every setup under node --cpu-prof with the same load,
                      keep the profiles in DIR, write a summary (realistic-profile-node<major>.md)
  --profile-seconds S seconds of load per profiled server (default 8)
  --concurrent        load each setup at the same time as node, the two sharing the server
                      core (env BENCH_CONCURRENT=1): the machine's drift then hits both
                      alike; writes realistic-node<major>-concurrent.md
  --wait MS           each request waits MS ms for a "database" after updating the state,
                      so that requests overlap (default 0); adds -wait<MS> to the file name
  --relaunch          start every server again, and warm it up, before each round, in the
                      round's order: of two servers of the same build, the one started later
                      measured up to 5 % cheaper for its whole life, and a process's JIT
                      settles in a state of its own; one process per setup carries both into
                      every round (use it with --compare; a run still spreads by 3-6 % from
                      the next: judge a change of a few percent on three runs or more);
                      adds -relaunch to the file name
  --compare DIR       also run the app instrumented by the srs build in DIR (a checkout or a
                      copy with its dist/ built, e.g. git worktree add DIR <rev> && npm ci there),
                      and report this build's app setup against it, round by round; adds
                      -compare to the file name
  --compare-setup S   the setup both builds run for --compare: app (default) or all; all adds
                      -all to the file name
  --out FILE          where to write the Markdown (default bench/results/realistic-node<major>.md)
  --no-write          print only
`;

function fail(message: string): never {
  process.stderr.write(`realistic: ${message}\n\n${USAGE}`);
  process.exit(2);
}

function parseNumber(raw: string | undefined, name: string, integer: boolean, allowZero = false): number {
  const n = Number(raw);
  if (raw === undefined || raw.trim() === '' || !Number.isFinite(n) || n < 0 || (n === 0 && !allowZero) || (integer && !Number.isInteger(n))) {
    fail(`${name} expects a ${allowZero ? 'non-negative' : 'positive'} ${integer ? 'integer' : 'number'}, got "${raw ?? ''}"`);
  }
  return n;
}

function parseOptions(argv: string[], env: NodeJS.ProcessEnv): Options {
  const flags = parseFlags(argv, new Set(['--rounds', '--duration', '--warmup', '--connections', '--pipelining', '--apps', '--setups', '--startup', '--server-cpu', '--client-cpu', '--wait-quiet', '--profile', '--profile-seconds', '--out', '--wait', '--compare', '--compare-setup']), new Set(['--quick', '--no-pin', '--no-write', '--concurrent', '--relaunch']), USAGE, fail);
  const quick = flags.has('--quick');
  const concurrent = flags.has('--concurrent') || env.BENCH_CONCURRENT === '1';
  const relaunch = flags.has('--relaunch');
  const pick = (flag: string, envName: string | null, full: string, quickDefault: string): string =>
    (flags.get(flag) as string | undefined) ?? (envName ? env[envName] : undefined) ?? (quick ? quickDefault : full);
  const list = (raw: string) => raw.split(',').map((s) => s.trim()).filter((s) => s !== '');

  const apps = list(pick('--apps', 'BENCH_APPS', Object.keys(APPS).join(','), Object.keys(APPS).join(',')));
  for (const app of apps) if (!(app in APPS)) fail(`unknown app "${app}"`);
  if (apps.length === 0) fail('--apps is empty');
  const setups = list(pick('--setups', null, SETUP_NAMES.join(','), SETUP_NAMES.join(',')));
  for (const s of setups) if (!(s in SETUPS)) fail(`unknown setup "${s}"`);
  const chosen = SETUP_NAMES.filter((s) => s === 'node' || setups.includes(s));
  const compareSetup = String(flags.get('--compare-setup') ?? 'app');
  if (compareSetup !== 'app' && compareSetup !== 'all') fail(`--compare-setup expects app or all, got "${compareSetup}"`);
  if (flags.has('--compare')) {
    const dir = path.resolve(flags.get('--compare') as string);
    const cli = path.join(dir, 'dist', 'src', 'cli', 'main.js');
    if (!fs.existsSync(cli)) fail(`--compare: no srs build in ${dir} (expected ${path.relative(dir, cli)}; run npm ci there)`);
    if (!chosen.includes(compareSetup)) fail(`--compare sets the ${compareSetup} setup against another build's: include ${compareSetup} in --setups`);
    SETUPS.base = { ...SETUPS.base, label: `${SETUPS[compareSetup].label}, the build in ${dir}`, srsArgs: SETUPS[compareSetup].srsArgs, cli };
    chosen.push('base');
  } else if (flags.has('--compare-setup')) {
    fail('--compare-setup goes with --compare');
  }
  if (concurrent && chosen.length < 2) fail('--concurrent pairs setups with node: name at least one besides node');

  const major = process.versions.node.split('.')[0];
  const profileDir = flags.has('--profile') ? path.resolve(flags.get('--profile') as string) : null;
  const waitMs = parseNumber(pick('--wait', null, '0', '0'), 'wait', true, true);
  const wait = waitMs > 0 ? `-wait${waitMs}` : '';
  const compare = chosen.includes('base') ? `-compare${compareSetup === 'all' ? '-all' : ''}` : '';
  const base = profileDir
    ? `realistic-profile-node${major}${wait}${compare}`
    : `realistic-node${major}${concurrent ? '-concurrent' : ''}${relaunch ? '-relaunch' : ''}${wait}${compare}`;
  const defaultOut = path.join(repoRoot, 'bench', 'results', `${base}${quick ? '-quick' : ''}.md`);
  return {
    quick,
    rounds: parseNumber(pick('--rounds', 'BENCH_ROUNDS', '5', '2'), 'rounds', true),
    duration: parseNumber(pick('--duration', 'BENCH_DURATION', '3', '1'), 'duration', false),
    warmup: parseNumber(pick('--warmup', 'BENCH_WARMUP', '3', '1'), 'warmup', false),
    connections: parseNumber(pick('--connections', 'BENCH_CONNECTIONS', '50', '50'), 'connections', true),
    pipelining: parseNumber(pick('--pipelining', 'BENCH_PIPELINING', '1', '1'), 'pipelining', true),
    apps,
    setups: chosen,
    pin: !flags.has('--no-pin'),
    serverCpu: Number(flags.get('--server-cpu') ?? 0),
    clientCpu: Number(flags.get('--client-cpu') ?? 1),
    waitQuiet: parseNumber(pick('--wait-quiet', 'BENCH_WAIT_QUIET', '30', '5'), 'wait-quiet', false, true),
    startups: parseNumber(pick('--startup', null, '5', '2'), 'startup', true, true),
    profileDir,
    profileSeconds: parseNumber(pick('--profile-seconds', null, '8', '2'), 'profile-seconds', false),
    concurrent,
    waitMs,
    relaunch,
    compareSetup,
    out: flags.has('--no-write') ? null : ((flags.get('--out') as string | undefined) ?? defaultOut),
  };
}

// --- servers -------------------------------------------------------------------

interface Server {
  app: string;
  setup: SetupName;
  proc: ServerProcess;
}

/** Checks every route once: the apps must answer alike under every setup. */
async function verify(server: Server): Promise<void> {
  const { port } = server.proc;
  const where = `${server.app} under ${server.setup}`;
  const json = async (urlPath: string, status: number, options: Parameters<typeof request>[2] = {}) => {
    const reply = await request(port, urlPath, options);
    if (reply.status !== status) throw new Error(`${where}: ${urlPath} answered ${JSON.stringify(reply)}\n${server.proc.stderr()}`);
    return JSON.parse(reply.body!) as Record<string, any>;
  };
  const headers = { cookie: 'sid=verify' };
  const user = await json('/users/42', 200, { headers });
  if (user.user?.name !== 'user 42' || user.session?.id !== 'verify') throw new Error(`${where}: bad /users/42 ${JSON.stringify(user)}`);
  const product = await json('/products/books/7', 200, { headers });
  if (product.product?.title !== 'books #7') throw new Error(`${where}: bad /products ${JSON.stringify(product)}`);
  const posted = await json('/users/42/events', 201, { headers: { ...headers, 'content-type': 'application/json' }, body: '{"type":"click","value":1}' });
  if (posted.ok !== true || posted.recent !== 1) throw new Error(`${where}: bad POST ${JSON.stringify(posted)}`);
  await json('/users/42/events', 400, { headers: { ...headers, 'content-type': 'application/json' }, body: '[1]' });
  const stats = await json('/stats', 200, { headers });
  if (stats.requests !== 5 || stats.sessions !== 1) throw new Error(`${where}: bad /stats ${JSON.stringify(stats)}`);
}

async function launch(app: string, setup: SetupName, opts: Options, cacheDir: string, nodeArgs: string[] = []): Promise<Server> {
  const { mode, srsArgs, cli } = SETUPS[setup];
  const proc = await startServer({
    mode,
    cli,
    entry: path.join(appsDir, APPS[app]!.file),
    srsArgs: [...srsArgs, ...(mode === 'srs' ? ['--cache-dir', cacheDir] : [])],
    nodeArgs,
    env: { NODE_ENV: 'production', REALISTIC_WAIT_MS: String(opts.waitMs) },
    timeoutMs: 30_000,
  });
  live.add(proc);
  if (opts.pin && pinned) pin(proc.child.pid!, opts.serverCpu);
  const server = { app, setup, proc };
  await verify(server);
  return server;
}

let pinned = false;

// --- load ----------------------------------------------------------------------

function load(server: Server, seconds: number, opts: Options): Promise<Sample> {
  return measureLoad(server.proc, `${server.app} under ${server.setup}`, { url: `http://127.0.0.1:${server.proc.port}`, connections: opts.connections, pipelining: opts.pipelining, duration: seconds, requests: MIX });
}

interface Round {
  samples: Partial<Record<SetupName, Sample>>;
  /** --concurrent: the node sample measured at the same time as each setup's. */
  nodeBeside: Partial<Record<SetupName, Sample>>;
}
const ATTEMPTS = 3;
const samplesOf = (round: Round) => [...Object.values(round.samples), ...Object.values(round.nodeBeside)] as Sample[];
const isClean = (round: Round) => samplesOf(round).every((s) => !(s.other >= QUIET));
/** The node sample a setup's sample is to be compared with. */
const nodeFor = (round: Round, setup: SetupName) => round.nodeBeside[setup] ?? round.samples.node!;

const usable = (rounds: Round[]) => usableRounds(rounds, samplesOf);

// --- startup: time to listening and the instrumenter's own time -------------------------

type StartKind = 'node' | 'off' | 'app-cold' | 'all-cold' | 'all-warm';
const START_KINDS: Record<StartKind, { label: string; setup: SetupName; cache: 'fresh' | 'warm' }> = {
  node: { label: 'node', setup: 'node', cache: 'fresh' },
  off: { label: 'srs --instrument off', setup: 'off', cache: 'fresh' },
  'app-cold': { label: 'srs (app), cold cache', setup: 'app', cache: 'fresh' },
  'all-cold': { label: 'srs --instrument all, cold cache', setup: 'all', cache: 'fresh' },
  'all-warm': { label: 'srs --instrument all, warm cache', setup: 'all', cache: 'warm' },
};

interface Start {
  wallMs: number;
  uptimeMs: number;
  transformMs: number;
  transformed: number;
  cachedRead: number;
  skipped: number;
  cacheFiles: number;
  cacheBytes: number;
}

function dirFiles(dir: string): { files: number; bytes: number } {
  let files = 0;
  let bytes = 0;
  try {
    for (const name of fs.readdirSync(dir)) {
      if (!name.endsWith('.js')) continue;
      files++;
      bytes += fs.statSync(path.join(dir, name)).size;
    }
  } catch {
    // no cache dir: nothing written
  }
  return { files, bytes };
}

async function startOnce(app: string, kind: StartKind, cacheDir: string): Promise<Start> {
  const { mode, srsArgs } = SETUPS[START_KINDS[kind].setup];
  const t0 = process.hrtime.bigint();
  const proc = await startServer({
    mode,
    entry: path.join(appsDir, APPS[app]!.file),
    srsArgs: [...srsArgs, ...(mode === 'srs' ? ['--cache-dir', cacheDir] : [])],
    nodeArgs: ['-r', TRANSFORM_REPORT],
    env: { NODE_ENV: 'production' },
    timeoutMs: 60_000,
  });
  const wallMs = Number(process.hrtime.bigint() - t0) / 1e6;
  live.add(proc);
  try {
    let line: RegExpExecArray | null = null;
    for (let i = 0; i < 100 && !(line = /srs-transform (\{.*\})/.exec(proc.stderr())); i++) await pause(10);
    if (!line) throw new Error(`${app} ${kind}: no srs-transform line\n${proc.stderr()}`);
    const t = JSON.parse(line[1]!) as { files: number; cached: number; skipped: number; ms: number; uptimeMs: number };
    const { files, bytes } = dirFiles(cacheDir);
    return { wallMs, uptimeMs: t.uptimeMs, transformMs: t.ms, transformed: t.files, cachedRead: t.cached, skipped: t.skipped, cacheFiles: files, cacheBytes: bytes };
  } finally {
    live.delete(proc);
    await proc.stop();
  }
}

async function measureStartups(opts: Options, tmp: string, log: (s: string) => void): Promise<Map<string, Record<StartKind, Start[]>>> {
  const results = new Map<string, Record<StartKind, Start[]>>();
  const kinds = Object.keys(START_KINDS) as StartKind[];
  for (const app of opts.apps) {
    const byKind = Object.fromEntries(kinds.map((k) => [k, [] as Start[]])) as Record<StartKind, Start[]>;
    const warmDir = path.join(tmp, `warm-${app}`);
    await startOnce(app, 'all-cold', warmDir); // primes the warm cache
    for (let i = 0; i < opts.startups; i++) {
      const order = i % 2 === 0 ? kinds : [...kinds].reverse();
      for (const kind of order) {
        const dir = START_KINDS[kind].cache === 'warm' ? warmDir : path.join(tmp, `cold-${app}-${kind}-${i}`);
        const s = await startOnce(app, kind, dir);
        byKind[kind].push(s);
        if (START_KINDS[kind].cache === 'fresh') fs.rmSync(dir, { recursive: true, force: true });
      }
      log(`startup ${i + 1}/${opts.startups} ${app}: ${kinds.map((k) => `${k} ${fixed(byKind[k].at(-1)!.wallMs, 0)} ms`).join(', ')}`);
    }
    results.set(app, byKind);
  }
  return results;
}

function startupReport(results: Map<string, Record<StartKind, Start[]>>, opts: Options): string[] {
  const lines: string[] = [];
  lines.push('## Startup: time to listening and transform time');
  lines.push('');
  lines.push(
    `Median of ${opts.startups} starts per row (interleaved). "wall" = spawn to the app's "listening" line as the bench sees it; ` +
      '"in-process" = the process\'s own uptime when it prints that line; "instrumenter" = time spent in SRS\'s ' +
      '`instrumentCached` (parse + rewrite + cache read/write; read by the preload bench/setups/transform-report.js); ' +
      '"transformed / from cache" = files it instrumented / read from the cache in that start; "cache files" = files ' +
      'written to the --cache-dir (a fresh temp dir per cold start).',
  );
  lines.push('');
  lines.push('| app | setup | wall ms | in-process ms | +ms vs node | instrumenter ms | transformed / from cache | cache files (KB) |');
  lines.push('|---|---|---:|---:|---:|---:|---:|---:|');
  for (const [app, byKind] of results) {
    const nodeWall = median(byKind.node.map((s) => s.wallMs));
    for (const [kind, starts] of Object.entries(byKind) as Array<[StartKind, Start[]]>) {
      const med = (f: (s: Start) => number) => median(starts.map(f));
      const isSrs = kind !== 'node';
      lines.push(
        `| ${APPS[app]!.label} | ${START_KINDS[kind].label} | ${fixed(med((s) => s.wallMs), 0)} | ${fixed(med((s) => s.uptimeMs), 0)} | ` +
          `${kind === 'node' ? '—' : `+${fixed(med((s) => s.wallMs) - nodeWall, 0)}`} | ${isSrs ? fixed(med((s) => s.transformMs), 0) : '—'} | ` +
          `${isSrs ? `${med((s) => s.transformed)} / ${med((s) => s.cachedRead)}` : '—'} | ` +
          `${isSrs ? `${med((s) => s.cacheFiles)} (${int(med((s) => s.cacheBytes) / 1024)})` : '—'} |`,
      );
    }
  }
  lines.push('');
  return lines;
}

// --- throughput report ---------------------------------------------------------------

/** A median with its range, for per-round ratios. */
const range = (xs: number[]) => `${fixed(median(xs), 3)} (${fixed(Math.min(...xs), 3)}–${fixed(Math.max(...xs), 3)})`;

function throughputReport(opts: Options, results: Map<string, Round[]>, tally: Tally): string[] {
  const lines: string[] = [];
  lines.push('| app | setup | req/s | × node | µs CPU/req | CPU × node | p99 ms | target |');
  lines.push('|---|---|---:|---:|---:|---:|---:|---|');
  const contaminated: string[] = [];
  for (const [app, rounds] of results) {
    const { used } = usable(rounds);
    if (used.length === rounds.length && !rounds.every(isClean)) contaminated.push(APPS[app]!.label);
    const med = (s: SetupName, f: (x: Sample) => number) => median(used.map((r) => f(r.samples[s]!)));
    const base = { rps: med('node', (x) => x.rps), cpu: med('node', (x) => x.cpuUsPerReq) };
    for (const setup of opts.setups) {
      const rps = med(setup, (x) => x.rps);
      const cpu = med(setup, (x) => x.cpuUsPerReq);
      const target = TARGETS[setup];
      const verdict = target === undefined ? '' : `≥ ${target.toFixed(2)}: ${rps / base.rps >= target ? 'met' : '**missed**'}`;
      lines.push(
        `| ${APPS[app]!.label} | ${SETUPS[setup].label} | ${int(rps)} | ${setup === 'node' ? '1' : fixed(rps / base.rps, 3)} | ` +
          `${fixed(cpu, 1)} | ${setup === 'node' ? '1' : fixed(cpu / base.cpu, 3)} | ${fixed(med(setup, (x) => x.p99), 0)} | ${verdict} |`,
      );
    }
  }
  lines.push('');
  lines.push(
    `Medians over the rounds in which other processes used less than ${QUIET} cores (all rounds when fewer than half were clean). ` +
      '× node = setup / node from the same run (req/s: higher is better; CPU: server user+sys time per request, lower is better).' +
      (contaminated.length > 0 ? ` **Too few clean rounds for ${contaminated.join(', ')}: their numbers include disturbed rounds.**` : ''),
  );
  if (opts.setups.includes('base')) lines.push('', ...comparisonReport(results, opts.compareSetup));
  lines.push('');
  lines.push(
    opts.concurrent
      ? 'Spread (per round, each setup against the node server loaded at the same time on the same core: the paired ratios are the figures to quote):'
      : 'Spread (per round, each setup against the node round measured next to it):',
  );
  lines.push('');
  lines.push('| app | setup | clean rounds | paired req/s ratio, median (min–max) | paired CPU ratio, median (min–max) | server busy | other load, cores median (max) | failed requests |');
  lines.push('|---|---|---:|---:|---:|---:|---:|---:|');
  for (const [app, rounds] of results) {
    const { used, clean } = usable(rounds);
    for (const setup of opts.setups) {
      const samples = used.map((r) => r.samples[setup]!);
      const other = samples.map((s) => s.other);
      const bad = rounds.reduce((sum, r) => sum + r.samples[setup]!.bad, 0);
      lines.push(
        `| ${APPS[app]!.label} | ${SETUPS[setup].label} | ${clean} of ${rounds.length} | ` +
          `${setup === 'node' ? '—' : range(used.map((r) => r.samples[setup]!.rps / nodeFor(r, setup).rps))} | ` +
          `${setup === 'node' ? '—' : range(used.map((r) => r.samples[setup]!.cpuUsPerReq / nodeFor(r, setup).cpuUsPerReq))} | ` +
          `${Math.round(median(samples.map((s) => s.busy)) * 100)} % | ${fixed(median(other), 2)} (${fixed(Math.max(...other), 2)}) | ${bad} |`,
      );
    }
  }
  lines.push('');
  lines.push(
    '"failed requests" counts errors, timeouts and non-2xx answers over all rounds (the mix has no failing request). ' +
      (opts.waitQuiet > 0
        ? `Before each round the bench waited up to ${opts.waitQuiet} s for other processes to go quiet (${Math.round(tally.waited)} s in all) ` +
          `and measured a round again, up to ${ATTEMPTS} times, when it was not clean (${tally.retried} times).`
        : ''),
  );
  lines.push('');
  lines.push('Rounds (req/s / µs CPU/req; * = not clean):');
  lines.push('');
  for (const [app, rounds] of results) {
    for (const setup of opts.setups) {
      const row = rounds.map((r) => `${int(r.samples[setup]!.rps)} / ${fixed(r.samples[setup]!.cpuUsPerReq, 1)}${isClean(r) ? '' : '*'}`).join(' · ');
      lines.push(`- ${APPS[app]!.label} ${setup}: ${row}`);
    }
  }
  lines.push('');
  return lines;
}

/**
 * --compare: this build's setup (app or all) against the other build's, per
 * round, each first taken against the node server of its own pairing (so
 * that a drift between the two setups' turns cancels out), then against each
 * other.
 */
function comparisonReport(results: Map<string, Round[]>, setup: 'app' | 'all'): string[] {
  const lines = [
    `This build against ${SETUPS.base.label} (${SETUPS[setup].label} in both; per round, each setup's ratio to its node, then this build's over the other's):`,
    '',
    '| app | req/s, this / other: median (min–max) | CPU per request, this / other: median (min–max) |',
    '|---|---:|---:|',
  ];
  for (const [app, rounds] of results) {
    const { used } = usable(rounds);
    const relative = (f: (x: Sample) => number) =>
      used.map((r) => f(r.samples[setup]!) / f(nodeFor(r, setup)) / (f(r.samples.base!) / f(nodeFor(r, 'base'))));
    lines.push(`| ${APPS[app]!.label} | ${range(relative((x) => x.rps))} | ${range(relative((x) => x.cpuUsPerReq))} |`);
  }
  lines.push('', 'Below 1 for CPU (above 1 for req/s): this build costs less than the other.');
  return lines;
}

function header(title: string, opts: Options, startedAt: Date, extra: string): string[] {
  const cpus = os.cpus();
  const placement = pinned ? `servers pinned to cpu ${opts.serverCpu}, autocannon to cpu ${opts.clientCpu}` : 'not pinned';
  return [
    `# ${title}`,
    '',
    `${srsRevision()} · Node ${process.version} · ${os.platform()} ${os.arch()} · ${cpus.length} × ${cpus[0]?.model.trim() ?? 'unknown CPU'} · ` +
      `${placement} · ${extra} · ${opts.connections} connections, pipelining ${opts.pipelining} · ${startedAt.toISOString()}${opts.quick ? ' · QUICK' : ''}`,
    '',
    'Apps: bench/apps/realistic-express.js and realistic-fastify.js, both on bench/apps/realistic-shared.js (a Map-based ' +
      'LRU cache of 64 entries, counters, a session map keyed by the `sid` cookie or the x-session-id header, updated on every ' +
      'request). Load: each connection cycles through 100 requests over 8 sessions: 50 % GET /users/:id, 20 % GET ' +
      '/products/:category/:id, 25 % POST /users/:id/events with a ~80-byte JSON body parsed by the framework, 5 % GET /stats ' +
      '(~100 distinct cache keys, so the LRU hits, misses and evicts).' +
      (opts.waitMs > 0
        ? ` Each request waits ${opts.waitMs} ms for a "database" after it has updated the state (--wait), so that ` +
          'requests overlap and each long-lived location is watched by as many requests as are in flight.'
        : ''),
    '',
  ];
}

// --- profile -----------------------------------------------------------------------------

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

const CATEGORIES = ['srs barrier', 'srs journal', 'srs contexts', 'srs other', 'async hooks/context (node)', 'app code', 'framework (node_modules)', 'node internals', 'GC', 'native/builtins', 'idle/program'] as const;
type Category = (typeof CATEGORIES)[number];

function categorize(frame: ProfileNode['callFrame']): Category {
  const url = frame.url;
  if (frame.functionName === '(garbage collector)') return 'GC';
  if (frame.functionName === '(idle)' || frame.functionName === '(program)' || frame.functionName === '(root)') return 'idle/program';
  if (url.includes('/dist/src/runtime/barrier.js')) return 'srs barrier';
  if (url.includes('/dist/src/runtime/journal.js')) return 'srs journal';
  if (/\/dist\/src\/(runtime\/(context|lifecycle|resources|followup)|adapters\/)/.test(url)) return 'srs contexts';
  if (url.includes('/dist/src/')) return 'srs other';
  if (/^node:(async_hooks|internal\/async_hooks|internal\/async_context_frame|internal\/async_local_storage)/.test(url)) return 'async hooks/context (node)';
  if (url.includes('/bench/apps/')) return 'app code';
  if (url.includes('/node_modules/')) return 'framework (node_modules)';
  if (url.startsWith('node:')) return 'node internals';
  return 'native/builtins';
}

interface ProfileSummary {
  requests: number;
  totalUs: number;
  byCategory: Map<Category, number>;
  byFunction: Map<string, number>;
}

/**
 * Self time per function over the samples taken between fromUs and toUs after
 * the profile started (the profile starts with the process, a few ms after the
 * bench spawned it, so the window is measured from the spawn: it starts a
 * little early, never late).
 */
function summarize(profile: CpuProfile, requests: number, fromUs: number, toUs: number): ProfileSummary {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const self = new Map<number, number>();
  let t = 0;
  profile.samples.forEach((id, i) => {
    const dt = profile.timeDeltas[i] ?? 0;
    t += dt;
    if (t >= fromUs && t <= toUs) self.set(id, (self.get(id) ?? 0) + dt);
  });
  const byCategory = new Map<Category, number>();
  const byFunction = new Map<string, number>();
  let totalUs = 0;
  for (const [id, us] of self) {
    const frame = byId.get(id)!.callFrame;
    const cat = categorize(frame);
    if (cat === 'idle/program' && frame.functionName === '(idle)') continue;
    totalUs += us;
    byCategory.set(cat, (byCategory.get(cat) ?? 0) + us);
    if (frame.url.includes('/dist/src/')) {
      const key = `${frame.functionName || '(anonymous)'} (${frame.url.slice(frame.url.indexOf('/dist/src/') + 10)}:${frame.lineNumber + 1})`;
      byFunction.set(key, (byFunction.get(key) ?? 0) + us);
    }
  }
  return { requests, totalUs, byCategory, byFunction };
}

async function profileRun(opts: Options, tmp: string, log: (s: string) => void): Promise<string[]> {
  const dir = opts.profileDir!;
  fs.mkdirSync(dir, { recursive: true });
  const summaries = new Map<string, Map<SetupName, ProfileSummary>>();
  for (const app of opts.apps) {
    const perSetup = new Map<SetupName, ProfileSummary>();
    for (const setup of opts.setups) {
      // One directory per server, default file names: on Node 20 the ESM loader thread
      // (module.register) writes a profile of its own, which a fixed name would overwrite.
      const runDir = path.join(dir, `${app}-${setup}-node${process.versions.node.split('.')[0]}`);
      fs.rmSync(runDir, { recursive: true, force: true });
      if (opts.waitQuiet > 0) await waitForQuiet(opts.waitQuiet);
      const spawned = process.hrtime.bigint();
      const server = await launch(app, setup, opts, path.join(tmp, 'cache'), [
        '--cpu-prof', `--cpu-prof-dir=${runDir}`, '--cpu-prof-interval=250', '-r', EXIT_ON_SIGTERM,
      ]);
      await load(server, opts.warmup, opts);
      // Only the samples of the measured load count (not startup, transform or warm-up).
      const fromUs = Number(process.hrtime.bigint() - spawned) / 1e3;
      const sample = await load(server, opts.profileSeconds, opts);
      const toUs = Number(process.hrtime.bigint() - spawned) / 1e3;
      live.delete(server.proc);
      await server.proc.stop();
      await pause(200);
      // The main thread's profile is the largest one.
      const files = fs.existsSync(runDir) ? fs.readdirSync(runDir).filter((f) => f.endsWith('.cpuprofile')) : [];
      if (files.length === 0) throw new Error(`${app} ${setup}: no profile in ${runDir}\n${server.proc.stderr()}`);
      const file = path.join(runDir, files.sort((a, b) => fs.statSync(path.join(runDir, b)).size - fs.statSync(path.join(runDir, a)).size)[0]!);
      const profile = JSON.parse(fs.readFileSync(file, 'utf8')) as CpuProfile;
      const summary = summarize(profile, sample.requests, fromUs, toUs);
      perSetup.set(setup, summary);
      log(`profiled ${app} ${setup}: ${describeSample(sample)} (under the profiler)`);
    }
    summaries.set(app, perSetup);
  }

  const lines: string[] = [];
  lines.push('## Where the CPU goes (self time per request, µs, from V8 CPU profiles)');
  lines.push('');
  lines.push(
    `Each setup ran under \`node --cpu-prof --cpu-prof-interval=250\` with ${opts.warmup} s of warm-up and ${opts.profileSeconds} s of ` +
      'the same load; self time of every function sampled during that load (startup, transform and warm-up left out), summed by ' +
      'where its code lives, divided by the requests served during it. One profiled run per setup: expect a few µs of noise. Profiles: ' +
      `${dir}.`,
  );
  lines.push('');
  for (const [app, perSetup] of summaries) {
    lines.push(`### ${APPS[app]!.label}`);
    lines.push('');
    lines.push(`| category | ${opts.setups.map((s) => SETUPS[s].label).join(' | ')} |`);
    lines.push(`|---|${opts.setups.map(() => '---:').join('|')}|`);
    const per = (s: ProfileSummary, us: number) => us / s.requests;
    for (const cat of CATEGORIES) {
      if (cat === 'idle/program' || opts.setups.every((s) => !(perSetup.get(s)!.byCategory.get(cat)! > 0))) continue;
      lines.push(`| ${cat} | ${opts.setups.map((s) => fixed(per(perSetup.get(s)!, perSetup.get(s)!.byCategory.get(cat) ?? 0), 2)).join(' | ')} |`);
    }
    lines.push(`| **total (without idle)** | ${opts.setups.map((s) => `**${fixed(per(perSetup.get(s)!, perSetup.get(s)!.totalUs), 2)}**`).join(' | ')} |`);
    lines.push('');
    const node = perSetup.get('node');
    const off = perSetup.get('off');
    if (node && off) {
      // What each setup adds per request, by cause: contexts (off - node), then, on top of off, the
      // barrier and the journal (their own code), the instrumented code itself (app + framework
      // code running slower for its rewritten writes) and the rest (node internals, builtins, GC).
      const total = (x: ProfileSummary) => per(x, x.totalUs);
      const cat = (x: ProfileSummary, c: Category) => per(x, x.byCategory.get(c) ?? 0);
      const code = (x: ProfileSummary) => cat(x, 'app code') + cat(x, 'framework (node_modules)');
      lines.push('What SRS adds per request (µs, from the rows above): contexts = off − node in total; for app and all, on top of off: ');
      lines.push('');
      lines.push('| setup | total − node | contexts | barrier | journal | instrumented code (app + framework − off) | rest (node internals, builtins, GC, other srs) |');
      lines.push('|---|---:|---:|---:|---:|---:|---:|');
      for (const setup of opts.setups.filter((x) => x !== 'node')) {
        const x = perSetup.get(setup)!;
        const contexts = total(off) - total(node);
        const barrierUs = cat(x, 'srs barrier') - cat(off, 'srs barrier');
        const journalUs = cat(x, 'srs journal') - cat(off, 'srs journal');
        const instrumented = code(x) - code(off);
        const rest = total(x) - total(off) - barrierUs - journalUs - instrumented;
        lines.push(
          `| ${SETUPS[setup].label} | ${fixed(total(x) - total(node), 2)} | ${fixed(contexts, 2)} | ${setup === 'off' ? '—' : fixed(barrierUs, 2)} | ` +
            `${setup === 'off' ? '—' : fixed(journalUs, 2)} | ${setup === 'off' ? '—' : fixed(instrumented, 2)} | ${setup === 'off' ? '—' : fixed(rest, 2)} |`,
        );
      }
      lines.push('');
    }
    for (const setup of opts.setups.filter((s) => s !== 'node')) {
      const s = perSetup.get(setup)!;
      const top = [...s.byFunction].sort((a, b) => b[1] - a[1]).slice(0, 12);
      if (top.length === 0) continue;
      lines.push(`Top SRS functions, ${SETUPS[setup].label} (self µs/request): ` + top.map(([f, us]) => `\`${f}\` ${fixed(us / s.requests, 2)}`).join(' · '));
      lines.push('');
    }
  }
  return lines;
}

// --- main ------------------------------------------------------------------------

async function main(): Promise<void> {
  const opts = parseOptions(process.argv.slice(2), process.env);
  const startedAt = new Date();
  const log = (s: string) => process.stderr.write(`${s}\n`);
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'srs-realistic-'));

  const rounds = opts.apps.length * opts.rounds;
  const planned = opts.profileDir
    ? opts.apps.length * opts.setups.length * (opts.warmup + opts.profileSeconds + 2)
    : opts.apps.length * opts.setups.length * opts.warmup + rounds * (opts.setups.length * (opts.duration + 0.3)) + opts.apps.length * opts.startups * 5 * 1.5;
  const worst = planned + (opts.profileDir ? opts.apps.length * opts.setups.length : rounds * ATTEMPTS) * (opts.waitQuiet + opts.setups.length * opts.duration + 1) + 180;
  const deadline = setTimeout(() => {
    log(`realistic: exceeded ${Math.round(worst)} s, stopping`);
    void stopAll().finally(() => process.exit(1));
  }, worst * 1000);
  deadline.unref();
  stopOnSignals('realistic');

  pinned = opts.pin && canPin();
  if (opts.pin && !pinned) log('realistic: taskset or a second core is missing; running unpinned');
  if (pinned) pin(process.pid, opts.clientCpu);
  log(`realistic: Node ${process.version}, ${opts.apps.join(', ')} × ${opts.setups.join(', ')}; about ${Math.round(planned)} s`);

  try {
    let markdown: string;
    if (opts.profileDir) {
      const lines = header('SRS on a realistic app: CPU profile', opts, startedAt, `warm-up ${opts.warmup} s, ${opts.profileSeconds} s profiled`);
      lines.push(...(await profileRun(opts, tmp, log)));
      markdown = lines.join('\n');
    } else {
      const servers = new Map<string, Record<SetupName, Server>>();
      // Launched in the given order: a server started later measured a few
      // percent cheaper than the same build started before it (see --relaunch).
      const start = async (app: string, order: SetupName[]): Promise<void> => {
        const bySetup = {} as Record<SetupName, Server>;
        for (const setup of order) bySetup[setup] = await launch(app, setup, opts, path.join(tmp, 'cache'));
        servers.set(app, bySetup);
      };
      const warmUp = async (app: string): Promise<void> => {
        for (const setup of opts.setups) {
          log(`warm-up ${app} ${setup}`);
          await load(servers.get(app)![setup], opts.warmup, opts);
          await pause(300);
        }
      };
      if (!opts.relaunch) {
        for (const app of opts.apps) await start(app, opts.setups);
        for (const app of opts.apps) await warmUp(app);
      }
      const results = new Map<string, Round[]>(opts.apps.map((a) => [a, []]));
      const tally: Tally = { waited: 0, retried: 0 };
      for (let round = 0; round < opts.rounds; round++) {
        for (const [appIndex, app] of opts.apps.entries()) {
          // ABBA over the setups: forward, then backward, so drift hits all alike.
          const order = (round + appIndex) % 2 === 0 ? opts.setups : [...opts.setups].reverse();
          if (opts.relaunch) {
            // New processes each round, started in the round's order.
            const old = Object.values(servers.get(app) ?? {});
            for (const server of old) live.delete(server.proc);
            await Promise.all(old.map((server) => server.proc.stop()));
            await start(app, order);
            await warmUp(app);
          }
          const measure = async (): Promise<Round> => {
            const round: Round = { samples: {}, nodeBeside: {} };
            const bySetup = servers.get(app)!;
            if (opts.concurrent) {
              // Each setup side by side with node, as the overhead bench pairs them.
              for (const setup of order) {
                if (setup === 'node') continue;
                const [node, other] = await Promise.all([load(bySetup.node, opts.duration, opts), load(bySetup[setup], opts.duration, opts)]);
                round.nodeBeside[setup] = node;
                round.samples[setup] = other;
                round.samples.node ??= node;
                await pause(300);
              }
              return round;
            }
            for (const setup of order) {
              round.samples[setup] = await load(bySetup[setup], opts.duration, opts);
              await pause(300);
            }
            return round;
          };
          const what = `round ${round + 1}/${opts.rounds} ${app}`;
          const measured = await cleanRound(measure, isClean, { waitQuiet: opts.waitQuiet, attempts: ATTEMPTS, what }, tally, log);
          results.get(app)!.push(measured);
          for (const setup of opts.setups) log(`${what} ${setup}: ${describeSample(measured.samples[setup]!)}`);
        }
      }
      await stopAll();
      const lines = header('SRS on a realistic app: Express 5 and Fastify 5 with shared state', opts, startedAt,
        `${opts.rounds} rounds × ${opts.duration} s (warm-up ${opts.warmup} s)${opts.concurrent ? ', each setup loaded at the same time as node' : ''}` +
          `${opts.relaunch ? ', every server started again and warmed up before each round' : ''}`);
      lines.push('## Throughput and CPU per request', '');
      lines.push(...throughputReport(opts, results, tally));
      if (opts.startups > 0) {
        log('startup: time to listening');
        lines.push(...startupReport(await measureStartups(opts, tmp, log), opts));
      }
      markdown = lines.join('\n');
    }
    publish('realistic', markdown, opts.out, log);
  } finally {
    await stopAll();
    clearTimeout(deadline);
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

runBenchmark('realistic', main);
