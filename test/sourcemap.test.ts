/**
 * "Stack traces stay true": errors thrown from instrumented code report the
 * original file, line and column. The fixture (test/fixtures/sourcemap/errors.js
 * and its ES module twin errors.mjs) throws from rewritten lines: null
 * dereferences on member writes (plain, computed, compound, delete, mutator
 * calls), a throw in a function whose variables are captured (a scope object
 * is inserted at its body's start), errors inside wrapped expression-bodied
 * arrows, in callbacks passed to push/Map#set/defineProperty, from built-ins,
 * from user methods named like mutators, from a key's toString, a TDZ write.
 * Every site runs at startup (barrier fast path) and inside a real HTTP
 * request (journaling path), under real `srs run` child processes: with the
 * cache off, and with a cold then a warm cache. Each frame in the fixture file
 * must equal the one plain node reports for the unmodified file.
 */
import assert = require('node:assert/strict');
import fs = require('node:fs');
import os = require('node:os');
import path = require('node:path');
import { fileURLToPath, pathToFileURL } from 'node:url';
import { describe, test } from 'node:test';
import { fixture } from './helpers';
import { packageRoot, runNode, srsCli } from './run-helpers';

interface Captured {
  name: string;
  message: string;
  stack: string;
}
interface FixtureOutput {
  file: string;
  fast: Record<string, Captured | null>;
  req: Record<string, Captured | null>;
  barrier: { fast: boolean | null; req: boolean | null };
  status: number;
  crashStatus?: number;
  /** The fixture found its own prologue variable. */
  instrumented: boolean;
  stats?: { files: number; cached: number; skipped: number };
}

const statsModule = path.join(packageRoot, 'dist', 'src', 'instrument', 'cache.js');

/**
 * The frames of a stack that lie in `file`, as "fn @ line:col". Node prints a
 * frame it maps through a source map its own way, for any transpiled code: the
 * file as a path even for an ES module (V8 prints its file: URL), and
 * "<anonymous>" for a function without a name (V8 prints no name): both
 * spellings are taken as the same frame.
 */
function framesIn(stack: string, file: string): string[] {
  const frames: string[] = [];
  for (const line of stack.split('\n')) {
    const m = /^\s+at (?:(.*) \()?(.+):(\d+):(\d+)\)?$/.exec(line);
    if (!m) continue;
    const where = m[2]!.startsWith('file://') ? fileURLToPath(m[2]!) : m[2];
    if (where === file) frames.push(`${m[1] === undefined || m[1] === '<anonymous>' ? '' : m[1]} @ ${m[3]}:${m[4]}`);
  }
  return frames;
}

/** The line of the fixture that carries `// @name`. */
function markerLine(source: string, name: string): number {
  const i = source.split('\n').findIndex((l) => new RegExp(`// @${name}\\b`).test(l));
  assert.ok(i >= 0, `no marker @${name}`);
  return i + 1;
}

async function runFixture(args: string[], env: Record<string, string> = {}): Promise<{ out: FixtureOutput; stderr: string }> {
  const r = await runNode(args, { env: { SRS_EVENTS: 'stderr', ...env }, timeoutMs: 20_000 });
  assert.equal(r.code, 0, `node ${args.join(' ')} exited ${r.code}\n${r.stderr}`);
  const line = r.stdout.split('\n').find((l) => l.startsWith('{"file"'));
  assert.ok(line, `no output from node ${args.join(' ')}\n${r.stdout}\n${r.stderr}`);
  return { out: JSON.parse(line) as FixtureOutput, stderr: r.stderr };
}

/** Site -> the error thrown where the fast path differs by design (see differential-corpus.ts). */
const fastMessageDiffers = new Set(['notAFunction']);

/** Every mismatch at once (a site per line), so that one run shows the whole picture. */
function compare(expected: FixtureOutput, actual: FixtureOutput, file: string, label: string): void {
  const problems: string[] = [];
  for (const mode of ['fast', 'req'] as const) {
    for (const [site, want] of Object.entries(expected[mode])) {
      const got = actual[mode][site];
      assert.ok(want, `${site} did not throw under plain node`);
      if (!got) {
        problems.push(`${mode} ${site}: did not throw`);
        continue;
      }
      if (got.name !== want.name) problems.push(`${mode} ${site}: ${got.name} instead of ${want.name}`);
      if (got.message !== want.message && !(mode === 'fast' && fastMessageDiffers.has(site))) problems.push(`${mode} ${site}: message "${got.message}" instead of "${want.message}"`);
      const wantFrames = framesIn(want.stack, file);
      const gotFrames = framesIn(got.stack, file);
      assert.ok(wantFrames.length > 0, `${site}: no frame in ${file}:\n${want.stack}`);
      if (JSON.stringify(gotFrames) !== JSON.stringify(wantFrames)) problems.push(`${mode} ${site}: frames [${gotFrames.join(', ')}] instead of [${wantFrames.join(', ')}]`);
    }
  }
  assert.deepEqual(problems, [], `${label}: ${problems.length} sites report other positions than plain node`);
}

