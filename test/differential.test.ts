/**
 * "Instrumented code behaves identically": a differential test. Every program
 * of the corpus (differential-corpus.ts) runs as written and as the
 * instrumenter rewrites it, and the two must agree on the return value (or
 * the thrown error's name and message, and whether it was thrown or a
 * rejection), and on the long-lived state left behind, serialized
 * deterministically (own keys and descriptors, prototypes, Maps, Sets,
 * BigInt, -0, holes, frozen/sealed; no getter is called).
 *
 * The instrumented copy runs three ways, since the journal must not change
 * behaviour either:
 *   fast    — no request open (`__srs.a` false): the path startup code takes;
 *   req     — loaded at startup, run inside a real request context with the
 *             barrier on, so that every write goes through the journal;
 *   reqload — loaded and run inside the request (a lazy require).
 *
 * Then real npm packages (qs, path-to-regexp, ms, debug, cookie, ...): a
 * battery of calls runs in child processes, plain and under the real CJS load
 * hook (`installInstrumentation('all')`), fast and inside a request, and the
 * outputs must be equal.
 */
import assert = require('node:assert/strict');
import { spawnSync } from 'node:child_process';
import fs = require('node:fs');
import os = require('node:os');
import path = require('node:path');
import { pathToFileURL } from 'node:url';
import { types } from 'node:util';
import { describe, test } from 'node:test';
import { instrument } from '../src/instrument/instrumenter';
import { barrier } from '../src/runtime/barrier';
import { RequestContext, RequestInfo, storage } from '../src/runtime/context';
import { commit, journalSize } from '../src/runtime/journal';
import { corpus, DiffCase, Variant } from './differential-corpus';
import { packageRoot } from './run-helpers';

// --- deterministic serialization ------------------------------------------------

/** Serializes a value without calling user code (no getters, no traps). */
export function serialize(value: unknown): string {
  const seen = new Map<object, string>();
  const walk = (v: unknown, at: string): string => {
    switch (typeof v) {
      case 'undefined':
        return 'undefined';
      case 'number':
        return Object.is(v, -0) ? '-0' : String(v);
      case 'bigint':
        return `${v}n`;
      case 'string':
        return JSON.stringify(v);
      case 'boolean':
        return String(v);
      case 'symbol':
        return `Symbol(${v.description ?? ''})`;
    }
    if (v === null) return 'null';
    const obj = v as object;
    const prev = seen.get(obj);
    if (prev !== undefined) return `<circular ${prev}>`;
    seen.set(obj, at);
    if (types.isProxy(obj)) return '<Proxy>';
    if (typeof obj === 'function') return `<function ${(obj as Function).name}>`;
    const proto = Object.getPrototypeOf(obj);
    const ctor = proto === null ? 'null' : (Object.getOwnPropertyDescriptor(proto, 'constructor')?.value as Function | undefined)?.name ?? '?';
    const flags = Object.isFrozen(obj) ? ' frozen' : Object.isSealed(obj) ? ' sealed' : Object.isExtensible(obj) ? '' : ' non-extensible';
    let head = `${ctor}${flags}`;
    const parts: string[] = [];
    if (obj instanceof Error) head += `(${obj.name}: ${obj.message})`;
    if (types.isMap(obj)) for (const [k, val] of obj as Map<unknown, unknown>) parts.push(`${walk(k, `${at}.key`)} => ${walk(val, `${at}.get`)}`);
    if (types.isSet(obj)) for (const val of obj as Set<unknown>) parts.push(walk(val, `${at}.has`));
    if (types.isDate(obj)) head += `(${(obj as Date).getTime()})`;
    if (types.isRegExp(obj)) head += `(${String(obj)})`;
    if (types.isWeakMap(obj) || types.isWeakSet(obj)) head += '(opaque)';
    if (types.isTypedArray(obj)) head += `[${Array.from(obj as Uint8Array, String).join(',')}]`;
    const isArray = Array.isArray(obj);
    if (isArray) head += `(length ${(obj as unknown[]).length})`;
    for (const key of Reflect.ownKeys(obj)) {
      if (types.isTypedArray(obj) && typeof key === 'string' && /^\d+$/.test(key)) continue;
      if (isArray && key === 'length') continue;
      const d = Object.getOwnPropertyDescriptor(obj, key)!;
      const name = typeof key === 'symbol' ? `[${walk(key, at)}]` : JSON.stringify(key);
      const attrs = `${d.enumerable ? '' : ' hidden'}${d.configurable ? '' : ' fixed'}${'value' in d && !d.writable ? ' readonly' : ''}`;
      if ('value' in d) parts.push(`${name}${attrs}: ${walk(d.value, `${at}.${String(key)}`)}`);
      else parts.push(`${name}${attrs}: <accessor${d.get ? ' get' : ''}${d.set ? ' set' : ''}>`);
    }
    return `${head} {${parts.join(', ')}}`;
  };
  return walk(value, '$');
}

