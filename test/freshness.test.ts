/**
 * The instrumenter skips writes to objects the writing function invocation
 * provably created itself (a `const`, `let` or `var` bound to a literal or a
 * `new` expression and never assigned again): DESIGN.md guarantee 2's "writes
 * to objects the request created are not journaled". Each case here would
 * look fresh to a careless analysis but reaches shared state; a faulty
 * request runs it, is rolled back, and the shared state must be what it was.
 * If the analysis took any of them for fresh, the write would not be
 * journaled and the corruption would stay.
 */
import assert = require('node:assert/strict');
import { describe, it } from 'node:test';
import { instrument } from '../src/instrument/instrumenter';
import { barrier } from '../src/runtime/barrier';
import { ContextState, storage } from '../src/runtime/context';
import { TestContext } from './contexts';
import { journalSize, rollback } from '../src/runtime/journal';


/** Compiles an instrumented CommonJS snippet; `shared` is the long-lived state it reaches. */
function load(body: string, shared: object): { code: string; run: () => void } {
  const src = `module.exports = function run(shared) {\n${body}\n};`;
  const { code } = instrument(src, '/virtual/fresh.js', false);
  const module = { exports: undefined as unknown as (s: object) => void };
  // eslint-disable-next-line @typescript-eslint/no-implied-eval
  new Function('module', 'exports', 'require', code)(module, module.exports, require);
  return { code, run: () => module.exports(shared) };
}

/** Runs the snippet as a faulty request, then rolls it back: the shared state must be untouched. */
function faultyRun(body: string): { shared: Record<string, unknown>; code: string } {
  const shared: Record<string, unknown> = { x: 'clean', list: ['clean'] };
  const { code, run } = load(body, shared);
  const ctx = new TestContext();
  const wasActive = barrier.a;
  barrier.a = true;
  try {
    storage.run(ctx, run);
  } finally {
    ctx.state = ContextState.Dead;
    rollback(ctx);
    barrier.a = wasActive;
  }
  return { shared, code };
}

const reachesShared: Array<[string, string]> = [
  ['a var assigned again', `var o = {}; o = shared; o.x = 'corrupt';`],
  ['a let assigned again in a branch', `let o = []; if (shared) o = shared.list; o.push('corrupt');`],
  ['a var declared again', `var o = {}; var o = shared; o.x = 'corrupt';`],
  ['a var a for-of loop assigns', `var o = {}; for (o of [shared]) o.x = 'corrupt';`],
  ['a var a destructuring assignment assigns', `var o = {}; ({ o } = { o: shared }); o.x = 'corrupt';`],
  ['a let a closure assigns', `let o = {}; const take = () => { o = shared; }; take(); o.x = 'corrupt';`],
  ['a var a direct eval assigns', `var o = {}; eval('o = shared'); o.x = 'corrupt';`],
  ['a var a with statement assigns', `var o = {}; with ({ shared }) { o = shared; } o.x = 'corrupt';`],
  ['a var an update expression assigns', `var o = {}; var n = 0; n++; o = n > 0 ? shared : o; o.x = 'corrupt';`],
  ['this of a constructible function called without new', `function F() { this.x = 'corrupt'; } F.call(shared);`],
  ['this of a constructible function, bound', `function F() { this.x = 'corrupt'; } F.bind(shared)();`],
  ['this of an arrow inside a function called with new', `function F(o) { const set = () => { this.x = 'corrupt'; }; set.call(o); } F.call(shared);`],
  ['this of a method', `shared.m = 0; const o = { m() { this.x = 'corrupt'; } }; o.m.call(shared);`],
];

describe('freshness: writes through variables that reach shared state are journaled', () => {
  for (const [name, body] of reachesShared) {
    it(name, () => {
      const { shared } = faultyRun(body);
      assert.deepEqual(shared, { x: 'clean', list: ['clean'] });
    });
  }
});

describe('freshness: writes to objects the invocation created are not rewritten', () => {
  const fresh: Array<[string, string, string]> = [
    ['const object literal', `const o = {}; o.a = 1; return o;`, 'o'],
    ['let array literal, never assigned again', `let o = []; o.push(1); return o;`, 'o'],
    ['var bound by a conditional of new and a literal (parseurl)', `var Url = Object; var o = Url !== undefined ? new Url() : {}; o.path = 1; return o;`, 'o'],
  ];
  for (const [name, body, variable] of fresh) {
    it(name, () => {
      const { code } = load(body, {});
      assert.ok(!code.includes(`(${variable}, `), `the write through ${variable} was rewritten:\n${code}`);
    });
  }
});

describe('freshness: `this` of a function called with new', () => {
  // Built outside any request, as a server builds its long-lived objects at startup.
  const src = `
    function Counter() { this.n = 0; this['k'] = 0; this.hits++; this.touch = () => { this.n++; }; }
    module.exports = { Counter };`;
  const { code } = instrument(src, '/virtual/ctor.js', false);
  const module = { exports: {} as { Counter: new () => { n: number; touch: () => void } } };
  // eslint-disable-next-line @typescript-eslint/no-implied-eval
  new Function('module', 'exports', 'require', code)(module, module.exports, require);
  const { Counter } = module.exports;

  function inRequest(fn: () => void): number {
    const ctx = new TestContext();
    const wasActive = barrier.a;
    barrier.a = true;
    try {
      storage.run(ctx, fn);
      return journalSize(ctx);
    } finally {
      ctx.state = ContextState.Dead;
      rollback(ctx);
      barrier.a = wasActive;
    }
  }

  it('is fresh: constructing journals nothing', () => {
    assert.equal(inRequest(() => void new Counter()), 0);
  });
  it('is journaled when the function is called on an existing object', () => {
    const shared = { n: 5, k: 1, hits: 1 };
    assert.equal(inRequest(() => (Counter as unknown as (this: object) => void).call(shared)), 4);
    assert.deepEqual(Object.keys(shared).sort(), ['hits', 'k', 'n']);
    assert.deepEqual({ n: shared.n, k: shared.k, hits: shared.hits }, { n: 5, k: 1, hits: 1 });
  });
  it('is journaled in an arrow that outlives the construction (an object built before the request)', () => {
    const counter = new Counter();
    assert.equal(inRequest(() => counter.touch()), 1);
    assert.equal(counter.n, 0);
  });
});
