import { barrier } from './barrier';
import { ContextState, RequestContext } from './context';
import { commit, journalSize, journalsOpen, setJournalOpenedHook } from './journal';
import { setImmediateOrig, setTimeoutOrig } from './primordials';
import { hasPendingWork } from './resources';

/**
 * When a request's work has really ended, so that its journal can be
 * dropped: its response is over (or its connection closed) and nothing it
 * scheduled can still call back. Checked on the next turn of the event loop
 * (so that promise continuations run first), then with a backoff while
 * timers, sockets or streams it owns are pending.
 */

let active = 0;

/**
 * Recovered contexts that may still run code (a promise continuation that
 * was already queued): their writes must still reach the barrier, which
 * refuses them, so the fast path stays off until the context is collected.
 */
let recoveredAlive = 0;
const collected = new FinalizationRegistry<void>(() => {
  recoveredAlive--;
  updateFlag();
});

function updateFlag(): void {
  barrier.a = active > 0 || journalsOpen() > 0 || recoveredAlive > 0;
}

export function contextOpened(): void {
  active++;
  barrier.a = true;
}

function finish(ctx: RequestContext): void {
  commit(ctx);
  updateFlag();
}

function check(ctx: RequestContext, delay: number): void {
  if (ctx.state === ContextState.Dead) return; // recovery closed it
  if (!hasPendingWork(ctx)) return finish(ctx);
  setTimeoutOrig(() => check(ctx, Math.min(delay * 2, 5000)), delay).unref();
}

// One immediate per turn of the event loop checks every context that ended in it.
let toCheck: RequestContext[] = [];
function checkEnded(): void {
  const batch = toCheck;
  toCheck = [];
  for (let i = 0; i < batch.length; i++) check(batch[i]!, 10);
}
function scheduleCheck(ctx: RequestContext): void {
  if (toCheck.push(ctx) === 1) setImmediateOrig(checkEnded);
}

/** The unit's response or connection is over; called once per context. */
export function contextEnded(ctx: RequestContext): void {
  active--;
  ctx.ended = true;
  // Most requests write no long-lived state: no journal, nothing to commit.
  if (ctx.state === ContextState.Dead || journalSize(ctx) === 0) return updateFlag();
  scheduleCheck(ctx);
}

/** A recovered context is over at once: its journal was rolled back. */
export function contextRecovered(ctx: RequestContext): void {
  recoveredAlive++;
  collected.register(ctx, undefined);
  updateFlag();
}

// Late work (a write after the response ended) re-opens a journal: commit it too.
setJournalOpenedHook((ctx) => {
  barrier.a = true;
  if (ctx.ended) scheduleCheck(ctx);
});
