import { AsyncLocalStorage, AsyncResource } from 'node:async_hooks';
import { ReflectApply } from './primordials';

const queueMicrotaskOrig = queueMicrotask;

/** What the recovery event says about the request. */
export interface RequestInfo {
  id: number;
  kind: string; // 'http' | 'upgrade' | …
  method?: string;
  url?: string;
  remoteAddress?: string;
}

export const enum ContextState {
  Live = 0,
  /** Crashed and recovered: its callbacks must not run user code again. */
  Dead = 1,
}

/**
 * One unit of work (an HTTP request, an upgraded connection). It follows the
 * request through every asynchronous continuation via AsyncLocalStorage and
 * owns the resources the request opened (see resources.ts). Adapters
 * subclass it to say how their unit is described and taken out of service.
 */
export abstract class RequestContext {
  state: ContextState = ContextState.Live;
  /** Follow-up errors swallowed after the crash. */
  suppressed = 0;
  /**
   * Resources opened while this context was current, flattened as
   * [kind, target, event, listener] quadruples: no allocation per record.
   */
  resources: unknown[] | undefined = undefined;
  /** Its journal (journal.ts): two slots per long-lived location it wrote. */
  journal: unknown[] | undefined = undefined;
  /** A long journal's index, location -> its slot in the journal (journal.ts). */
  journalIndex: Map<unknown, unknown> | undefined = undefined;
  /** Record count at which resources.ts next prunes spent entries. */
  pruneAt = 64;
  readonly id = ++lastId;
  /** Its response (or connection) is over; its journal waits for its last callbacks. */
  ended = false;
  /**
   * An upgraded connection's frame, captured when it opened (see enter):
   * re-entering it through this costs no allocation, where storage.run
   * builds two frames.
   */
  scope: AsyncResource | undefined = undefined;

  /** What the recovery event says about the unit; built only when needed. */
  abstract describe(): RequestInfo;
  /**
   * Takes the faulty unit out of service; returns what it did, for the
   * event. unwound: the crash was thrown, and may have cut short whatever
   * code of Node's was running (a rejection cuts nothing short).
   */
  abstract isolate(err: unknown, unwound: boolean): string;
}

let lastId = 0;

export const storage = new AsyncLocalStorage<RequestContext>();

export function currentContext(): RequestContext | undefined {
  return storage.getStore();
}

// --- attribution -----------------------------------------------------------
//
// AsyncLocalStorage.run restores the previous store when an exception leaves
// it, so by the time 'uncaughtException' fires the store of a synchronous
// throw is gone. Every place where SRS enters a context therefore marks what
// escapes with the context it escaped from. The mark lives in one slot until
// the next microtask: an uncaught exception reaches the process handler
// before that, while an error object caught and thrown again later (some
// libraries reuse error instances) must not keep a stale owner.

let markedError: unknown;
let markedOwner: RequestContext | undefined;
let clearQueued = false;

function clearMark(): void {
  clearQueued = false;
  markedError = undefined;
  markedOwner = undefined;
}

export function markThrown(err: unknown, ctx: RequestContext): void {
  // Nested contexts: the innermost one marked it first, and is where it was thrown.
  if (markedOwner !== undefined && Object.is(markedError, err)) return;
  markedError = err;
  markedOwner = ctx;
  if (!clearQueued) {
    clearQueued = true;
    queueMicrotaskOrig(clearMark);
  }
}

/** The context a crash belongs to, or undefined when no request owns it. */
export function ownerOf(err: unknown): RequestContext | undefined {
  if (markedOwner !== undefined && Object.is(markedError, err)) return markedOwner;
  return storage.getStore();
}

/** Calls fn in ctx; an exception escaping it is marked as ctx's and rethrown unchanged. */
export function runIn<T>(ctx: RequestContext, fn: (...args: any[]) => T, self: unknown, args: ArrayLike<unknown>): T {
  try {
    return storage.run(ctx, ReflectApply, fn, self, args) as T;
  } catch (err) {
    markThrown(err, ctx);
    throw err;
  }
}