function describeError(err: unknown): string {
  if (err instanceof Error || (typeof err === 'object' && err !== null && 'message' in err)) {
    const e = err as Error;
    return `${e.constructor?.name}/${e.name}: ${e.message}`;
  }
  return `non-error ${serialize(err)}`;
}

// --- running one program ------------------------------------------------------------

class TestContext extends RequestContext {
  describe(): RequestInfo {
    return { id: this.id, kind: 'differential' };
  }
  isolate(): string {
    return 'nothing';
  }
}

interface Outcome {
  /** 'value <serialized>' | 'throw <error>' | 'reject <error>' */
  result: string;
  state: string;
  /** Entries in the request's journal after the run (req variants). */
  journal?: number;
}

const workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'srs-differential-'));
process.on('exit', () => fs.rmSync(workDir, { recursive: true, force: true }));

type Loaded = { run: () => unknown; state: () => unknown };

// A real import() (TypeScript turns `import()` into require() for CommonJS output).
const importModule = new Function('url', 'return import(url)') as (url: string) => Promise<unknown>;

async function load(file: string, esm: boolean): Promise<Loaded> {
  if (esm) return (await importModule(pathToFileURL(file).href)) as Loaded;
  return require(file) as Loaded;
}

async function call(fn: () => unknown): Promise<string> {
  let returned: unknown;
  try {
    returned = fn();
  } catch (err) {
    return `throw ${describeError(err)}`;
  }
  if (returned instanceof Promise) {
    try {
      return `resolve ${serialize(await returned)}`;
    } catch (err) {
      return `reject ${describeError(err)}`;
    }
  }
  return `value ${serialize(returned)}`;
}

function withSource(c: DiffCase): string {
  return `${c.src}\n${c.esm ? 'export { run, state };' : 'module.exports = { run, state };'}\n`;
}

let fileCounter = 0;

/** Runs one program (original or instrumented text) in one variant; fresh module each time. */
async function execute(code: string, esm: boolean, variant: 'orig' | Variant): Promise<Outcome> {
  const file = path.join(workDir, `case-${++fileCounter}-${variant}.${esm ? 'mjs' : 'js'}`);
  fs.writeFileSync(file, code);
  if (variant === 'orig' || variant === 'fast') {
    barrier.a = false;
    const mod = await load(file, esm);
    const result = await call(() => mod.run());
    return { result, state: serialize(mod.state()) };
  }
  const ctx = new TestContext();
  let mod: Loaded | undefined;
  if (variant === 'req') mod = await load(file, esm);
  barrier.a = true;
  try {
    const result = await storage.run(ctx, async () => {
      if (variant === 'reqload') mod = await load(file, esm);
      return call(() => mod!.run());
    });
    const journal = journalSize(ctx);
    commit(ctx);
    barrier.a = false;
    return { result, state: serialize(mod!.state()), journal };
  } finally {
    barrier.a = false;
  }
}

// --- the corpus -----------------------------------------------------------------------

