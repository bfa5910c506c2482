import type { Server } from 'node:net';
import { describeError, emitEvent } from '../telemetry/events';
import { EscalationReason, exitCodes } from './errors';
import { processExit, SafeSet, SetPrototypeAdd, SetPrototypeDelete, setTimeoutOrig } from './primordials';

/**
 * Giving up safely: stop accepting, let the requests in flight finish (with a
 * deadline), then exit with a code that says why, so that the supervisor
 * (node:cluster, PM2, systemd, Kubernetes) restarts a clean process.
 */

const servers: Set<Server> = new SafeSet();
let inflight = 0;
let escalation: { reason: EscalationReason; code: number } | undefined;
let drainTimeoutMs = 10_000;

export function setDrainTimeout(ms: number): void {
  drainTimeoutMs = ms;
}

export function serverListening(server: Server): void {
  SetPrototypeAdd(servers as Set<unknown>, server);
}

export function serverClosed(server: Server): void {
  SetPrototypeDelete(servers as Set<unknown>, server);
}

export function requestStarted(): void {
  inflight++;
}

export function requestEnded(): void {
  inflight--;
  if (escalation !== undefined && inflight <= 0) finish('drained');
}

export function isDraining(): boolean {
  return escalation !== undefined;
}

export function inflightRequests(): number {
  return inflight;
}

export function escalate(reason: EscalationReason, err: unknown, details: Record<string, unknown> = {}): void {
  if (escalation !== undefined) {
    // Already draining; the deadline bounds whatever else goes wrong, except
    // a fault in SRS itself while draining: then the exit cannot wait.
    emitEvent('srs.escalation', { reason, exitCode: escalation.code, draining: true, error: describeError(err), ...details });
    if (reason === 'internal-fault') finish('internal-fault');
    return;
  }
  const code = exitCodes[reason];
  escalation = { reason, code };
  // If everything closes before the drain ends, Node exits by itself: with this code.
  process.exitCode = code;
  emitEvent('srs.escalation', {
    reason,
    exitCode: code,
    error: describeError(err),
    inflight,
    drainTimeoutMs,
    ...details,
  });
  for (const server of servers) {
    try {
      server.close();
      (server as Server & { closeIdleConnections?: () => void }).closeIdleConnections?.();
    } catch {
      // a server that cannot close is left to the deadline
    }
  }
  if (inflight <= 0) return finish('drained');
  setTimeoutOrig(() => finish('deadline'), drainTimeoutMs);
}

function finish(how: string): void {
  const e = escalation!;
  emitEvent('srs.exit', { reason: e.reason, exitCode: e.code, how, unfinished: Math.max(0, inflight) });
  processExit(e.code);
}
