import { storage } from './context';
import { arrayWrite, mapWrite, propertyWrite, RequestRecoveredError, setWrite, variableWrite, WriteKind } from './journal';

/**
 * The small, stable API that instrumented code calls (see instrument/). Every
 * rewritten write site first tests `a`, so that with no request open a write
 * costs one property load and a branch. The pre-write hooks return their
 * object, so the write itself still happens at the original site with its
 * original semantics (strict or sloppy, setters, proxies, error messages and
 * stack traces). Built-in mutators (push, Map#set, Object.assign, ...) are
 * journaled through the receiver `m` hands back.
 */

const MapProto = Map.prototype;
const SetProto = Set.prototype;
const ArrayProto = Array.prototype;
const MapKeys = MapProto.keys;
const SetValues = SetProto.values;
const ownKeys = Reflect.ownKeys;
const propertyIsEnumerable = Object.prototype.propertyIsEnumerable;
const ReflectApply = Reflect.apply;
const ArraySlice = Array.prototype.slice;
const ObjectDefineProperty = Object.defineProperty;
const SymbolToPrimitive = Symbol.toPrimitive;
const captureStackTrace = Error.captureStackTrace;
const hasOwn = Object.hasOwn;

/** kind: what the instrumenter found the call to be (Map#set of a value computed from the same entry: a Delta or an Update). */
type Journaler = (recv: any, args: ArrayLike<unknown>, kind: WriteKind) => void;

const ownEnumerableKeys = (source: unknown): PropertyKey[] =>
  source == null ? [] : ownKeys(Object(source)).filter((k) => propertyIsEnumerable.call(source, k));

/** splice(0, n >= length, ...items): every element is replaced. */
const replacesAll = (arr: unknown[], a: ArrayLike<unknown>) => Number(a[0]) <= 0 && a.length >= 2 && Number(a[1]) >= arr.length;

/**
 * How many elements splice(0, n) with nothing inserted takes off the front
 * (a bounded list trimmed to its newest entries), or -1 for any other
 * splice. Only plain numbers are read here: converting anything else runs
 * the program's code, which splice itself will run again.
 */
function frontRemoval(arr: unknown[], a: ArrayLike<unknown>): number {
  if (a.length === 0 || a.length > 2 || a[0] !== 0) return -1;
  if (a.length === 1) return arr.length;
  const n = a[1];
  if (typeof n !== 'number') return -1;
  return n > 0 ? Math.min(Math.trunc(n), arr.length) : 0;
}

function spliceWrite(arr: unknown[], a: ArrayLike<unknown>): void {
  const front = frontRemoval(arr, a);
  if (front >= 0 && front < arr.length) return arrayWrite(arr, WriteKind.Shift, front);
  // Everything taken out (or replaced): a clear, which cleanses what was there.
  const all = replacesAll(arr, a) || (front >= 0 && arr.length > 0);
  arrayWrite(arr, all ? WriteKind.Replace : WriteKind.Mutate, 0);
}

/** Built-in mutators, by function identity: a user method that happens to be called `push` is not one. */
const journalers = new Map<Function, Journaler>([
  [MapProto.set, (m, a, kind) => mapWrite(m, a[0], kind)],
  [MapProto.delete, (m, a) => mapWrite(m, a[0], WriteKind.Delete)],
  [MapProto.clear, (m) => { for (const k of [...MapKeys.call(m)]) mapWrite(m, k, WriteKind.Delete); }],
  [SetProto.add, (s, a) => setWrite(s, a[0], WriteKind.Assign)],
  [SetProto.delete, (s, a) => setWrite(s, a[0], WriteKind.Delete)],
  [SetProto.clear, (s) => { for (const v of [...SetValues.call(s)]) setWrite(s, v, WriteKind.Delete); }],
  [ArrayProto.push, (arr, a) => arrayWrite(arr, WriteKind.Append, a.length, ArraySlice.call(a))],
  [ArrayProto.splice, spliceWrite],
  [ArrayProto.shift, (arr) => arrayWrite(arr, WriteKind.Shift, arr.length > 0 ? 1 : 0)],
  ...['pop', 'unshift', 'sort', 'reverse', 'fill', 'copyWithin'].map(
    (name) => [(ArrayProto as any)[name] as Function, (arr: unknown[]) => arrayWrite(arr, WriteKind.Mutate, 0)] as [Function, Journaler],
  ),
  [Object.assign, (_o, a) => { for (let i = 1; i < a.length; i++) for (const k of ownEnumerableKeys(a[i])) propertyWrite(a[0], k, WriteKind.Assign); }],
  [Object.defineProperty, (_o, a) => propertyWrite(a[0], a[1] as PropertyKey, WriteKind.Assign)],
  [Reflect.defineProperty, (_o, a) => propertyWrite(a[0], a[1] as PropertyKey, WriteKind.Assign)],
  [Object.defineProperties, (_o, a) => { for (const k of ownEnumerableKeys(a[1])) propertyWrite(a[0], k, WriteKind.Assign); }],
  [Reflect.set, (_o, a) => propertyWrite(a[0], a[1] as PropertyKey, WriteKind.Assign)],
  [Reflect.deleteProperty, (_o, a) => propertyWrite(a[0], a[1] as PropertyKey, WriteKind.Delete)],
]);

function toKey(key: unknown): PropertyKey {
  return typeof key === 'symbol' ? key : typeof key === 'number' ? key : String(key);
}

/** ToPropertyKey exactly as the engine does it (a Symbol.toPrimitive may return a symbol). */
function toPropertyKey(key: unknown): PropertyKey {
  return ownKeys({ [key as PropertyKey]: 0 })[0]!;
}

