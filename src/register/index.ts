/**
 * `node -r srs/register app.js` or `node --import srs/register app.mjs`:
 * installs SRS before the application's first line. `srs run` loads it too.
 */
import { isMainThread, parentPort } from 'node:worker_threads';
import { install } from './install';

// Node 20 runs module hooks on a thread of its own (the only thread without a
// parent port), which inherits the preload flags: nothing of the application
// runs there, and registering hooks from it fails.
if (isMainThread || parentPort !== null) install();
