import { AsyncLocalStorage } from 'node:async_hooks';
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
  /** Record count at which resources.ts next prunes spent entries. */
  pruneAt = 64;
  readonly id = ++lastId;
  /** Its response (or connection) is over; its journal waits for its last callbacks. */
  ended = false;

  /** What the recovery event says about the unit; built only when needed. */
  abstract describe(): RequestInfo;
  /** Takes the faulty unit out of service; returns what it did, for the event. */
  abstract isolate(err: unknown): string;
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
