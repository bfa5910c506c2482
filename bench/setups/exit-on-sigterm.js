'use strict';
/**
 * Preloaded (-r) into the servers of a `storm.js --profile DIR` run: SIGTERM
 * exits through process.exit(), so that `node --cpu-prof` writes its profile
 * (the default action of SIGTERM ends the process without exit hooks).
 */
process.on('SIGTERM', () => process.exit(0));
