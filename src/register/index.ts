/**
 * `node -r srs/register app.js` or `node --import srs/register app.mjs`:
 * installs SRS before the application's first line. `srs run` loads it too.
 */
import { install } from './install';

install();