/**
 * The key to put in a computed write while a request is open. A primitive's
 * conversion cannot be observed: it is converted and journaled now. An
 * object's conversion runs user code (toString, valueOf, Symbol.toPrimitive)
 * that the engine calls after the right-hand side, once per access (twice for
 * `+=`, none when the base is null): it gets a stand-in the engine converts at
 * that very moment, which converts the real key and journals it then.
 */
function requestKey(obj: unknown, key: unknown, kind: WriteKind): unknown {
  // The write throws (its message shows the key as the engine sees it): nothing to journal.
  if (obj === null || obj === undefined) return key;
  if ((typeof key !== 'object' || key === null) && typeof key !== 'function') {
    const k = toKey(key);
    propertyWrite(obj, k, kind);
    return k;
  }
  return {
    [SymbolToPrimitive]() {
      const k = toPropertyKey(key);
      if (barrier.a) propertyWrite(obj, k, kind);
      return k;
    },
  };
}

/**
 * What `(R.a ? R.m(o, name, text) : o).name(...)` calls while a request is
 * open: its method reads the receiver's method once, as the original call
 * does, and journals the call when the method is a built-in mutator. A class
 * (one shape, allocated inline) whose prototype gets one method per mutator
 * name; the methods forward `arguments` (no rest array).
 */
class MutatorCall {
  constructor(
    readonly r: unknown, // receiver
    readonly f: Function | undefined, // its method, undefined when not callable
    readonly t: string, // the callee as V8 prints it, for "… is not a function"
    readonly k: WriteKind, // the write's kind, as the instrumenter saw it
  ) {}
}

const callProto = MutatorCall.prototype as unknown as Record<string, Function | undefined>;

function callMethod(name: string): (this: MutatorCall) => unknown {
  const method = function (this: MutatorCall): unknown {
    const fn = this.f;
    if (fn === undefined) throw siteError(`${this.t} is not a function`, method);
    if (barrier.a) {
      const journal = journalers.get(fn);
      if (journal !== undefined) {
        try {
          journal(this.r, arguments, this.k);
        } catch (err) {
          if (err instanceof RequestRecoveredError) throw err;
          // otherwise an exotic receiver the journal cannot read: the call below decides
        }
      }
    }
    return ReflectApply(fn, this.r, arguments);
  };
  ObjectDefineProperty(method, 'name', { value: name });
  return method;
}

export interface Barrier {
  /** Some request is open: writes must be journaled. */
  a: boolean;
  /** The property key of the last computed member write (see jc, kf). */
  k: unknown;
  j<T>(obj: T, key: PropertyKey, kind: WriteKind): T;
  jc<T>(obj: T, key: unknown, kind: WriteKind): T;
  kf<T>(obj: T, key: unknown, kind: WriteKind): T;
  jv(scope: object, name: string, get: () => unknown, set: (v: unknown) => void, kind: WriteKind): boolean;
  vs(scope: object): boolean;
  sc(): object;
  sc0(): object;
  m(recv: unknown, name: string, text: string, kind?: WriteKind): unknown;
}

export const barrier: Barrier = {
  a: false,
  k: '',
  /** Before `obj.key <op>= …`, `obj.key++`, `delete obj.key`. */
  j(obj, key, kind) {
    if (barrier.a) propertyWrite(obj, key, kind);
    return obj;
  },
  /** Before `obj[key] <op>= …` (key an identifier or a literal), while a request is open: the slot reads `k`. */
  jc(obj, key, kind) {
    barrier.k = barrier.a ? requestKey(obj, key, kind) : key;
    return obj;
  },
  /** Before `obj[<expression>] <op>= …`, with or without a request: the slot reads `k`. */
  kf(obj, key, kind) {
    barrier.k = barrier.a ? requestKey(obj, key, kind) : key;
    return obj;
  },
  /** Before a write to a module-scope or captured variable. */
  jv(scope, name, get, set, kind) {
    try {
      get();
    } catch {
      return false; // not initialized yet (TDZ): the write itself throws, from its own place
    }
    variableWrite(scope, name, get, set, kind);
    return false;
  },
  /**
   * Before jv: whether the scope may be seen by others. One the current
   * request created is fresh (nobody else can see it yet): its variables
   * are not journaled, and the write site skips making jv's closures.
   */
  vs(scope) {
    return (scope as { ctx: unknown }).ctx !== storage.getStore();
  },
  /**
   * The scope object of a function invocation, created while a request may
   * be open; ctx null outside any request, so that vs never takes it for
   * fresh there (a write outside any request is logged where a request watches).
   */
  sc() {
    return { ctx: storage.getStore() ?? null };
  },
  /** The scope object of a long-lived scope (the module, or one created before any request). */
  sc0() {
    return { ctx: null };
  },
  /** The receiver of `recv.name(...)`, where name is a mutator's name, while a request is open. */
  m(recv, name, text, kind = WriteKind.Assign) {
    // null/undefined: the original member access throws, from its own place.
    if (recv === null || recv === undefined) return recv;
    const fn = (recv as Record<string, unknown>)[name];
    if (!hasOwn(callProto, name)) callProto[name] = callMethod(name);
    return new MutatorCall(recv, typeof fn === 'function' ? fn : undefined, text, kind);
  },
};

/** An error reported from the user's call site, as if the engine had thrown it there. */
function siteError(message: string, site: Function): TypeError {
  const err = new TypeError(message);
  captureStackTrace(err, site);
  return err;
}

/** Where instrumented modules find the barrier: a global symbol, set once at install. */
export const BARRIER_KEY = Symbol.for('srs.barrier');
(globalThis as Record<symbol, unknown>)[BARRIER_KEY] = barrier;
