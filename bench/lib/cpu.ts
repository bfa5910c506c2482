/**
 * CPU accounting from /proc (a process's user+sys time, the machine's busy
 * time), "other load" (CPU that processes other than the benchmark and its
 * servers use), waiting for the machine to go quiet, and pinning with taskset.
 */
import { spawnSync } from 'node:child_process';
import fs = require('node:fs');
import os = require('node:os');
import { live } from './servers';

/** Clock ticks per second, the unit of /proc's CPU times. */
export const clockTicks = (() => {
  const r = spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' });
  const n = Number(r.stdout?.trim());
  return r.status === 0 && Number.isInteger(n) && n > 0 ? n : 100;
})();

/** Fields of /proc/<pid>/stat from field 3 (state) on, or undefined when the process is gone. */
export function statFields(pid: number): string[] | undefined {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) is in parentheses and may contain spaces.
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  } catch {
    return undefined;
  }
}

/** user+sys CPU seconds of a process (all its threads), or NaN without /proc. */
export function cpuSeconds(pid: number): number {
  const fields = statFields(pid);
  // fields[0] is field 3 (state); utime and stime are fields 14 and 15.
  return fields ? (Number(fields[11]) + Number(fields[12])) / clockTicks : NaN;
}

/** Non-idle CPU seconds of the whole machine, summed over its cores, or NaN without /proc. */
export function machineBusySeconds(): number {
  try {
    const line = fs.readFileSync('/proc/stat', 'utf8').split('\n', 1)[0]!;
    // cpu user nice system idle iowait irq softirq steal ...
    const [user, nice, system, , , irq, softirq, steal] = line.trim().split(/\s+/).slice(1).map(Number);
    return (user! + nice! + system! + irq! + softirq! + (steal ?? 0)) / clockTicks;
  } catch {
    return NaN;
  }
}

/** CPU seconds of this process and of every server it started (bench/lib/servers live). */
export function ownCpuSeconds(): number {
  const { user, system } = process.cpuUsage();
  let total = (user + system) / 1e6;
  for (const s of live) total += cpuSeconds(s.child.pid!);
  return total;
}

/**
 * Measures what else runs on the machine (other processes' CPU, in cores)
 * while fn runs: the cores are shared, so a round with a busy neighbour is
 * not comparable with one without.
 */
export async function withOtherLoad<T>(fn: () => Promise<T>): Promise<{ value: T; other: number }> {
  const machine0 = machineBusySeconds();
  const own0 = ownCpuSeconds();
  const t0 = process.hrtime.bigint();
  const value = await fn();
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  const other = (machineBusySeconds() - machine0 - (ownCpuSeconds() - own0)) / seconds;
  return { value, other: Math.max(0, other) };
}

/** Other processes' CPU (cores) below which the machine counts as quiet and a round as clean. */
export const QUIET = 0.25;

export const pause = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Waits (bounded) until other processes use less than `threshold` cores; returns the seconds waited. */
export async function waitForQuiet(maxSeconds: number, threshold = QUIET): Promise<number> {
  const started = Date.now();
  while (Date.now() - started < maxSeconds * 1000) {
    const { other } = await withOtherLoad(() => pause(500));
    if (!(other >= threshold)) break; // NaN (no /proc) counts as quiet
  }
  return (Date.now() - started) / 1000;
}

export function canPin(): boolean {
  if (os.cpus().length < 2 || process.platform !== 'linux') return false;
  return spawnSync('taskset', ['-p', String(process.pid)], { stdio: 'ignore' }).status === 0;
}

/** Pins every thread of pid (threads it creates later inherit it). */
export function pin(pid: number, cpu: number): void {
  const r = spawnSync('taskset', ['-a', '-p', '-c', String(cpu), String(pid)], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`taskset failed for pid ${pid}: ${r.stderr}`);
}