for (const kind of ['cjs', 'esm'] as const) {
  const entry = fixture(kind === 'cjs' ? 'sourcemap/errors.js' : 'sourcemap/errors.mjs');
  const file = entry;
  const source = fs.readFileSync(entry, 'utf8');

  describe(`source maps: ${kind} (${path.basename(entry)})`, () => {
    const cacheDir = fs.mkdtempSync(path.join(os.tmpdir(), 'srs-sourcemap-cache-'));
    process.on('exit', () => fs.rmSync(cacheDir, { recursive: true, force: true }));
    const srsRun = (cache: string, env: Record<string, string> = {}) =>
      runFixture([srsCli, 'run', '--cache-dir', cache, entry], { STATS_MODULE: kind === 'cjs' ? statsModule : pathToFileURL(statsModule).href, ...env });

    // Plain node, the cache-off run (which also crashes a request for real) and
    // the cold-cache run are independent: run them side by side.
    const runs = Promise.all([runFixture([entry]), srsRun('off', { CRASH: '1' }), srsRun(cacheDir)]);

    test('plain node: every site throws through its marked line', async () => {
      const [{ out: plain }] = await runs;
      assert.equal(plain.barrier.fast, null);
      assert.equal(plain.instrumented, false);
      for (const [site, captured] of Object.entries(plain.fast)) {
        assert.ok(captured, `${site} did not throw`);
        const line = markerLine(source, site);
        const frames = framesIn(captured.stack, file);
        assert.ok(frames.some((f) => f.endsWith(` @ ${line}`) || f.includes(` @ ${line}:`)), `${site}: no frame on line ${line}: ${frames.join(', ')}`);
      }
    });

    test('srs run --cache-dir off: fast path and request path map to the original positions', async () => {
      const [{ out: plain }, { out }] = await runs;
      assert.equal(out.barrier.fast, false, 'startup sites ran with the barrier off');
      assert.equal(out.barrier.req, true, 'request sites ran with the barrier on');
      assert.equal(out.instrumented, true, 'the fixture was instrumented');
      if (kind === 'cjs') assert.deepEqual([out.stats?.files, out.stats?.cached], [1, 0]);
      compare(plain, out, file, 'cache off');
    });

    test('a request that crashes: the recovery event carries the original position', async () => {
      const [{ out: plain }, { out, stderr }] = await runs;
      assert.equal(out.crashStatus, 500);
      const event = stderr
        .split('\n')
        .filter((l) => l.startsWith('{"type":"srs.recovery"'))
        .map((l) => JSON.parse(l) as { error: { stack: string } })[0];
      assert.ok(event, `no recovery event:\n${stderr}`);
      const [top] = framesIn(event.error.stack, file);
      assert.equal(top, framesIn(plain.req.crashSite!.stack, file)[0]);
    });

    test('srs run with a cold cache, then a warm one: the cached output maps the same', async () => {
      const [{ out: plain }, , { out: cold }] = await runs;
      assert.equal(cold.instrumented, true, 'the fixture was instrumented');
      compare(plain, cold, file, 'cold cache');
      const cached = fs.readdirSync(cacheDir).filter((f) => f.endsWith('.js'));
      assert.ok(cached.length >= 1, 'nothing was cached');
      const mtimes = cached.map((f) => fs.statSync(path.join(cacheDir, f)).mtimeMs);
      const { out: warm } = await srsRun(cacheDir);
      assert.equal(warm.instrumented, true, 'the cached fixture was used');
      compare(plain, warm, file, 'warm cache');
      assert.deepEqual(fs.readdirSync(cacheDir).filter((f) => f.endsWith('.js')), cached, 'the warm run cached nothing new');
      assert.deepEqual(cached.map((f) => fs.statSync(path.join(cacheDir, f)).mtimeMs), mtimes, 'the warm run rewrote the cache');
      if (kind === 'cjs') assert.deepEqual([warm.stats?.files, (warm.stats?.cached ?? 0) >= 1], [0, true], 'the warm run read the cache');
      assert.equal(warm.barrier.req, true);
    });
  });
}

test('stack headers and unmapped frames read as under plain node (Node errors, renamed errors, captureStackTrace, eval)', async () => {
  const entry = fixture('sourcemap/headers.js');
  const [plain, srs] = await Promise.all([runNode([entry], { timeoutMs: 20_000 }), runNode([srsCli, 'run', '--cache-dir', 'off', entry], { timeoutMs: 20_000 })]);
  assert.equal(plain.code, 0, plain.stderr);
  assert.equal(srs.code, 0, srs.stderr);
  const want = JSON.parse(plain.stdout) as Record<string, string>;
  assert.match(want.nodeError!, /^RangeError \[ERR_OUT_OF_RANGE\]: /);
  assert.deepEqual(JSON.parse(srs.stdout), want);
});