const variants: Variant[] = ['fast', 'req', 'reqload'];
const todoOf = (c: DiffCase, v: Variant) => (typeof c.todo === 'string' ? c.todo : c.todo?.[v]);
let journaledRuns = 0;
let requestRuns = 0;

describe('differential: corpus, original vs instrumented (fast path, in a request, loaded in a request)', () => {
  for (const c of corpus) {
    test(c.name, async (t) => {
      const source = withSource(c);
      const { code, writes } = instrument(source, `/corpus/${c.name}.${c.esm ? 'mjs' : 'js'}`, !!c.esm);
      if (c.noWrites) assert.equal(writes, 0);
      else assert.ok(writes > 0, 'the instrumenter rewrote nothing: the case tests nothing');
      // Each write site costs a bounded amount of text: nested rewrites must not copy each other.
      const added = code.replace(/\n\/\/# sourceMappingURL=.*\n$/, '').length - source.length;
      assert.ok(added < 200 + writes * 200, `instrumented code grew by ${added} characters for ${writes} write sites`);
      const expected = await execute(source, !!c.esm, 'orig');
      for (const variant of variants) {
        await t.test(variant, { todo: todoOf(c, variant) }, async () => {
          const actual = await execute(code, !!c.esm, variant);
          if (actual.journal !== undefined) {
            requestRuns++;
            if (actual.journal > 0) journaledRuns++;
          }
          assert.equal(actual.result, expected.result, 'result (value / thrown error)');
          assert.equal(actual.state, expected.state, 'final state');
        });
      }
    });
  }

  test('the request variants really went through the journal', () => {
    // Most programs write state that outlives the request: their journal is not empty.
    assert.ok(requestRuns > 0);
    assert.ok(journaledRuns >= requestRuns * 0.75, `${journaledRuns} of ${requestRuns} request runs journaled something`);
  });
});

// --- real npm packages --------------------------------------------------------------------

const battery = path.join(packageRoot, 'test', 'fixtures', 'differential', 'packages-battery.js');

interface BatteryOutput {
  results: Record<string, string>;
  stats?: { files: number; skipped: number; cached: number; instrumented: string[] };
}

function runBattery(mode: 'plain' | 'fast' | 'req' | 'reqload', nodePath = process.execPath): BatteryOutput {
  const r = spawnSync(nodePath, [battery, mode], { cwd: packageRoot, encoding: 'utf8', timeout: 30_000, env: { ...process.env, SRS_EVENTS: 'off' } });
  assert.equal(r.status, 0, `battery ${mode} failed:\n${r.stderr}`);
  return JSON.parse(r.stdout) as BatteryOutput;
}

describe('differential: real npm packages, plain vs under the CJS load hook', () => {
  const plain = runBattery('plain');
  const names = Object.keys(plain.results).filter((name) => !name.startsWith('('));

  test('the battery covers the packages', () => {
    assert.ok(names.length >= 40, `only ${names.length} rows`);
  });

  for (const mode of ['fast', 'req', 'reqload'] as const) {
    describe(mode, () => {
      const out = runBattery(mode);
      if (mode !== 'fast') {
        test('the battery ran through the journal', () => assert.equal(out.results['(journal entries)'], 'some'));
      }
      test('the packages were instrumented, none skipped', () => {
        assert.ok(out.stats, 'no stats');
        assert.equal(out.stats.skipped, 0, 'files the instrumenter could not handle');
        for (const pkg of ['qs', 'path-to-regexp', 'ms', 'debug', 'cookie', 'fast-querystring', 'semver', 'toad-cache', 'find-my-way']) {
          assert.ok(out.stats.instrumented.some((f) => f.includes(`${path.sep}node_modules${path.sep}${pkg}${path.sep}`)), `${pkg} not instrumented`);
        }
      });
      for (const name of names) {
        test(name, () => {
          assert.equal(out.results[name], plain.results[name]);
        });
      }
    });
  }
});
