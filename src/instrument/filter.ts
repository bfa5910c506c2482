import path = require('node:path');

export type InstrumentMode = 'app' | 'all' | 'off';

/** SRS's own runtime is never instrumented (the barrier must not journal itself); its demo app is. */
const srsSrc = path.resolve(__dirname, '..') + path.sep;
const srsDemo = path.join(srsSrc, 'demo') + path.sep;
const NODE_MODULES = `${path.sep}node_modules${path.sep}`;

export function shouldInstrument(filename: string, mode: InstrumentMode): boolean {
  if (mode === 'off' || !path.isAbsolute(filename)) return false;
  if (filename.startsWith(srsSrc) && !filename.startsWith(srsDemo)) return false;
  if (!/\.(c|m)?js$/.test(filename)) return false;
  return mode === 'all' || !filename.includes(NODE_MODULES);
}
