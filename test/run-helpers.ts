import { spawn } from 'node:child_process';
import path = require('node:path');

export { srsCli } from '../src/cli/server-process';

/** The package root (tests run from dist/test). */
export const packageRoot = path.join(__dirname, '..', '..');
/** What `node -r srs/register` and `node --import srs/register` load. */
export const registerPath = path.join(packageRoot, 'dist', 'src', 'register', 'index.js');

export interface Finished {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** Wall time from spawn to exit. */
  ms: number;
}

export interface RunOptions {
  /** Added to the environment; SRS_* variables of the test's own environment are removed first. */
  env?: Record<string, string>;
  /** Written to stdin, which is then closed; stdin is closed at once without it. */
  input?: string;
  cwd?: string;
  /** The child is killed with SIGKILL after this long and the promise rejects. */
  timeoutMs?: number;
}

/** Runs `node <args>` to completion, bounded in time. */
export function runNode(args: string[], options: RunOptions = {}): Promise<Finished> {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) if (!key.startsWith('SRS_')) env[key] = value;
  Object.assign(env, options.env);
  const started = Date.now();
  const child = spawn(process.execPath, args, { cwd: options.cwd ?? packageRoot, env, stdio: ['pipe', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  child.stdin.on('error', () => {}); // the child may exit before reading its input
  child.stdin.end(options.input);
  const timeoutMs = options.timeoutMs ?? 10_000;
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`node ${args.join(' ')} did not exit within ${timeoutMs} ms\nstdout: ${stdout}\nstderr: ${stderr}`));
    }, timeoutMs);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr, ms: Date.now() - started });
    });
  });
}

/** Polls until fn returns something other than undefined/false; rejects after timeoutMs. */
export async function waitFor<T>(fn: () => T | undefined | false, what: string, timeoutMs = 5000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = fn();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** Resolves with p, or rejects when it takes longer than ms. */
export function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout;
  return Promise.race([
    p.finally(() => clearTimeout(timer)),
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what} did not happen within ${ms} ms`)), ms);
    }),
  ]);
}
