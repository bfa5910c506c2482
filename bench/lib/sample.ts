/**
 * One measured round of load against one server: autocannon's result, the
 * server's CPU time around it, and the CPU other processes used meanwhile.
 * Shared by the overhead and realistic benchmarks.
 */
import type { ServerProcess } from '../../src/cli/server-process';
import { cannon, type CannonOptions } from './cannon';
import { cpuSeconds, QUIET, waitForQuiet, withOtherLoad } from './cpu';
import { fixed, int } from './report';

export interface Sample {
  rps: number;
  requests: number;
  cpuUsPerReq: number;
  /** Server CPU seconds per wall second: ~1 means the server core was saturated. */
  busy: number;
  p50: number;
  p99: number;
  bad: number; // errors + timeouts + non-2xx
  /** CPU (in cores) that other processes on the machine used during the round. */
  other: number;
}

/** Loads `proc` as `load` says; `label` names the server in errors. */
export async function measureLoad(proc: ServerProcess, label: string, load: CannonOptions): Promise<Sample> {
  const pid = proc.child.pid!;
  const cpuBefore = cpuSeconds(pid);
  const { value: result, other } = await withOtherLoad(() => cannon(load, load.duration * 1000 + 15_000));
  const cpu = cpuSeconds(pid) - cpuBefore;
  if (proc.child.exitCode !== null || proc.child.signalCode !== null) throw new Error(`${label} exited during the run\n${proc.stderr()}`);
  const requests = result.requests.total;
  const bad = result.errors + result.timeouts + result.non2xx;
  if (!(requests > 0)) {
    // Starved by other processes: the round is not clean and gets measured
    // again. On a quiet machine, a server that answers nothing is a bug.
    if (!(other >= QUIET)) throw new Error(`${label}: no request completed`);
    return { rps: 0, requests: 0, cpuUsPerReq: NaN, busy: cpu / result.duration, p50: NaN, p99: NaN, bad, other };
  }
  return {
    rps: requests / result.duration,
    requests,
    cpuUsPerReq: (cpu * 1e6) / requests,
    busy: cpu / result.duration,
    p50: result.latency.p50,
    p99: result.latency.p99,
    bad,
    other,
  };
}

export const describeSample = (s: Sample) =>
  `${int(s.rps)} req/s, ${fixed(s.cpuUsPerReq, 1)} µs CPU/req, server busy ${Math.round(s.busy * 100)} %, other load ${fixed(s.other, 2)} cores`;

/**
 * The rounds a summary uses: the clean ones (other processes left the cores
 * alone) when there are enough of them, else every round in which all
 * servers answered.
 */
export function usableRounds<R>(rounds: R[], samplesOf: (round: R) => Sample[]): { used: R[]; clean: number } {
  const measured = rounds.filter((r) => samplesOf(r).every((s) => s.requests > 0));
  const clean = measured.filter((r) => samplesOf(r).every((s) => !(s.other >= QUIET)));
  return { used: clean.length >= Math.max(2, Math.ceil(rounds.length / 2)) || measured.length === 0 ? clean : measured, clean: clean.length };
}

export interface Tally {
  /** Seconds spent waiting for other processes to go quiet. */
  waited: number;
  /** Rounds measured again because other processes used the CPU. */
  retried: number;
}

/**
 * Measures a round, first waiting up to `waitQuiet` s for the machine to go
 * quiet, and again (up to `attempts` in all) while it was not clean.
 */
export async function cleanRound<R>(
  measure: () => Promise<R>,
  isClean: (round: R) => boolean,
  opts: { waitQuiet: number; attempts: number; what: string },
  tally: Tally,
  log: (line: string) => void,
): Promise<R> {
  for (let attempt = 1; ; attempt++) {
    if (opts.waitQuiet > 0) {
      const waited = await waitForQuiet(opts.waitQuiet);
      if (waited >= 1) log(`waited ${waited.toFixed(1)} s for other processes to go quiet`);
      tally.waited += waited;
    }
    const round = await measure();
    if (isClean(round) || opts.waitQuiet === 0 || attempt >= opts.attempts) return round;
    tally.retried++;
    log(`${opts.what}: other processes used the CPU, measuring it again`);
  }
}
