/**
 * Instructions per request, node vs srs, counted by valgrind's callgrind.
 *
 * This machine's speed drifts by up to 2× within minutes, so seconds compare
 * badly; an instruction count does not drift. Each variant's server runs
 * under callgrind with counting off; it is warmed up (three loads, so that
 * the second connection's re-optimizations are over too), then counting is
 * switched on for a fixed number of requests and off again. Only the main
 * thread counts (V8 compiles and helps the collector on other threads, whose
 * share varies from run to run); the collector's share of the main thread is
 * reported apart, for the same reason. Needs valgrind (Debian: valgrind).
 */
import { execFileSync, spawn } from 'node:child_process';
import fs = require('node:fs');
import os = require('node:os');
import path = require('node:path');
import { cannon } from './lib/cannon';
import { pause } from './lib/cpu';
import { parseFlags } from './lib/flags';
import { fixed, int, publish, repoRoot, srsRevision } from './lib/report';

const USAGE = `usage: node dist/bench/instructions.js [options]

  --apps LIST         apps of bench/apps, comma-separated (default plain-http,express,fastify)
  --requests N        requests counted per variant (default 4000)
  --warmup N          requests per warm-up load, three loads (default 2000)
  --connections N     autocannon connections (default 20)
  --path P            request path (default /users/42)
  --out FILE          where the Markdown report goes (default bench/results/instructions-node<major>.md)
  --no-write          print the report only
`;

const APP_NAMES: Record<string, string> = { 'plain-http': 'node:http', express: 'Express 5', fastify: 'Fastify 5' };

/** The valgrind processes running now: stopped on exit, on error and on SIGINT/SIGTERM. */
const running = new Set<ReturnType<typeof spawn>>();
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    process.stderr.write(`\ninstructions: ${signal}, stopping servers\n`);
    for (const child of running) child.kill('SIGKILL');
    process.exit(130);
  });
}

function fail(message: string): never {
  process.stderr.write(`instructions: ${message}\n`);
  process.exit(2);
}

interface Count {
  total: number;
  gc: number;
  /** Object-literal stores that went through the runtime (see GENERIC_LITERALS). */
  genericLiterals: number;
}

/**
 * Now and then V8's concurrent compiler builds process.nextTick (whose tick
 * object literal has computed keys) with every store through the runtime:
 * seen under valgrind, where the compiler thread's timing differs, for plain
 * node and srs alike, about +37 k instructions per request on Fastify (seven
 * ticks a request). The runtime function's own count tells such a run, which
 * is counted again.
 */
const GENERIC_LITERALS = /Runtime_DefineKeyedOwnPropertyInLiteral/;
/** Per request, past which a run counts as one of those. */
const GENERIC_LIMIT = 200;
const ATTEMPTS = 3;

// The collector's functions in callgrind's symbol names.
const GC = /Scaveng|heap::|Heap::|Evacuat|IteratePointers|MarkCompact|Sweep|OnMoveEvent|Marking|RememberedSet|SlotSet|SemiSpace|NewSpace|PagedSpace|MinorMS|FreeList/;

function mainThreadCount(outFile: string): Count {
  const text = execFileSync('callgrind_annotate', ['--threshold=100', outFile], { maxBuffer: 1 << 28 }).toString();
  let total = 0;
  let gc = 0;
  let genericLiterals = 0;
  for (const line of text.split('\n')) {
    const m = /^\s*([\d,]+)\s+\([^)]*\)\s+(.*)$/.exec(line);
    if (!m) continue;
    const n = Number(m[1]!.replace(/,/g, ''));
    if (m[2]!.includes('PROGRAM TOTALS')) total = n;
    else if (GC.test(m[2]!)) gc += n;
    else if (GENERIC_LITERALS.test(m[2]!)) genericLiterals += n;
  }
  return { total, gc, genericLiterals };
}

