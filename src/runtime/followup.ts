import { describeError, emitEvent } from '../telemetry/events';
import type { RequestContext } from './context';

/** Errors that still come from a recovered request: swallowed, counted, reported. */

let suppressedTotal = 0;

export function suppressedCount(): number {
  return suppressedTotal;
}

export function suppressFollowUp(ctx: RequestContext, err: unknown, crash: string): void {
  ctx.suppressed++;
  suppressedTotal++;
  emitEvent('srs.suppressed', { request: ctx.describe(), crash, error: describeError(err), suppressed: ctx.suppressed });
}
