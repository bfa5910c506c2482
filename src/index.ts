/**
 * The programmatic surface of SRS, for applications that want to know about
 * recovery. Installing SRS itself is `srs run` or `srs/register`.
 */
import { currentContext, storage, type RequestInfo } from './runtime/context';
import { stats as recoveryStats } from './runtime/recover';

export type { RequestInfo } from './runtime/context';
export { exitCodes } from './runtime/errors';

/** The request the calling code runs for, or undefined outside any request. */
export function currentRequest(): RequestInfo | undefined {
  return currentContext()?.describe();
}

/** Counts since start: recoveries performed and follow-up errors suppressed. */
export function stats(): { recoveries: number; suppressed: number } {
  return recoveryStats();
}

/**
 * Runs fn outside any request: timers, sockets and listeners it creates, and
 * its writes, belong to no request. For resources one request creates lazily
 * on behalf of all (a connection pool's first connect, a batch's flush
 * timer), which would otherwise be released if that request crashed.
 */
export function outsideRequest<T>(fn: () => T): T {
  return storage.exit(fn);
}