async function countVariant(srs: boolean, app: string, opts: { requests: number; warmup: number; connections: number; path: string }): Promise<Count> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'srs-instr-'));
  const outFile = path.join(dir, 'cg.out');
  const args = ['--tool=callgrind', '--separate-threads=yes', '--instr-atstart=no', `--callgrind-out-file=${outFile}`, process.execPath];
  if (srs) args.push('-r', path.join(repoRoot, 'dist', 'src', 'register', 'index.js'));
  args.push(path.join(repoRoot, 'bench', 'apps', `${app}.js`));
  const child = spawn('valgrind', args, { stdio: ['ignore', 'pipe', 'pipe'], cwd: repoRoot });
  running.add(child);
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  try {
    const port = await new Promise<number>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('the server did not listen within 120 s')), 120_000);
      child.once('exit', (code) => reject(new Error(`valgrind exited with ${code}: ${stderr.trim().split('\n').pop() ?? ''}`)));
      child.stdout.on('data', (d: Buffer) => {
        const m = /listening (\d+)/.exec(d.toString());
        if (m) {
          clearTimeout(timer);
          resolve(Number(m[1]));
        }
      });
    });
    const load = (amount: number) =>
      cannon({ url: `http://127.0.0.1:${port}${opts.path}`, connections: opts.connections, pipelining: 1, duration: 600, amount }, 600_000);
    for (let i = 0; i < 3; i++) await load(opts.warmup);
    execFileSync('callgrind_control', ['-i', 'on', String(child.pid)], { stdio: 'ignore' });
    const result = await load(opts.requests);
    execFileSync('callgrind_control', ['-i', 'off', String(child.pid)], { stdio: 'ignore' });
    if (result.requests.total !== opts.requests || result.errors > 0 || result.non2xx > 0) {
      throw new Error(`the counted load was not clean: ${result.requests.total} requests, ${result.errors} errors, ${result.non2xx} non-2xx`);
    }
    // callgrind writes its profiles when the server exits.
    child.kill('SIGTERM');
    await new Promise((resolve) => (child.exitCode !== null ? resolve(undefined) : child.once('exit', resolve)));
    await pause(200);
    const main = `${outFile}-01`;
    if (!fs.existsSync(main)) throw new Error('callgrind wrote no main-thread profile');
    const count = mainThreadCount(main);
    return { total: count.total / opts.requests, gc: count.gc / opts.requests, genericLiterals: count.genericLiterals / opts.requests };
  } finally {
    if (child.exitCode === null) child.kill('SIGKILL');
    running.delete(child);
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const flags = parseFlags(
    process.argv.slice(2),
    new Set(['--apps', '--requests', '--warmup', '--connections', '--path', '--out']),
    new Set(['--no-write']),
    USAGE,
    fail,
  );
  const positive = (name: string, fallback: number): number => {
    const raw = flags.get(name);
    if (raw === undefined) return fallback;
    const n = Number(raw);
    if (!Number.isInteger(n) || n <= 0) fail(`${name} expects a positive integer, got "${String(raw)}"`);
    return n;
  };
  const apps = ((flags.get('--apps') as string | undefined) ?? 'plain-http,express,fastify').split(',').filter(Boolean);
  for (const app of apps) {
    if (!fs.existsSync(path.join(repoRoot, 'bench', 'apps', `${app}.js`))) fail(`no app bench/apps/${app}.js`);
  }
  try {
    execFileSync('valgrind', ['--version'], { stdio: 'ignore' });
  } catch {
    fail('valgrind is not installed (Debian: apt-get install valgrind)');
  }
  const opts = {
    requests: positive('--requests', 4000),
    warmup: positive('--warmup', 2000),
    connections: positive('--connections', 20),
    path: (flags.get('--path') as string | undefined) ?? '/users/42',
  };
  const major = process.versions.node.split('.')[0]!;
  const out = flags.has('--no-write')
    ? null
    : ((flags.get('--out') as string | undefined) ?? path.join(repoRoot, 'bench', 'results', `instructions-node${major}.md`));

  const mutator = (c: Count) => c.total - c.gc;
  let recounted = 0;
  let stillGeneric = false;
  /** A variant's count, again while V8 compiled process.nextTick the slow way (see GENERIC_LITERALS). */
  const countClean = async (srs: boolean, app: string): Promise<Count & { mark: string }> => {
    for (let attempt = 1; ; attempt++) {
      const count = await countVariant(srs, app, opts);
      if (count.genericLiterals <= GENERIC_LIMIT) return { ...count, mark: '' };
      const what = `${app} under ${srs ? 'srs' : 'node'}`;
      if (attempt === ATTEMPTS) {
        process.stderr.write(`instructions: ${what}: literal stores through the runtime in every attempt; reported with a mark\n`);
        stillGeneric = true;
        return { ...count, mark: '*' };
      }
      process.stderr.write(`instructions: ${what}: ${int(count.genericLiterals)} instructions a request in runtime literal stores (V8 compiled process.nextTick the slow way); counting again\n`);
      recounted++;
    }
  };
  const rows: string[] = [];
  for (const app of apps) {
    process.stderr.write(`instructions: ${app} under node, then srs (about a minute each)\n`);
    const node = await countClean(false, app);
    const srs = await countClean(true, app);
    rows.push(
      `| ${APP_NAMES[app] ?? app} | ${int(node.total)}${node.mark} | ${int(srs.total)}${srs.mark} | ${fixed(srs.total / node.total, 3)} | ` +
        `${int(node.gc)} / ${int(srs.gc)} | ${fixed(mutator(srs) / mutator(node), 3)} |`,
    );
  }
  const markdown =
    `# SRS overhead in instructions per request\n\n` +
    `${srsRevision()} · Node ${process.version} · ${os.platform()} ${os.arch()} · callgrind, main thread · ` +
    `${opts.requests} requests on ${opts.connections} connections after 3 × ${opts.warmup} warm-up · GET ${opts.path} · ${new Date().toISOString()}\n\n` +
    `| app | node | srs | srs / node | collector node / srs | srs / node without the collector |\n` +
    `|---|---:|---:|---:|---:|---:|\n` +
    `${rows.join('\n')}\n\n` +
    `Instructions the server's main thread ran per request while only the counted load ran. ` +
    `They do not drift with the machine's speed as seconds do (the same server counted in two runs differed by 0.3 % to 2.5 % here: the JIT does not always land in the same state), ` +
    `but they leave out the compiler's and the collector's helper threads and what cache misses cost, so seconds show more. ` +
    `The collector's share of the main thread varies from run to run and is given apart. ` +
    `A run in which V8's concurrent compiler built process.nextTick with its object-literal stores through the runtime ` +
    `(it happens now and then under valgrind, for node and srs alike, and adds tens of thousands of instructions a request) ` +
    `was counted again: ${recounted} time${recounted === 1 ? '' : 's'} in this report` +
    `${stillGeneric ? '; * marks a count where every attempt had it' : ''}.\n`;
  publish('instructions', markdown, out, (line) => process.stderr.write(`${line}\n`));
}

main().catch((err: unknown) => {
  process.stderr.write(`instructions: ${err instanceof Error ? err.message : String(err)}\n`);
  for (const child of running) child.kill('SIGKILL');
  process.exit(1);
});
