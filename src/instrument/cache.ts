import crypto = require('node:crypto');
import fs = require('node:fs');
import os = require('node:os');
import path = require('node:path');
import { instrument } from './instrumenter';

/**
 * Instrumented sources cached on disk by content hash, so that a restart
 * does not transform again. A cache that cannot be written is skipped.
 */

const { version } = require('../../../package.json') as { version: string };

/**
 * What produces a transform: SRS's version, the instrumenter's own code (this
 * folder) and the barrier API the output calls. Any change to them, released
 * or not, misses the cache rather than reusing output of another build.
 */
let transformId: string | undefined;
function transformIdentity(): string {
  if (transformId !== undefined) return transformId;
  const hash = crypto.createHash('sha256').update(version);
  const runtime = path.join(__dirname, '..', 'runtime');
  const files = [
    ...fs.readdirSync(__dirname).filter((name) => name.endsWith('.js')).sort().map((name) => path.join(__dirname, name)),
    path.join(runtime, 'barrier.js'),
    path.join(runtime, 'journal.js'),
  ];
  for (const file of files) hash.update(fs.readFileSync(file));
  return (transformId = hash.digest('hex'));
}

export function defaultCacheDir(): string {
  return path.join(process.env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache'), 'srs', 'instrumented');
}

export interface TransformStats {
  files: number;
  cached: number;
  skipped: number;
  ms: number;
}

export const transformStats: TransformStats = { files: 0, cached: 0, skipped: 0, ms: 0 };

export function instrumentCached(source: string, filename: string, isModule: boolean, cacheDir: string | null): string {
  const started = performance.now();
  try {
    const key = crypto.createHash('sha256').update(`${transformIdentity()}\0${isModule}\0${filename}\0`).update(source).digest('hex').slice(0, 40);
    const file = cacheDir ? path.join(cacheDir, `${key}.js`) : null;
    if (file) {
      try {
        const code = fs.readFileSync(file, 'utf8');
        transformStats.cached++;
        return code;
      } catch {
        // not cached yet
      }
    }
    const { code } = instrument(source, filename, isModule);
    transformStats.files++;
    if (file) {
      try {
        fs.mkdirSync(cacheDir!, { recursive: true });
        const tmp = `${file}.${process.pid}.tmp`;
        fs.writeFileSync(tmp, code);
        fs.renameSync(tmp, file);
      } catch {
        // read-only or full disk: run uncached
      }
    }
    return code;
  } finally {
    transformStats.ms += performance.now() - started;
  }
}
