import v8 = require('node:v8');
import { describeError, emitEvent } from '../telemetry/events';
import type { Config } from './config';
import { ContextState, ownerOf, RequestContext } from './context';
import { escalate } from './escalate';
import { suppressedCount, suppressFollowUp } from './followup';
import { exitCodes } from './errors';
import { DateNow, EventEmitterPrototypeOn, hrtimeBigint, processExit, ReflectApply } from './primordials';
import { rollback } from './journal';
import { contextRecovered } from './lifecycle';
import { release } from './resources';

/**
 * The process-level crash path: attribute the crash to its request, isolate
 * the request, release what it owns, report, keep serving — or escalate when
 * that is not safe.
 */

export type CrashKind = 'uncaughtException' | 'unhandledRejection';

let recoveries = 0;
let budgetTimes: number[] = [];
let config: Config;

export function stats(): { recoveries: number; suppressed: number } {
  return { recoveries, suppressed: suppressedCount() };
}

function withinBudget(now: number): boolean {
  // Ring of the last `budget` recovery times: over budget when the oldest of
  // them is still inside the window.
  const slot = recoveries % config.budget;
  const oldest = budgetTimes[slot];
  budgetTimes[slot] = now;
  return oldest === undefined || now - oldest > config.budgetWindowMs;
}

function heapExhausted(): { used: number; limit: number } | undefined {
  const heap = v8.getHeapStatistics();
  return heap.used_heap_size > heap.heap_size_limit * config.heapLimit
    ? { used: heap.used_heap_size, limit: heap.heap_size_limit }
    : undefined;
}

function recover(ctx: RequestContext, err: unknown, crash: CrashKind): void {
  const started = hrtimeBigint();
  ctx.state = ContextState.Dead;
  // Shared state first, synchronously: no other request runs before it is back.
  const { journal, ...state } = rollback(ctx);
  // Release before isolating: the isolation finishes the response, and the
  // request's own 'finish'/'close' listeners must not run any more.
  const released = release(ctx);
  const response = ctx.isolate(err, crash === 'uncaughtException');
  contextRecovered(ctx);
  recoveries++;
  const durationUs = Number(hrtimeBigint() - started) / 1000;
  emitEvent('srs.recovery', {
    request: ctx.describe(),
    crash,
    error: describeError(err),
    response,
    state,
    journal,
    released,
    suppressed: ctx.suppressed,
    recoveries,
    durationUs: Math.round(durationUs * 10) / 10,
  });
  if (!withinBudget(DateNow())) {
    escalate('budget-exceeded', err, { budget: config.budget, budgetWindowMs: config.budgetWindowMs, request: ctx.describe() });
    return;
  }
  const heap = heapExhausted();
  if (heap !== undefined) escalate('memory-exhausted', err, { heapUsed: heap.used, heapLimit: heap.limit, request: ctx.describe() });
}

function onCrash(err: unknown, crash: CrashKind): void {
  let ctx: RequestContext | undefined;
  try {
    ctx = ownerOf(err);
    if (ctx === undefined) {
      escalate('unowned-crash', err, { crash });
    } else if (ctx.state === ContextState.Dead) {
      suppressFollowUp(ctx, err, crash);
    } else {
      recover(ctx, err, crash);
    }
  } catch (fault) {
    try {
      // Best effort: the faulty request must not hold up the drain that follows.
      if (ctx !== undefined) ctx.isolate(err, true);
    } catch {
      // the drain deadline bounds it
    }
    try {
      escalate('internal-fault', fault, { crash, original: describeError(err), request: ctx?.describe() });
    } catch {
      // escalation itself failed: nothing left to trust but the exit
      processExit(exitCodes['internal-fault']);
    }
  }
}

let installed = false;

/** Installs the process handlers; called when the first server listens. */
export function installCrashHandlers(cfg: Config): void {
  config = cfg;
  budgetTimes = new Array(cfg.budget);
  if (installed) return;
  installed = true;
  ReflectApply(EventEmitterPrototypeOn, process, ['uncaughtException', (err: unknown) => onCrash(err, 'uncaughtException')]);
  ReflectApply(EventEmitterPrototypeOn, process, ['unhandledRejection', (reason: unknown) => onCrash(reason, 'unhandledRejection')]);
}

export function crashHandlersInstalled(): boolean {
  return installed;
}
