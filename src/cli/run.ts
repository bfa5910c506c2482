import fs = require('node:fs');
import Module = require('node:module');
import path = require('node:path');
import { SrsUsageError } from '../runtime/errors';

export function resolveEntry(entry: string): string {
  const absolute = path.resolve(entry);
  if (fs.existsSync(absolute) && fs.statSync(absolute).isFile()) return absolute;
  try {
    // `srs run app` finds app.js like `node app` does.
    return require.resolve(absolute);
  } catch {
    throw new SrsUsageError('SRS_ERR_ENTRY_NOT_FOUND', entry);
  }
}

/**
 * Runs the entry in this very process, as `node <entry> [args]` would: same
 * pid, stdio, signals and exit code, nothing in between to forward. Processes
 * the app forks (cluster, child_process.fork) get SRS too, via execArgv.
 */
export function runEntry(main: string, entryArgs: string[], env: Record<string, string>): void {
  Object.assign(process.env, env);
  const register = require.resolve('../register/index');
  process.execArgv.push('--require', register);
  require(register);
  process.argv = [process.argv[0]!, main, ...entryArgs];
  (Module as unknown as { runMain: (main?: string) => void }).runMain(main);
}
