import fs = require('node:fs');
import { SrsUsageError } from '../runtime/errors';
import { DateNow, DateToISOString, JSONStringify } from '../runtime/primordials';

/**
 * Recovery and escalation events, one JSON line each. Written synchronously
 * so that an event is never lost to the exit that may follow it, and through
 * fs directly so that an application patching process.stderr cannot hide it.
 */

const writeSync = fs.writeSync;
let fd: number | null = 2;

export function openEventSink(target: string): void {
  if (target === 'off') {
    fd = null;
  } else if (target === 'stderr') {
    fd = 2;
  } else {
    try {
      fd = fs.openSync(target, 'a');
    } catch (err) {
      throw new SrsUsageError('SRS_ERR_EVENTS_FILE', target, (err as Error).message);
    }
  }
}

export interface ErrorInfo {
  name: string;
  message: string;
  stack?: string;
}

/** Never throws, whatever was thrown: an event must be written even for a hostile value. */
export function describeError(err: unknown): ErrorInfo {
  try {
    if (typeof err === 'object' && err !== null && 'message' in err) {
      const e = err as Error;
      return { name: safeString(e.name ?? 'Error'), message: safeString(e.message), stack: safeStack(e) };
    }
    return { name: typeof err, message: safeString(err) };
  } catch {
    return { name: 'unknown', message: '(the thrown value cannot be described)' };
  }
}

function safeStack(e: Error): string | undefined {
  try {
    return typeof e.stack === 'string' ? e.stack : undefined;
  } catch {
    return undefined; // a throwing stack getter must not break the event
  }
}

function safeString(value: unknown): string {
  try {
    return String(value);
  } catch {
    try {
      return Object.prototype.toString.call(value);
    } catch {
      return '(unprintable)';
    }
  }
}

export function emitEvent(type: string, fields: Record<string, unknown>): void {
  if (fd === null) return;
  const line = JSONStringify({ type, time: DateToISOString(new Date(DateNow())), pid: process.pid, ...fields }) + '\n';
  let buf = Buffer.from(line);
  // A non-blocking stderr pipe may accept part of the line or none (EAGAIN).
  for (let attempts = 0; buf.length > 0 && attempts < 1000; attempts++) {
    try {
      const n = writeSync(fd, buf);
      buf = buf.subarray(n);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EAGAIN') return;
    }
  }
}
