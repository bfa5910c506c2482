/**
 * autocannon (which ships no types), wrapped in a promise with a hard time
 * limit. Shared by the benchmarks.
 */

export interface CannonResult {
  duration: number; // seconds
  errors: number;
  timeouts: number;
  non2xx: number;
  requests: { total: number; average: number };
  latency: { p50: number; p99: number };
}

/** One request of a mix that each connection cycles through (autocannon's `requests`). */
export interface CannonRequest {
  method?: string;
  path?: string;
  headers?: Record<string, string>;
  body?: string;
}

export interface CannonOptions {
  url: string;
  connections: number;
  pipelining: number;
  duration: number;
  /** A fixed number of requests instead of a duration. */
  amount?: number;
  requests?: CannonRequest[];
}

type Autocannon = (opts: CannonOptions, cb: (err: Error | null, result: CannonResult) => void) => { stop(): void };
const autocannon = require('autocannon') as Autocannon;

export function cannon(opts: CannonOptions, hardLimitMs: number): Promise<CannonResult> {
  return new Promise((resolve, reject) => {
    let instance: { stop(): void } | undefined = undefined;
    const guard = setTimeout(() => {
      instance?.stop();
      reject(new Error(`autocannon did not finish within ${hardLimitMs} ms`));
    }, hardLimitMs);
    instance = autocannon(opts, (err, result) => {
      clearTimeout(guard);
      if (err) reject(err);
      else resolve(result);
    });
  });
}