// --- entering a context again ----------------------------------------------
//
// Node 24 keeps AsyncLocalStorage stores in an AsyncContextFrame (a Map per
// frame): storage.run copies the current frame twice, once to enter and once
// to restore. Two cheaper ways in:
//
//  - At the top of a native callback (the HTTP parser's), SRS enters with
//    enterWith, one copy, and leaves the frame as it is: Node's callback
//    scope (InternalCallbackScope) puts back the frame it found when the
//    callback returns or throws, and the callback's caller is native code.
//  - A unit entered again and again from anywhere (an upgraded connection's
//    socket events: every WebSocket message) keeps an AsyncResource made
//    when it opened, which captured its frame: runInAsyncScope switches to
//    it and back without copying. A request's socket events (its 'close',
//    'error', 'timeout') are rare and use storage.run, which keeps the
//    caller's other stores as plain node would.
//
// Node 20 (and Node 24 with --no-async-context-frame) keeps stores on async
// resources, where storage.run is a property write: it is used throughout.

const framesAreMaps = !('kResourceStore' in storage);

function openScope(ctx: RequestContext, fn: (...args: any[]) => unknown, self: unknown, args: ArrayLike<unknown>): unknown {
  ctx.scope = new AsyncResource('SRS_REQUEST');
  return ReflectApply(fn, self, args);
}

/** Opens ctx: calls fn in it and keeps a scope for entering it again cheaply. Errors as runIn. */
export function runOpening<T>(ctx: RequestContext, fn: (...args: any[]) => T, self: unknown, args: ArrayLike<unknown>): T {
  if (!framesAreMaps) return runIn(ctx, fn, self, args);
  try {
    return storage.run(ctx, openScope, ctx, fn, self, args) as T;
  } catch (err) {
    markThrown(err, ctx);
    throw err;
  }
}

/**
 * Opens ctx for a request that Node's HTTP parser delivers (its
 * headers-complete callback emitting 'request'): calls call(self, a, b, c)
 * in it, entered as at the top of a native callback (see above). Between
 * call and the callback's return Node only returns. Taken only where the
 * caller's frame holds no request and fromParser says the parser is
 * delivering this very request (a 'request' emitted by hand goes through
 * storage.run).
 */
export function openFromParser<T>(ctx: RequestContext, call: (self: unknown, a: unknown, b: unknown, c: unknown) => T, self: unknown, a: unknown, b: unknown, c: unknown, fromParser: boolean): T {
  if (!framesAreMaps || !fromParser || storage.getStore() !== undefined) return runIn(ctx, call, undefined, [self, a, b, c]);
  storage.enterWith(ctx);
  try {
    return call(self, a, b, c);
  } catch (err) {
    markThrown(err, ctx);
    throw err;
  }
}

/**
 * Calls fn in ctx from the top of a native callback of the HTTP parser (its
 * body and message-complete callbacks, which only native code calls).
 * Errors as runIn.
 */
export function enterFromParser<T>(ctx: RequestContext, fn: (...args: any[]) => T, self: unknown, args: ArrayLike<unknown>): T {
  if (!framesAreMaps) return runIn(ctx, fn, self, args);
  if (storage.getStore() !== ctx) storage.enterWith(ctx);
  try {
    return ReflectApply(fn, self, args);
  } catch (err) {
    markThrown(err, ctx);
    throw err;
  }
}

/** As runIn, through ctx's scope when it has one. */
export function enter<T>(ctx: RequestContext, fn: (...args: any[]) => T, self: unknown, args: ArrayLike<unknown>): T {
  const scope = ctx.scope;
  if (scope === undefined) return runIn(ctx, fn, self, args);
  try {
    return scope.runInAsyncScope(ReflectApply, undefined, fn, self, args) as T;
  } catch (err) {
    markThrown(err, ctx);
    throw err;
  }
}
