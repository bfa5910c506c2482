'use strict';
/**
 * Preloaded (-r) into `srs run` servers by `realistic.js --startup`: when the
 * app prints its "listening <port>" line, first writes one line on stderr,
 *
 *   srs-transform {"files":…,"cached":…,"skipped":…,"ms":…,"uptimeMs":…}
 *
 * with the instrumenter's own counters (files transformed, files read from the
 * cache, files skipped, milliseconds spent in instrumentCached, which includes
 * cache reads and writes) and the process's uptime. It reads SRS's built
 * module (dist/src/instrument/cache.js) from the module cache, the same
 * instance `srs run` uses, and loads nothing itself (under plain node, or
 * with --instrument off, the counters are null).
 */
const path = require('node:path');
const cacheModule = path.join(__dirname, '..', '..', 'dist', 'src', 'instrument', 'cache.js');

const write = process.stdout.write;
let reported = false;
process.stdout.write = function (chunk, ...rest) {
  if (!reported && typeof chunk === 'string' && chunk.startsWith('listening ')) {
    reported = true;
    const loaded = require.cache[cacheModule];
    const stats = loaded ? loaded.exports.transformStats : { files: null, cached: null, skipped: null, ms: null };
    process.stderr.write(`srs-transform ${JSON.stringify({ ...stats, uptimeMs: performance.now() })}\n`);
  }
  return write.call(this, chunk, ...rest);
};
