// Built-ins captured when SRS loads. SRS runs beside code that may be
// corrupting shared state (that is why it recovers), so the recovery path must
// not depend on globals or prototypes the application can overwrite.

const uncurry = <A extends unknown[], R>(fn: (...args: A) => R) =>
  Function.prototype.call.bind(fn) as unknown as (self: unknown, ...args: A) => R;

export const ReflectApply = Reflect.apply;
/** fn as a function taking its receiver first, for hot forwarding paths (no arguments object, no array). */
export const FunctionPrototypeCall = <A extends unknown[], R>(fn: (...args: A) => R) => uncurry(fn);
export const ObjectDefineProperty = Object.defineProperty;
export const ObjectFreeze = Object.freeze;
export const JSONStringify = JSON.stringify;
export const DateNow = Date.now;
export const DateToISOString = uncurry(Date.prototype.toISOString);
export const ArrayPrototypePush = uncurry(Array.prototype.push) as (self: unknown[], ...items: unknown[]) => number;
export const ArrayPrototypeIndexOf = uncurry(Array.prototype.indexOf) as (self: unknown[], item: unknown) => number;
export const StringPrototypeSlice = uncurry(String.prototype.slice) as (self: string, start: number, end?: number) => string;
export const SafeWeakMap = WeakMap;
export const WeakMapPrototypeGet = uncurry(WeakMap.prototype.get) as (self: WeakMap<object, unknown>, key: object) => unknown;
export const WeakMapPrototypeSet = uncurry(WeakMap.prototype.set) as (self: WeakMap<object, unknown>, key: object, value: unknown) => WeakMap<object, unknown>;
export const SafeSet = Set;
export const SetPrototypeAdd = uncurry(Set.prototype.add) as (self: Set<unknown>, value: unknown) => Set<unknown>;
export const SetPrototypeDelete = uncurry(Set.prototype.delete) as (self: Set<unknown>, value: unknown) => boolean;
export const hrtimeBigint = process.hrtime.bigint;
export const processExit = process.exit.bind(process);
export const processMemoryUsage = process.memoryUsage.bind(process);
// Captured before resources.ts wraps the schedulers: SRS's own timers belong to no request.
export const setTimeoutOrig = setTimeout;
export const clearTimeoutOrig = clearTimeout;
// Captured before resources.ts records listeners: SRS's own listeners belong to no request.
export const EventEmitterPrototypeOn = (require('node:events') as typeof import('node:events')).EventEmitter.prototype.on;
export const setImmediateOrig = setImmediate;
