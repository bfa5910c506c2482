import crypto = require('node:crypto');
import fs = require('node:fs');
import os = require('node:os');
import path = require('node:path');
import { instrument, INSTRUMENT_FORMAT } from './instrumenter';

/**
 * Instrumented sources cached on disk by content hash, so that a restart
 * does not transform again. A cache that cannot be written is skipped.
 */

const { version } = require('../../../package.json') as { version: string };

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
    const key = crypto.createHash('sha256').update(`${version}\0${INSTRUMENT_FORMAT}\0${isModule}\0${filename}\0`).update(source).digest('hex').slice(0, 40);
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
