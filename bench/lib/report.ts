/** Statistics and formatting shared by the benchmarks' Markdown reports. */
import { spawnSync } from 'node:child_process';
import fs = require('node:fs');
import path = require('node:path');

/** The repository root (this file is dist/bench/lib/report.js once built). */
export const repoRoot = path.join(__dirname, '..', '..', '..');

export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

export const int = (n: number) => Math.round(n).toLocaleString('en-US');
export const fixed = (n: number, digits: number) => (Number.isFinite(n) ? n.toFixed(digits) : 'n/a');

/** Which SRS is measured: the package version and, in a git checkout, the commit. */
export function srsRevision(): string {
  const { version } = JSON.parse(fs.readFileSync(path.join(repoRoot, 'package.json'), 'utf8')) as { version: string };
  const git = spawnSync('git', ['describe', '--always', '--dirty'], { cwd: repoRoot, encoding: 'utf8' });
  const rev = git.status === 0 ? git.stdout.trim() : process.env.BENCH_SRS_REV;
  return rev ? `srs ${version} (${rev})` : `srs ${version}`;
}

/** Prints a report and, unless `out` is null, writes it there; `name` prefixes the log line. */
export function publish(name: string, markdown: string, out: string | null, log: (line: string) => void): void {
  process.stdout.write(markdown);
  if (out === null) return;
  fs.mkdirSync(path.dirname(out), { recursive: true });
  fs.writeFileSync(out, markdown);
  log(`${name}: wrote ${path.relative(process.cwd(), out)}`);
}
