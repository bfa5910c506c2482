/**
 * The corpus of the differential test (differential.test.ts): small programs
 * that exercise the corners of JavaScript the instrumenter rewrites. Each one
 * defines `run()` (sync or async; its value or error is compared) and
 * `state()` (the long-lived state it leaves, serialized and compared); the
 * harness appends the export. A `log` array records observable events (setter
 * and trap calls, key conversions, evaluation order) and is part of the state.
 *
 * Cases are CommonJS (sloppy unless they say 'use strict') unless `esm` is set.
 */

export type Variant = 'fast' | 'req' | 'reqload';

export interface DiffCase {
  name: string;
  src: string;
  esm?: boolean;
  /** Marks a known divergence (per variant or for all): runs, reported as todo. */
  todo?: string | Partial<Record<Variant, string>>;
  /** The instrumenter rewrites nothing here (private fields, fresh objects, ...). */
  noWrites?: boolean;
}

export const corpus: DiffCase[] = [
  // --- accessors ---------------------------------------------------------------
  {
    name: 'own getter/setter: =, +=, ++, ||=, delete',
    src: `
const log = [];
const o = { _x: 1, get x() { log.push('get'); return this._x; }, set x(v) { log.push('set ' + v); this._x = v * 2; } };
function run() { o.x = 1; o.x += 2; o.x++; o.x ||= 9; o.x &&= 3; const d = delete o.x; return [o._x, d]; }
function state() { return { log, o }; }`,
  },
  {
    name: 'inherited setter (prototype chain, class accessor, Object.create)',
    src: `
const log = [];
const proto = { set v(x) { log.push('proto set ' + x); this._v = x; }, get v() { return this._v; } };
const child = Object.create(proto);
class Base { set name(n) { log.push('Base set ' + n); this._n = n.toUpperCase(); } get name() { return this._n; } }
class Derived extends Base {}
const d = new Derived();
function run() { child.v = 5; child['v'] += 1; d.name = 'abc'; d.name += 'x'; return [Object.keys(child), Object.keys(d), child.v, d.name]; }
function state() { return { log, child, d, own: Object.getOwnPropertyNames(child) }; }`,
  },
  {
    name: 'setter without getter, getter without setter (sloppy)',
    src: `
const log = [];
const o = { set w(v) { log.push('w=' + v); }, get r() { log.push('get r'); return 7; } };
function run() { o.w += 1; o.r = 3; o.r += 1; return [o.w, o.r]; }
function state() { return { log }; }`,
  },
  {
    name: 'getter without setter (strict): TypeError',
    src: `'use strict';
const o = { get r() { return 7; } };
function run() { o.r = 3; }
function state() { return { o }; }`,
  },
  // --- proxies -------------------------------------------------------------------
  {
    name: 'Proxy traps: order and counts of set/get/deleteProperty/defineProperty/getOwnPropertyDescriptor/has',
    src: `
const log = [];
const target = { a: 1 };
const handler = {};
for (const t of ['get', 'set', 'has', 'deleteProperty', 'defineProperty', 'getOwnPropertyDescriptor', 'ownKeys']) {
  handler[t] = (...args) => { log.push(t + ':' + String(typeof args[1] === 'symbol' ? 'sym' : args[1])); return Reflect[t](...args); };
}
const p = new Proxy(target, handler);
let k = 'b';
function run() { p.a = 2; p[k] = 3; p.c += 1; p.a++; delete p.a; p.d ||= 5; p.d ??= 6; return [target.c, target.d]; }
function state() { return { log, target }; }`,
  },
  {
    name: 'Proxy traps through built-in mutators (Object.assign, Reflect.set, defineProperty)',
    src: `
const log = [];
const target = {};
const p = new Proxy(target, {
  set(t, k, v, r) { log.push('set ' + String(k)); return Reflect.set(t, k, v, r); },
  defineProperty(t, k, d) { log.push('define ' + String(k)); return Reflect.defineProperty(t, k, d); },
  getOwnPropertyDescriptor(t, k) { log.push('gopd ' + String(k)); return Reflect.getOwnPropertyDescriptor(t, k); },
  get(t, k, r) { log.push('get ' + String(k)); return Reflect.get(t, k, r); },
});
function run() { Object.assign(p, { x: 1, y: 2 }); Reflect.set(p, 'z', 3); Object.defineProperty(p, 'w', { value: 4, configurable: true }); return Object.keys(target); }
function state() { return { log, target }; }`,
  },
  {
    name: 'Proxy with a set trap that refuses (strict: TypeError, sloppy: false)',
    src: `
const log = [];
const p = new Proxy({}, { set() { log.push('refuse'); return false; }, deleteProperty() { log.push('no delete'); return false; } });
function strictWrite() { 'use strict'; try { p.x = 1; } catch (e) { log.push(e.constructor.name + ': ' + e.message); } try { delete p.x; } catch (e) { log.push(e.constructor.name + ': ' + e.message); } }
function run() { p.y = 2; const d = delete p.y; strictWrite(); return d; }
function state() { return { log }; }`,
  },
  // --- frozen, sealed, read-only, primitives -----------------------------------------
  {
    name: 'frozen object in strict mode: each write throws the same TypeError',
    src: `'use strict';
const log = [];
const f = Object.freeze({ a: 1, n: { x: 1 } });
const arr = Object.freeze([1, 2]);
const key = 'a';
function attempt(label, fn) { try { fn(); log.push(label + ' ok'); } catch (e) { log.push(label + ' ' + e.constructor.name + ': ' + e.message); } }
function run() {
  attempt('assign', () => { f.a = 2; });
  attempt('add', () => { f.b = 2; });
  attempt('computed', () => { f[key] = 3; });
  attempt('compound', () => { f.a += 1; });
  attempt('update', () => { f.a++; });
  attempt('logical', () => { f.a ||= 5; f.z ??= 5; });
  attempt('delete', () => { delete f.a; });
  attempt('nested ok', () => { f.n.x = 2; });
  attempt('push', () => { arr.push(3); });
  attempt('pop', () => { arr.pop(); });
  attempt('index', () => { arr[0] = 9; });
  attempt('length', () => { arr.length = 0; });
  attempt('assign()', () => { Object.assign(f, { a: 5 }); });
  attempt('defineProperty', () => { Object.defineProperty(f, 'q', { value: 1 }); });
  attempt('Reflect.set', () => { log.push(String(Reflect.set(f, 'a', 9))); });
  f.a = 10;
}
function state() { return { log, f, arr }; }`,
  },
  {
    name: 'frozen object in sloppy mode: writes silently ignored, values of expressions kept',
    src: `
const log = [];
const f = Object.freeze({ a: 1 });
const arr = Object.freeze([1, 2]);
function run() {
  log.push(f.a = 2, f.b = 3, f.a += 1, f.a++, delete f.a, f['c'] = 4, (f.a ||= 7), (f.z ??= 8));
  try { arr.push(1); } catch (e) { log.push(e.message); }
  log.push(arr[5] = 1, arr.length = 0);
  return f;
}
function state() { return { log, f, arr }; }`,
  },
  {
    name: 'sealed and non-extensible objects, strict and sloppy',
    src: `
const log = [];
const s = Object.seal({ a: 1 });
const ne = Object.preventExtensions({ a: 1 });
function strict() { 'use strict'; for (const fn of [() => { s.a = 2; }, () => { s.b = 1; }, () => { delete s.a; }, () => { ne.b = 1; }, () => { delete ne.a; }]) { try { fn(); log.push('ok'); } catch (e) { log.push(e.message); } } }
function sloppy() { s.a = 3; s.b = 1; log.push(delete s.a); ne.b = 2; log.push(delete ne.a); }
function run() { strict(); sloppy(); return [s, ne]; }
function state() { return { log, s, ne }; }`,
  },
  {
    name: 'read-only (writable: false) and non-configurable properties: strict vs sloppy delete',
    src: `
const log = [];
const o = {};
Object.defineProperty(o, 'ro', { value: 1, writable: false, configurable: false, enumerable: true });
Object.defineProperty(o, 'nc', { value: 2, writable: true, configurable: false, enumerable: true });
const arr = [1, 2, 3];
function strict() { 'use strict';
  for (const fn of [() => { o.ro = 5; }, () => { o.ro += 1; }, () => { delete o.nc; }, () => { delete arr.length; }, () => { o.nc = 7; }, () => { delete Object.prototype; }]) {
    try { fn(); log.push('ok'); } catch (e) { log.push(e.constructor.name + ': ' + e.message); }
  }
}
function sloppy() { o.ro = 9; log.push(delete o.nc, delete arr.length, delete o.missing, delete arr[0]); }
function run() { strict(); sloppy(); return [o, arr]; }
function state() { return { log, o, arr }; }`,
  },
  {
    name: 'writes to primitives: strict TypeError, sloppy ignored',
    src: `
const log = [];
const box = { s: 'abc', n: 5 };
function strict() { 'use strict';
  for (const fn of [() => { box.s.x = 1; }, () => { box.s[0] = 'z'; }, () => { box.n.y = 2; }, () => { box.s.length = 0; }, () => { box.s.x += 1; }, () => { delete box.s[0]; }]) {
    try { fn(); log.push('ok'); } catch (e) { log.push(e.constructor.name + ': ' + e.message); }
  }
}
function sloppy() { box.s.x = 1; box.s[0] = 'z'; box.n.y = 2; log.push(box.s.x, box.s[0], delete box.s[0]); }
function run() { strict(); sloppy(); return box; }
function state() { return { log, box }; }`,
  },
  {
    name: 'null and undefined bases: messages of member, computed, compound, delete, call',
    src: `
const log = [];
const holder = { none: null, undef: undefined };
let k = 'key';
function attempt(label, fn) { try { fn(); log.push(label + ' ok'); } catch (e) { log.push(label + ' ' + e.constructor.name + ': ' + e.message); } }
function run() {
  attempt('set', () => { holder.none.x = 1; });
  attempt('set undef', () => { holder.undef.x = 1; });
  attempt('computed', () => { holder.none[k] = 1; });
  attempt('computed obj key', () => { holder.none[{ toString() { log.push('toString'); return 'k'; } }] = (log.push('rhs'), 1); });
  attempt('compound', () => { holder.none.x += 1; });
  attempt('update', () => { holder.undef.x++; });
  attempt('delete', () => { delete holder.none.x; });
  attempt('delete computed', () => { delete holder.undef[k]; });
  attempt('push', () => { holder.none.push(1); });
  attempt('set()', () => { holder.undef.set(1, 2); });
  attempt('nested', () => { holder.missing.deep.x = 1; });
}
function state() { return { log }; }`,
  },
  // --- arguments, super, this ----------------------------------------------------------
  {
    name: 'arguments aliasing in sloppy functions (and none in strict ones)',
    src: `
const out = {};
function sloppy(a, b) { arguments[0] = 10; b = 20; (() => { a = 30; })(); arguments[2] = 'x'; return [a, b, arguments[0], arguments[1], arguments.length]; }
function strict(a, b) { 'use strict'; arguments[0] = 10; b = 20; (() => { a = 30; })(); return [a, b, arguments[0], arguments[1]]; }
function viaCapture(a) { const set = (v) => { arguments[0] = v; }; set(5); return a; }
function run() { out.sloppy = sloppy(1, 2); out.strict = strict(1, 2); out.capture = viaCapture(1); arguments[0] = 'run'; return out; }
function state() { return { out }; }`,
  },
  {
    name: 'super property writes in classes and object literals',
    src: `
const log = [];
class A { set v(x) { log.push('A.v=' + x); this._v = x; } get v() { return this._v; } }
class B extends A {
  m() { super.v = 5; super.w = 6; super['z'] = 7; super.v += 1; return [this._v, this.w, this.z]; }
  static s() { super.sv = 1; return Object.keys(this); }
}
const base = { set q(x) { log.push('base.q=' + x); } };
const lit = { __proto__: base, m() { super.q = 1; super.r = 2; return Object.keys(this); } };
const b = new B();
function run() { return [b.m(), B.s(), lit.m()]; }
function state() { return { log, b, lit: Object.keys(lit) }; }`,
  },
  {
    name: "'use strict' preserved: this is undefined, undeclared write throws",
    src: `'use strict';
const out = {};
function f() { return this; }
function g() { out.x = 1; undeclaredStrictVar = 1; }
function run() { out.thisIsUndefined = f() === undefined; try { g(); } catch (e) { out.err = e.constructor.name + ': ' + e.message; } return out; }
function state() { return { out }; }`,
  },
  {
    name: "function-level 'use strict' directive stays first (scope object inserted after it)",
    src: `
const out = {};
function f() { 'use strict'; let c = 0; const inc = () => c++; inc(); inc(); out.c = c; return this; }
function g() { "use strict"
  let d = 0; const inc = () => { d += 2; }; inc(); out.d = d; return this; }
const h = (x) => { 'use strict'; const set = (v) => { x = v; }; set(3); return [x, this === undefined]; };
function run() { return [f() === undefined, g() === undefined, h(1)]; }
function state() { return { out }; }`,
  },
  {
    name: 'this in sloppy functions is the global object (writes land on it)',
    src: `
const out = {};
function setOnThis() { this.__srsDiffSloppyThis = (this.__srsDiffSloppyThis || 0) + 1; return this === globalThis; }
function run() { try { out.global = setOnThis(); out.value = globalThis.__srsDiffSloppyThis; const o = {}; setOnThis.call(o); out.o = o; } finally { delete globalThis.__srsDiffSloppyThis; } return out; }
function state() { return { out }; }`,
  },
  {
    name: 'this in arrow inside a derived constructor before super(): ReferenceError',
    src: `
class A {}
class B extends A { constructor() { const f = () => { this.x = 1; }; try { f(); } catch (e) { B.err = e.constructor.name + ': ' + e.message; } super(); f(); } }
function run() { const b = new B(); return [b.x, B.err]; }
function state() { return {}; }`,
  },
  // --- optional chaining, destructuring ---------------------------------------------------
  {
    name: 'optional chaining around writes',
    src: `
const shared = { list: [], o: { n: 1 }, none: null };
function run() {
  shared.list?.push(1);
  shared.none?.push(2);
  shared.r1 = shared.none?.x.y;
  shared.r2 = shared.o?.n;
  shared.o.m = shared.none?.[0] ?? 'dflt';
  shared.list.push?.(3);
  shared.f = shared.o?.missing?.();
  return [shared.list.length, shared.r1, shared.r2];
}
function state() { return { shared }; }`,
  },
  {
    name: 'destructuring assignment to outer variables and members',
    src: `
let a = 1, b = 2, rest;
const obj = { p: 0 };
const log = [];
const dflt = () => { log.push('dflt'); return 'D'; };
function run() {
  [a, b] = [b, a];
  ({ x: obj.p, y: obj['q'], ...rest } = { x: 'X', y: 'Y', z: 'Z', w: 'W' });
  [obj.r = dflt(), [obj.s, ...obj.t] = [9, 8, 7]] = [undefined];
  ({ m: a = dflt() } = {});
  for ([obj.u, b] of [[1, 2], [3, 4]]) {}
  for (obj.k in { k1: 1, k2: 2 }) {}
  return [a, b];
}
function state() { return { a, b, rest, obj, log }; }`,
  },
  // --- generators and async ---------------------------------------------------------------
  {
    name: 'generator writing shared state across yields',
    src: `
const shared = { n: 0, arr: [], m: new Map() };
let counter = 0;
function* gen() {
  shared.n = yield 'a';
  counter++;
  shared.arr.push(yield 'b');
  shared[yield 'c'] = 'v';
  shared.m.set(yield 'd', counter += 10);
  return counter;
}
function run() { const it = gen(); const out = [it.next().value]; for (const v of [5, 'pushed', 'key', 'mk']) out.push(it.next(v).value); return out; }
function state() { return { shared, counter }; }`,
  },
  {
    name: 'async functions writing shared state across awaits, interleaved',
    src: `
const shared = { log: [], total: 0, m: new Map() };
let count = 0;
const tick = (v) => new Promise((r) => setImmediate(() => r(v)));
async function worker(id) {
  shared.log.push('start ' + id);
  count++;
  shared.total += await tick(id);
  shared[await tick('k' + id)] = id;
  shared.m.set(id, await tick(count));
  count += await id;
  shared.log.push('end ' + id);
  return id;
}
async function run() { return Promise.all([worker(1), worker(2), worker(3)]); }
function state() { return { shared, count }; }`,
  },
  {
    name: 'async rejection after a write, and sync throw before the first await',
    src: `
const shared = { a: 0 };
async function bad() { shared.a = 1; await null; shared.a = 2; throw new RangeError('after await'); }
async function run() { let first; try { await bad(); } catch (e) { first = e.message; } shared.b = first; null.x = 1; }
function state() { return { shared }; }`,
  },
  {
    name: 'async generator and for await writing captured state',
    src: `
let sum = 0;
const seen = [];
async function* src() { for (let i = 1; i <= 3; i++) { sum += i; yield i; } }
async function run() { for await (const v of src()) seen.push(v * sum); return sum; }
function state() { return { sum, seen }; }`,
  },
  // --- classes ---------------------------------------------------------------------------
  {
    name: 'private fields (#x) and static private',
    src: `
class C {
  #x = 0;
  static #count = 0;
  pub = 1;
  inc() { this.#x++; C.#count += 1; this.#x ||= 5; this.#x += 2; return this.#x; }
  static count() { return C.#count; }
  has(o) { return #x in o; }
}
const c = new C();
function run() { c.inc(); c.inc(); c.pub = 2; return [c.inc(), C.count(), c.has(c), c.has({})]; }
function state() { return { c }; }`,
  },
  {
    name: 'class static fields and static blocks (scope object inside a static block)',
    src: `
let counter = 0;
const shared = { v: 'S' };
class K {
  static a = counter++;
  static b = (shared.fromField = counter++);
  static { K.c = shared.v; shared.x = 1; let local = 0; const f = () => local++; f(); f(); K.local = local; counter += 10; }
  static d = K.c + counter;
}
function run() { K.a += 1; return [K.a, K.b, K.c, K.d, K.local]; }
function state() { return { counter, shared, K: Object.entries(K) }; }`,
  },
  {
    name: 'constructors: this writes skipped as fresh, derived constructor after super',
    src: `
const registry = [];
class A { constructor(x) { this.x = x; this['y'] = x + 1; registry.push(this); } }
class B extends A { constructor() { super(1); this.z = 3; this.x += 1; } }
function run() { const b = new B(); return b; }
function state() { return { registry }; }`,
  },
  // --- operators -------------------------------------------------------------------------
  {
    name: 'compound assignment on strings, numbers and BigInt (all operators)',
    src: `
let s = 'a', n = 7, big = 3n;
const o = { s: 'x', n: 5, b: 2n, u: undefined };
function run() {
  s += 'b'; s += 1; n -= 1.5; n **= 2; n %= 7; n <<= 3; n >>= 1; n >>>= 0; n &= 13; n |= 16; n ^= 5; n /= 2; n *= 3;
  big *= 2n; big **= 3n; big -= 1n; big <<= 2n; big %= 1000n;
  o.s += 1; o.s += null; o.n *= 3; o.n++; ++o.n; o.n--; o.b += 1n; o.b **= 2n; o.b++; o.u += 1; o.u++;
  try { o.b += 1; } catch (e) { o.err = e.constructor.name + ': ' + e.message; }
  try { big += 1; } catch (e) { o.err2 = e.message; }
  return [s, n, big, s++, -n, typeof o.u];
}
function state() { return { s, n, big, o }; }`,
  },
  {
    name: 'logical assignment short-circuits: RHS and setter not evaluated',
    src: `
const log = [];
const rhs = (v) => { log.push('rhs ' + v); return v; };
let va = 1, vb = 0, vc = null;
const o = { a: 1, b: 0, c: null, set s(v) { log.push('setter ' + v); }, get s() { log.push('getter'); return 1; } };
const key = 'a';
function run() {
  o.a ||= rhs(1); o.b ||= rhs(2); o.a &&= rhs(3); o.b &&= rhs(4); o.c ??= rhs(5); o.a ??= rhs(6);
  o[key] ||= rhs(7); o['b'] &&= rhs(8);
  o.s ||= rhs(9); o.s &&= rhs(10); o.s ??= rhs(11);
  va ||= rhs(12); vb ||= rhs(13); vc ??= rhs(14); va &&= rhs(15);
  (() => { va ||= rhs(16); vb &&= rhs(17); })();
  return [o.a, o.b, o.c, va, vb, vc];
}
function state() { return { log, o, va, vb, vc }; }`,
  },
  {
    name: 'computed keys with side-effecting toString: call counts and order vs the RHS',
    src: `
const log = [];
const o = {};
const arr = [];
const key = (name) => ({ toString() { log.push('key ' + name); return name; } });
const rhs = (v) => { log.push('rhs ' + v); return v; };
const symKey = { [Symbol.toPrimitive](hint) { log.push('toPrimitive ' + hint); return sym; } };
const sym = Symbol('s');
function run() {
  o[key('a')] = rhs(1);
  o[key('a')] += rhs(2);
  o[key('b')] = 0; o[key('b')]++;
  --o[key('b')];
  o[key('a')] ||= rhs(3);
  o[key('c')] ??= rhs(4);
  delete o[key('b')];
  o[symKey] = rhs(5);
  o[symKey] += 1;
  arr[key('0')] = 'zero';
  arr[{ valueOf() { log.push('valueOf'); return 2; }, toString() { log.push('toString 1'); return '1'; } }] = 'one';
  o[key('d')] = o[key('e')] = rhs(6);
  return [o.a, o[sym], arr];
}
function state() { return { log, o, arr, symValue: o[sym] }; }`,
  },
  {
    name: 'computed key that throws in toString / toPrimitive returning an object',
    src: `
const log = [];
const o = {};
function run() {
  try { o[{ toString() { throw new SyntaxError('bad key'); } }] = (log.push('rhs'), 1); } catch (e) { log.push(e.name + ' ' + e.message); }
  try { o[{ [Symbol.toPrimitive]() { return {}; } }] = 1; } catch (e) { log.push(e.name + ' ' + e.message); }
  try { o[{ toString: null, valueOf: null }] = 1; } catch (e) { log.push(e.name + ' ' + e.message); }
  return Object.keys(o);
}
function state() { return { log, o }; }`,
  },
  {
    name: 'nested computed assignments: TypeScript enum pattern and friends',
    src: `
var E;
(function (E) {
  E[E["A"] = 0] = "A";
  E[E["B"] = 5] = "B";
  E[E["C"] = 6] = "C";
  E["S"] = "str";
})(E || (E = {}));
var F;
(function (F) { F[F["X"] = 1] = "X"; F[F["Y"] = F.X << 1] = "Y"; })(F || (F = {}));
const t = {}, u = {};
let i = 0;
function run() { t[u['k'] = 'v'] = 'w'; t[i++] = i; t[i++] = t[i++] = i; u[t[0] = 'x'] = t[1] = 'y'; return [E, F]; }
function state() { return { E, F, t, u, i }; }`,
  },
  {
    name: 'evaluation order: object, key, RHS with side effects',
    src: `
const log = [];
const store = { a: {}, b: {} };
const obj = (n) => { log.push('obj ' + n); return store[n]; };
const key = (k) => { log.push('key ' + k); return k; };
const val = (v) => { log.push('val ' + v); return v; };
function run() {
  obj('a')[key('x')] = val(1);
  obj('a').y = val(2);
  obj('b')[key('z')] += val(3);
  obj('a')[key('x')]++;
  delete obj('a')[key('y')];
  obj('b').p = obj('a').q = val(4);
  obj('a').arr = [];
  obj('a').arr.push(val(5), val(6));
  return store;
}
function state() { return { log, store }; }`,
  },
  // --- ASI, directives, hashbang ----------------------------------------------------------
  {
    name: 'ASI hazards: rewritten statements start with ( after lines without semicolons',
    src: `
const shared = { v: 0, list: [], m: new Map() }
let count = 0
let t = 'x'
const tpl = \`a\`
function run() {
  let y = t
  shared.v = y
  count++
  shared.list.push(1)
  const z = tpl
  shared['k'] = z
  y = 2
  shared.m.set(y, count)
  let w = [1]
  count += w[0]
  const fn = function () { return 1 }
  shared.w = fn()
  do shared.v += 1
  while (shared.v < 5)
  switch (count) {
    case 2:
      let q = 1
      shared.q = q
      count--
  }
  return [shared.v, count]
}
function state() { return { shared, count } }`,
  },
  {
    name: 'ASI hazards inside arrow block bodies, class static blocks and labels',
    src: `
const shared = { a: 0 }
let n = 0
const f = () => {
  const x = n
  shared.a = x
  n++
}
class S { static {
  const y = 1
  shared.s = y
  n += 2
} }
function run() {
  f()
  lbl: {
    const z = 1
    shared.z = z
    break lbl
  }
  return n
}
function state() { return { shared, n } }`,
  },
  {
    name: 'hashbang file (with use strict)',
    src: `#!/usr/bin/env node
'use strict'
const shared = { x: 0 }
let c = 0
function run() { shared.x = 1; c++; return (function () { return this; })() === undefined; }
function state() { return { shared, c }; }`,
  },
  {
    name: 'leading comments and a directive, then an expression statement starting with (',
    src: `// a comment
/* another */
'use strict'
;(function () { globalThis.__srsDiffIIFE = 1; })()
const shared = {}
function run() { shared.x = globalThis.__srsDiffIIFE; delete globalThis.__srsDiffIIFE; return (function () { return typeof this; })(); }
function state() { return { shared }; }`,
  },
  // --- user methods named like built-in mutators -------------------------------------------
  {
    name: 'user methods named push/set/add/delete/clear on non-built-in classes',
    src: `
const log = [];
class Store {
  constructor() { this.items = []; this.map = {}; }
  push(...xs) { log.push(['push', this === store, xs.length]); this.items = [...this.items, ...xs]; return 'pushed ' + xs.length; }
  set(k, v) { log.push(['set', k, arguments.length]); this.map[k] = v; return this; }
  add(x) { return this.push(x); }
  delete(k) { const had = k in this.map; delete this.map[k]; return had; }
  clear() { log.push(['clear', arguments.length]); this.items = []; return 'cleared'; }
  sort() { return 'not Array.prototype.sort'; }
}
const store = new Store();
const lit = { set(a, b) { return [this === lit, a, b]; }, add: function () { return arguments.length; } };
function run() {
  return [store.push(1, 2), store.push(...[3, 4], 5), store.set('a', 1).set('b', 2) === store, store.add(6), store.delete('a'), store.delete('zz'),
    store.sort(), lit.set(1), lit.add(), lit.add(1, 2, 3), store.clear()];
}
function state() { return { log, store }; }`,
  },
  {
    name: 'mutator-named calls: receiver evaluated once, method read once (getter count)',
    src: `
const log = [];
const inner = { calls: 0, push(x) { this.calls++; return x; } };
const o = { get list() { log.push('get list'); return inner; } };
const m = new Map();
const holder = { get map() { log.push('get map'); return m; } };
const dyn = { get add() { log.push('read add'); return function (x) { log.push('add ' + x); return this === dyn; }; } };
const get = (n) => { log.push('receiver ' + n); return inner; };
function run() { return [o.list.push(1), get(1).push(2), holder.map.set('k', 'v').set('k2', 'v2').size, dyn.add(3), inner.calls]; }
function state() { return { log, inner, m }; }`,
  },
  {
    name: 'mutator-named property that is not a function: TypeError message',
    // The request path builds V8's exact text (calleeText in visitor.ts); the fast path's callee is
    // `(R.a ? … : o).push`, which V8 itself prints as "(intermediate value)(intermediate value)…".
    todo: { fast: 'fast path: V8 names the rewritten callee "(intermediate value)…" in "… is not a function"' },
    src: `
const log = [];
const o = { push: 1, list: {}, deep: { arr: 'str' } };
const f = () => o.list;
function attempt(label, fn) { try { fn(); log.push(label + ' ok'); } catch (e) { log.push(label + ' ' + e.constructor.name + ': ' + e.message); } }
function run() {
  attempt('num', () => o.push(1));
  attempt('obj', () => o.list.add(1));
  attempt('deep', () => o.deep.arr.push(1));
  attempt('call', () => f().set(1));
  attempt('computed', () => o['list'].delete(1));
  attempt('str', () => 'abc'.push(1));
  attempt('args still evaluated', () => o.list.push(log.push('arg')));
}
function state() { return { log }; }`,
  },
  {
    name: 'mutator call errors from built-ins (incompatible receiver, frozen)',
    src: `
const log = [];
const fake = { set: Map.prototype.set, add: Set.prototype.add, push: Array.prototype.push };
const frozen = Object.freeze([]);
function attempt(label, fn) { try { log.push(label + ' ' + JSON.stringify(fn())); } catch (e) { log.push(label + ' ' + e.constructor.name + ': ' + e.message); } }
function run() {
  attempt('Map.set on object', () => fake.set(1, 2));
  attempt('Set.add on object', () => fake.add(1));
  attempt('push on object', () => fake.push('a', 'b'));
  attempt('push frozen', () => frozen.push(1));
  return fake;
}
function state() { return { log, fake }; }`,
  },
  // --- built-in mutators -------------------------------------------------------------------
  {
    name: 'Array mutators: return values, spread args, comparator, holes',
    src: `
const shared = { a: [3, 1, 2], b: [], log: [] };
const extra = [7, 8, 9];
function run() {
  const r = [];
  r.push(shared.a.push(...extra, 10), shared.a.push(), shared.a.pop(), shared.a.shift(), shared.a.unshift(0, ...[-1]));
  r.push(shared.a.splice(1, 2, 'x', 'y', 'z'), shared.a.sort((x, y) => { shared.log.push([typeof x, typeof y].join()); return String(x) < String(y) ? -1 : 1; }));
  r.push(shared.a.reverse() === shared.a, shared.a.fill(0, 5), shared.a.copyWithin(0, 3, 5));
  r.push(shared.b.pop(), shared.b.shift(), shared.b.splice(0), shared.b.sort());
  shared.b[3] = 'hole';
  r.push(shared.b.length, 1 in shared.b);
  Array.prototype.push.call(shared, 'arraylike');
  return r;
}
function state() { return { shared }; }`,
  },
  {
    name: 'Map/Set/WeakMap mutation: chaining, return values, subclass overrides',
    src: `
const m = new Map([['a', 1]]);
const s = new Set([1]);
const wm = new WeakMap();
const ws = new WeakSet();
const key = {};
const log = [];
class LoggingMap extends Map { set(k, v) { log.push('LoggingMap.set ' + k); return super.set(k, v * 10); } delete(k) { log.push('del ' + k); return super.delete(k); } }
const lm = new LoggingMap();
function run() {
  const r = [m.set('b', 2).set('c', 3) === m, m.delete('a'), m.delete('zz'), s.add(2).add(2).add(3).size, s.delete(1), s.delete(9)];
  r.push(wm.set(key, 1) === wm, ws.add(key) === ws, wm.delete(key), ws.delete(key), lm.set('x', 1).set('y', 2).get('x'), lm.delete('x'));
  const copy = new Map(m); m.clear(); s.clear();
  r.push(copy.size, m.size, s.size, [...lm]);
  return r;
}
function state() { return { m, s, lm, log }; }`,
  },
  {
    name: 'Object.assign/defineProperty/defineProperties/Reflect.set/deleteProperty',
    src: `
const log = [];
const target = { set t(v) { log.push('target setter ' + v); } };
const src = { a: 1, get g() { log.push('source getter'); return 2; }, [Symbol.for('s')]: 3 };
Object.defineProperty(src, 'hidden', { value: 4, enumerable: false });
const frozen = Object.freeze({});
function attempt(label, fn) { try { log.push(label + ' ' + String(fn())); } catch (e) { log.push(label + ' ' + e.constructor.name + ': ' + e.message); } }
function run() {
  attempt('assign', () => Object.assign(target, src, null, undefined, 'xy', { t: 5 }) === target);
  attempt('define', () => Object.defineProperty(target, 'd', { value: 1, enumerable: true }) === target);
  attempt('defineProperties', () => Object.keys(Object.defineProperties(target, { e: { value: 2, enumerable: true }, f: { get() { return 3; } } })));
  attempt('Reflect.set', () => Reflect.set(target, 'r', 6));
  attempt('Reflect.set receiver', () => { const recv = {}; const ok = Reflect.set(target, 'rr', 7, recv); return ok + ' ' + recv.rr; });
  attempt('Reflect.defineProperty frozen', () => Reflect.defineProperty(frozen, 'x', { value: 1 }));
  attempt('defineProperty frozen', () => Object.defineProperty(frozen, 'x', { value: 1 }));
  attempt('assign frozen', () => Object.assign(frozen, { x: 1 }));
  attempt('Reflect.deleteProperty', () => Reflect.deleteProperty(target, 'a'));
  attempt('defineProperty non-object', () => Object.defineProperty(1, 'x', {}));
  return target;
}
function state() { return { log, target }; }`,
  },
  {
    name: 'shadowed Object/Reflect/Map bindings are plain user code',
    src: `
const shared = {};
function run() {
  const Object = { assign(t, s) { return 'fake assign'; }, defineProperty() { return 'fake define'; } };
  const Reflect = { set() { return 'fake set'; } };
  return [Object.assign(shared, { a: 1 }), Object.defineProperty(shared, 'b', {}), Reflect.set(shared, 'c', 1), globalThis.Object.keys(shared)];
}
function state() { return { shared }; }`,
  },
  // --- control flow bodies -----------------------------------------------------------------
  {
    name: 'labelled statements and single-statement if/for/while/do bodies',
    src: `
const shared = { n: 0, hits: [], a: 0, b: 0 };
let count = 0;
function run() {
  outer: for (let i = 0; i < 3; i++) for (let j = 0; j < 3; j++) { if (j > i) continue outer; shared.n++; }
  if (count === 0) shared.a = 1; else shared.b = 2;
  if (count) shared.a = 99; else shared.b = 3;
  for (let i = 0; i < 3; i++) shared.hits.push(i);
  for (const k of ['x', 'y']) shared[k] = k;
  for (const k in { p: 1 }) shared[k] = 'in';
  while (count < 3) count++;
  do count += 10; while (count < 20);
  lbl: shared.labelled = true;
  if (shared.a) lbl2: count--;
  return count;
}
function state() { return { shared, count }; }`,
  },
  {
    name: 'conditional, comma and chained assignment expressions',
    src: `
let a, b, c;
const o = {}, p = {};
function run() {
  a = b = o.x = p['y'] = 5;
  const r1 = (o.z = 1, o.z += 1, o.z);
  const r2 = a > 1 ? (o.t = 't') : (o.f = 'f');
  c = (a++, b--, a + b);
  const r3 = (o.q = o.q || []).push(1);
  return [r1, r2, r3, o.x += 'x', (p.y *= 2)];
}
function state() { return { a, b, c, o, p }; }`,
  },
  // --- closures ------------------------------------------------------------------------------
  {
    name: 'expression-bodied arrows writing captured variables',
    src: `
let count = 0;
const obj = {};
let a, b;
const inc = () => count++;
const set = (v) => obj.v = v;
const both = () => (a = 1, b = 2);
const lit = () => ({ n: count++ });
const asyncInc = async () => count += await 1;
const curried = (x) => () => x++;
const parenBody = (x) => ((() => { x += 10; })(), x);
const defaulted = (x, g = () => x++) => (g(), x);
function fnDefault(x, g = () => { x += 5; }) { g(); return x; }
let holder;
function setup() { holder = (y) => () => y++; }
async function run() {
  const c1 = curried(5);
  setup();
  const h = holder(1);
  return [inc(), inc(), set(7), both(), lit(), await asyncInc(), c1(), c1(), parenBody(1), defaulted(1), fnDefault(1), h(), h()];
}
function state() { return { count, obj, a, b }; }`,
  },
  {
    name: 'closures in loops: per-iteration let vs shared var',
    src: `
const fns = [];
const shared = { out: [] };
function run() {
  for (let i = 0; i < 3; i++) fns.push(() => i++);
  for (var j = 0; j < 3; j++) fns.push(() => j++);
  for (const k of [10, 20]) { let local = k; fns.push(() => (local += 1)); }
  shared.out = fns.map((f) => f()).concat(fns.map((f) => f()));
  return j;
}
function state() { return { shared }; }`,
  },
  {
    name: 'TDZ write through a closure before initialization; const reassignment',
    src: `
const log = [];
function early() { later = 1; }
function constWrite() { fixed = 2; }
try { early(); } catch (e) { log.push('early ' + e.constructor.name + ': ' + e.message); }
let later = 0;
const fixed = 1;
function run() { try { constWrite(); } catch (e) { log.push('const ' + e.constructor.name + ': ' + e.message); } early(); return [later, fixed]; }
function state() { return { log }; }`,
  },
  {
    name: 'named function expression binding is read-only (sloppy ignore, strict throw)',
    src: `
const out = {};
const f = function self() { (() => { self = 1; })(); return typeof self; };
const g = function self2() { 'use strict'; try { (() => { self2 = 1; })(); } catch (e) { return e.constructor.name + ': ' + e.message; } };
class Cls { static m() { try { (() => { Cls = 1; })(); } catch (e) { return e.message; } } }
function run() { out.f = f(); out.g = g(); out.c = Cls.m(); return out; }
function state() { return { out }; }`,
  },
  {
    name: 'shadowing: inner variable with the same name is a different location',
    src: `
let x = 'outer';
const obj = { x: 0 };
function run() {
  const r = [];
  { let x = 'block'; (() => { x = 'block2'; })(); r.push(x); }
  (function (x) { (() => { x = 'param2'; })(); r.push(x); })('param');
  try { throw 'err'; } catch (x) { (() => { x = 'catch2'; })(); r.push(x); }
  (() => { x = 'outer2'; })();
  r.push(x);
  return r;
}
function state() { return { x }; }`,
  },
  {
    name: 'function declarations hoisted, called before their scope object line runs',
    src: `
const out = [];
function outer() {
  out.push(inner());
  let v = 1;
  function inner() { try { return v; } catch (e) { return e.constructor.name; } }
  const bump = () => { v++; };
  bump();
  out.push(inner());
  return v;
}
function run() { return outer(); }
function state() { return { out }; }`,
  },
  // --- miscellaneous ---------------------------------------------------------------------------
  {
    name: 'arrays: length writes, index writes, typed arrays, negative and huge indices',
    src: `
const shared = { arr: [1, 2, 3, 4], ta: new Uint8Array(2), f32: new Float32Array(1) };
function run() {
  shared.arr.length = 2; shared.arr[5] = 'x'; shared.arr[-1] = 'neg'; shared.arr['01'] = 'str';
  shared.ta[0] = 300; shared.ta[1] += 257; shared.ta[5] = 1; shared.f32[0] = 0.1;
  try { shared.arr.length = -1; } catch (e) { shared.err = e.constructor.name + ': ' + e.message; }
  delete shared.arr[0];
  return [shared.arr.length, Object.keys(shared.arr), Array.from(shared.ta)];
}
function state() { return { shared }; }`,
  },
  {
    name: '__proto__ writes and symbol-keyed writes',
    src: `
const proto = { inherited: 1 };
const o = {};
const s = Symbol('k');
const shared = { [s]: 0 };
function run() { o.__proto__ = proto; o['__proto__'] = proto; shared[s] += 1; shared[Symbol.iterator] = null; return [o.inherited, Object.getPrototypeOf(o) === proto, Object.keys(o)]; }
function state() { return { o, shared, sv: shared[s] }; }`,
  },
  {
    name: 'module.exports and exports writes (CommonJS)',
    src: `
exports.a = 1;
exports['b'] = 2;
module.exports.c = 3;
function run() { exports.d = 4; return Object.keys(exports); }
function state() { return {}; }`,
  },
  {
    name: 'catch parameter, finally, and writes in try blocks',
    src: `
const shared = { n: 0 };
function run() {
  try { shared.n = 1; throw Object.assign(new Error('boom'), { code: 1 }); }
  catch (e) { e.code++; shared.code = e.code; shared.n++; }
  finally { shared.fin = true; }
  try { return shared.n; } finally { shared.n = 100; }
}
function state() { return { shared }; }`,
  },
  {
    name: 'sloppy-mode implicit globals and delete of identifiers',
    src: `
const out = {};
function run() {
  __srsDiffImplicit = 1;
  out.created = globalThis.__srsDiffImplicit;
  out.deleted = delete __srsDiffImplicit;
  out.after = typeof __srsDiffImplicit;
  var local = 1;
  out.deleteLocal = delete local;
  return out;
}
function state() { return { out }; }`,
  },
  {
    name: 'getters invoked while building the object expression of a write',
    src: `
const log = [];
const inner = { v: 0 };
const outer = { get inner() { log.push('get inner'); return inner; } };
const chain = { get a() { log.push('get a'); return { get b() { log.push('get b'); return inner; } }; } };
function run() { outer.inner.v = 1; outer.inner.v += 1; outer.inner['w'] = 2; chain.a.b.z = 3; delete outer.inner.w; outer.inner.v++; return inner; }
function state() { return { log, inner }; }`,
  },
  // --- receivers and keys the rewrite must evaluate exactly once ---------------------------------
  {
    name: 'complex receivers: sequence, call, new, parenthesized, comments before [',
    src: `
const log = [];
const a = { v: 0 }, b = { v: 0 };
const pick = (o, tag) => { log.push('pick ' + tag); return o; };
const key = (k) => { log.push('key ' + k); return k; };
class Box { constructor() { log.push('new Box'); } }
function run() {
  (log.push('seq'), a).x = 1;
  (pick(a, 1) || b).y = 2;
  (a, b)[key('z')] = 3;
  (pick(b, 2))[key('w')] += 1;
  pick(a, 3) /* [ not this one */ [key('c')] = 4;
  pick(a, 4)[(key('p'), 'q')] = 5;
  new Box().tag = 'boxed';
  (function () { return b; })().fn = 6;
  (0, pick)(a, 5).list = [];
  pick(a, 6).list.push(pick(b, 7).v, ...[1, 2]);
  (pick(a, 8), b).list = (pick(a, 9)).list;
  return [a, b];
}
function state() { return { log, a, b }; }`,
  },
  {
    name: 'long chains of mutator calls and nested computed writes stay linear',
    src: `
const m = new Map();
const s = new Set();
const t = {};
const fns = [];
function run() {
  m.set(1, 1).set(2, 2).set(3, 3).set(4, 4).set(5, 5).set(6, 6).set(7, 7).set(8, 8).set(9, 9).set(10, 10).set(11, 11).set(12, 12).set(13, 13).set(14, 14).set(15, 15).set(16, 16).set(17, 17).set(18, 18).set(19, 19).set(20, 20).set(21, 21).set(22, 22).set(23, 23).set(24, 24).set(25, 25).set(26, 26).set(27, 27).set(28, 28).set(29, 29).set(30, 30);
  s.add(() => 1).add(() => 2).add(() => 3).add(() => 4).add(() => 5).add(() => 6).add(() => 7).add(() => 8).add(() => 9).add(() => 10).add(() => 11).add(() => 12).add(() => 13).add(() => 14).add(() => 15).add(() => 16).add(() => 17).add(() => 18).add(() => 19).add(() => 20);
  t[t[t[t[t[t[t[t[t[t['a'] = 'b'] = 'c'] = 'd'] = 'e'] = 'f'] = 'g'] = 'h'] = 'i'] = 'j'] = 'k';
  fns.push(function () { let x = 0; return () => { x++; fns.push(() => { x += 10; return x; }); return x; }; });
  return [m.size, [...s].map((f) => f()), fns[0]()(), fns[1]()];
}
function state() { return { m, t, n: fns.length }; }`,
  },
  {
    name: 'module declares its own Symbol (lodash-style) and shadows global/globalThis in functions',
    src: `
var root = typeof global == 'object' && global && global.Object === Object && global;
var Symbol = root.Symbol;
var symIterator = Symbol ? Symbol.iterator : undefined;
const shared = { n: 0 };
function run() { shared.n++; shared.sym = typeof symIterator; const globalThis = 'shadowed'; shared.g = globalThis; return shared; }
function state() { return { shared }; }`,
  },
  {
    name: 'module-level let Symbol / const globalThis (TDZ at the prologue would throw)',
    src: `
const shared = {};
function run() { shared.a = Symbol.description; shared.b = typeof globalThis.x; return shared; }
let Symbol = { description: 'mine' };
const globalThis = { x: 1 };
function state() { return { shared }; }`,
  },
  {
    name: 'TypeScript and Babel output patterns',
    src: `"use strict";
var __createBinding = (this && this.__createBinding) || (Object.create ? (function(o, m, k, k2) {
    if (k2 === undefined) k2 = k;
    var desc = Object.getOwnPropertyDescriptor(m, k);
    if (!desc || ("get" in desc ? !m.__esModule : desc.writable || desc.configurable)) {
      desc = { enumerable: true, get: function() { return m[k]; } };
    }
    Object.defineProperty(o, k2, desc);
}) : (function(o, m, k, k2) {
    if (k2 === undefined) k2 = k;
    o[k2] = m[k];
}));
Object.defineProperty(exports, "__esModule", { value: true });
exports.counter = exports.Color = void 0;
var Color;
(function (Color) {
    Color[Color["Red"] = 0] = "Red";
    Color[Color["Green"] = 1] = "Green";
})(Color || (exports.Color = Color = {}));
exports.counter = 0;
function _defineProperty(obj, key, value) { if (key in obj) { Object.defineProperty(obj, key, { value: value, enumerable: true, configurable: true, writable: true }); } else { obj[key] = value; } return obj; }
const shared = {};
const lib = { x: 1 };
function run() {
  var _a, _b;
  (_a = shared.cache) !== null && _a !== void 0 ? _a : (shared.cache = {});
  (_b = shared.list) !== null && _b !== void 0 ? _b : (shared.list = []);
  shared.list.push((0, String)(exports.counter++));
  _defineProperty(shared, 'defined', 1);
  __createBinding(shared, lib, 'x', 'reexported');
  return [Color, exports.counter, shared.reexported];
}
function state() { return { shared, keys: Object.keys(exports) }; }`,
  },
  {
    name: 'wrapped arrow bodies: object literal, async, nested wrap, this and arguments',
    src: `
const shared = {};
function outer() {
  const mk = (n) => ({ inc: () => n++, get: () => n });
  const asyncBody = async (x) => (await null, (() => { x *= 2; })(), x);
  const nested = (a) => (b) => (() => { a += b; b += 1; })() || [a, b];
  const self = () => (((v) => () => { v++; })(0)(), this);
  const args = () => ((() => { shared.argsSeen = arguments.length; })(), arguments[0]);
  const c = mk(5); c.inc();
  return Promise.all([c.get(), asyncBody(4), nested(1)(2), self() === shared, args()]);
}
function run() { return outer.call(shared, 'first', 'second'); }
function state() { return { shared }; }`,
  },
  // --- ES modules ------------------------------------------------------------------------------
  {
    name: 'ESM: live export binding written through a function, top-level await',
    esm: true,
    src: `
export let live = 0;
export function bump() { live++; live += 10; return live; }
const shared = { v: await Promise.resolve(1) };
shared.tla = await new Promise((r) => setImmediate(() => r('tla')));
function run() { bump(); shared.after = live; return [live, typeof this]; }
function state() { return { live, shared }; }`,
  },
  {
    name: 'ESM: strict by default (frozen write throws, this undefined)',
    esm: true,
    src: `
const f = Object.freeze({ a: 1 });
const log = [];
function run() { log.push(typeof this); try { f.a = 2; } catch (e) { log.push(e.message); } try { delete f.a; } catch (e) { log.push(e.message); } undeclaredEsm = 1; }
function state() { return { log, f }; }`,
  },
  {
    name: 'ESM: import.meta and namespace writes',
    esm: true,
    src: `
import * as ns from 'node:path';
const log = [];
function run() { import.meta.extra = 1; log.push(typeof import.meta.url, import.meta.extra); try { ns.join = null; } catch (e) { log.push(e.constructor.name + ': ' + e.message); } }
function state() { return { log }; }`,
  },
  {
    name: 'ESM: class with private state, async writes, Map cache',
    esm: true,
    src: `
const cache = new Map();
let hits = 0;
class Cache { #size = 0; get(k) { if (cache.has(k)) { hits++; return cache.get(k); } this.#size++; cache.set(k, k.length); return this.#size; } }
const c = new Cache();
async function run() { const r = []; for (const k of ['a', 'bb', 'a']) { await null; r.push(c.get(k)); } return r; }
function state() { return { cache, hits }; }`,
  },
];
