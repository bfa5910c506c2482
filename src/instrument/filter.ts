import path = require('node:path');

export type InstrumentMode = 'app' | 'all' | 'off';

/** SRS's own files are never instrumented: the barrier must not journal itself. */
const srsRoot = path.resolve(__dirname, '..', '..', '..');
const srsDist = path.join(srsRoot, 'dist') + path.sep;
const NODE_MODULES = `${path.sep}node_modules${path.sep}`;

export function shouldInstrument(filename: string, mode: InstrumentMode): boolean {
  if (mode === 'off' || !path.isAbsolute(filename) || filename.startsWith(srsDist)) return false;
  if (!/\.(c|m)?js$/.test(filename)) return false;
  return mode === 'all' || !filename.includes(NODE_MODULES);
}
