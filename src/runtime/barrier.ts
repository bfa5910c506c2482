import { storage } from './context';
import { arrayWrite, mapWrite, propertyWrite, RequestRecoveredError, setWrite, variableWrite, WriteKind } from './journal';

/**
 * The small, stable API that instrumented code calls (see instrument/). Every
 * rewritten write site first tests `a`, so that with no request open a write
 * costs one property load and a branch. The pre-write hooks return their
 * object, so the write itself still happens at the original site with its
 * original semantics (strict or sloppy, setters, proxies, error messages and
 * stack traces).
 */

const MapProto = Map.prototype;
const SetProto = Set.prototype;
const ArrayProto = Array.prototype;
const MapKeys = MapProto.keys;
const SetValues = SetProto.values;
const ownKeys = Reflect.ownKeys;
const propertyIsEnumerable = Object.prototype.propertyIsEnumerable;
const ReflectApply = Reflect.apply;
const captureStackTrace = Error.captureStackTrace;

type Journaler = (recv: any, args: unknown[]) => void;

const ownEnumerableKeys = (source: unknown): PropertyKey[] =>
  source == null ? [] : ownKeys(Object(source)).filter((k) => propertyIsEnumerable.call(source, k));

/** Built-in mutators, by function identity: a user method that happens to be called `push` is not one. */
const journalers = new Map<Function, Journaler>([
  [MapProto.set, (m, a) => mapWrite(m, a[0], WriteKind.Assign)],
  [MapProto.delete, (m, a) => mapWrite(m, a[0], WriteKind.Delete)],
  [MapProto.clear, (m) => { for (const k of [...MapKeys.call(m)]) mapWrite(m, k, WriteKind.Delete); }],
  [SetProto.add, (s, a) => setWrite(s, a[0], WriteKind.Assign)],
  [SetProto.delete, (s, a) => setWrite(s, a[0], WriteKind.Delete)],
  [SetProto.clear, (s) => { for (const v of [...SetValues.call(s)]) setWrite(s, v, WriteKind.Delete); }],
  [ArrayProto.push, (arr, a) => arrayWrite(arr, WriteKind.Append, a.length)],
  ...['pop', 'shift', 'unshift', 'splice', 'sort', 'reverse', 'fill', 'copyWithin'].map(
    (name) => [(ArrayProto as any)[name] as Function, (arr: unknown[]) => arrayWrite(arr, WriteKind.Mutate, 0)] as [Function, Journaler],
  ),
  [Object.assign, (_o, a) => { for (const src of a.slice(1)) for (const k of ownEnumerableKeys(src)) propertyWrite(a[0], k, WriteKind.Assign); }],
  [Object.defineProperty, (_o, a) => propertyWrite(a[0], a[1] as PropertyKey, WriteKind.Assign)],
  [Reflect.defineProperty, (_o, a) => propertyWrite(a[0], a[1] as PropertyKey, WriteKind.Assign)],
  [Object.defineProperties, (_o, a) => { for (const k of ownEnumerableKeys(a[1])) propertyWrite(a[0], k, WriteKind.Assign); }],
  [Reflect.set, (_o, a) => propertyWrite(a[0], a[1] as PropertyKey, WriteKind.Assign)],
  [Reflect.deleteProperty, (_o, a) => propertyWrite(a[0], a[1] as PropertyKey, WriteKind.Delete)],
]);

function toKey(key: unknown): PropertyKey {
  return typeof key === 'symbol' ? key : typeof key === 'number' ? key : String(key);
}

export interface Barrier {
  /** Some request is open: writes must be journaled. */
  a: boolean;
  /** The property key of the last computed member write (see jc). */
  k: PropertyKey;
  j<T>(obj: T, key: PropertyKey, kind: WriteKind): T;
  jc<T>(obj: T, key: unknown, kind: WriteKind): T;
  jv(scope: object, name: string, get: () => unknown, set: (v: unknown) => void, kind: WriteKind): boolean;
  sc(): object;
  sc0(): object;
  call(recv: any, name: string, text: string, ...args: unknown[]): unknown;
}

export const barrier: Barrier = {
  a: false,
  k: '',
  /** Before `obj.key <op>= …`, `obj.key++`, `delete obj.key`. */
  j(obj, key, kind) {
    if (barrier.a) propertyWrite(obj, key, kind);
    return obj;
  },
  /** Before `obj[key] <op>= …`: the key is converted once and read back as `runtime.k`. */
  jc(obj, key, kind) {
    const k = (barrier.k = toKey(key));
    if (barrier.a) propertyWrite(obj, k, kind);
    return obj;
  },
  /** Before a write to a module-scope or captured variable. */
  jv(scope, name, get, set, kind) {
    variableWrite(scope, name, get, set, kind);
    return false;
  },
  /** The scope object of a function invocation, created while a request may be open. */
  sc() {
    return { ctx: storage.getStore() };
  },
  /** The scope object of a long-lived scope (the module, or one created before any request). */
  sc0() {
    return { ctx: null };
  },
  /** `recv.name(...args)` where name is a mutator's name, while a request is open. */
  call(recv, name, text, ...args) {
    if (recv == null) throw siteError(`Cannot read properties of ${recv} (reading '${name}')`, barrier.call);
    const fn = recv[name];
    if (typeof fn !== 'function') throw siteError(`${text} is not a function`, barrier.call);
    const journal = journalers.get(fn);
    if (journal === undefined) return ReflectApply(fn, recv, args);
    try {
      if (barrier.a) journal(recv, args);
    } catch (err) {
      if (err instanceof RequestRecoveredError) throw err;
      // otherwise an exotic receiver the journal cannot read: the call below decides
    }
    try {
      return ReflectApply(fn, recv, args);
    } catch (err) {
      // A built-in refused (e.g. an incompatible receiver): report it from the user's call site.
      if (err instanceof Error) captureStackTrace(err, barrier.call);
      throw err;
    }
  },
};

function siteError(message: string, site: Function): TypeError {
  const err = new TypeError(message);
  captureStackTrace(err, site);
  return err;
}

/** Where instrumented modules find the barrier: a global symbol, set once at install. */
export const BARRIER_KEY = Symbol.for('srs.barrier');
(globalThis as Record<symbol, unknown>)[BARRIER_KEY] = barrier;
