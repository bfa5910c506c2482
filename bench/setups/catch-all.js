'use strict';
/**
 * The "just catch everything" setup of the crash-storm benchmark, preloaded
 * with `node -r ./catch-all.js app.js`: a process-wide handler that logs
 * uncaught exceptions and unhandled rejections and lets the process go on.
 * The process survives; nothing is isolated, released or rolled back (the
 * request that threw never gets an answer; what it wrote stays written).
 */
let caught = 0;
function log(kind, err) {
  caught++;
  const message = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
  process.stderr.write(`catch-all: ${kind} #${caught}: ${message}\n`);
}
process.on('uncaughtException', (err) => log('uncaughtException', err));
process.on('unhandledRejection', (reason) => log('unhandledRejection', reason));
