/**
 * Node 20's module.register hooks (they run on the loader thread): rewrite
 * ES modules the way cjs.ts rewrites CommonJS ones.
 */
import { fileURLToPath } from 'node:url';
import type { MessagePort } from 'node:worker_threads';
import { instrumentCached } from './cache';
import { InstrumentMode, shouldInstrument } from './filter';

let mode: InstrumentMode = 'off';
let cacheDir: string | null = null;
/** Tells the stack-trace formatter a module was rewritten (directly, or from Node 20's loader thread). */
let onRewritten: (url: string, code: string) => void = () => {};

export function initialize(data: { mode: InstrumentMode; cacheDir: string | null; port?: MessagePort; onRewritten?: (url: string, code: string) => void }): void {
  mode = data.mode;
  cacheDir = data.cacheDir;
  const { port } = data;
  if (data.onRewritten) onRewritten = data.onRewritten;
  else if (port) onRewritten = (url, code) => port.postMessage([url, code]);
}

type LoadResult = { format?: string; source?: string | ArrayBuffer | Uint8Array | null; shortCircuit?: boolean };

export async function load(url: string, context: object, nextLoad: (url: string, context: object) => Promise<LoadResult>): Promise<LoadResult> {
  const result = await nextLoad(url, context);
  return transformModule(url, result);
}

export function transformModule(url: string, result: LoadResult): LoadResult {
  if (result.format !== 'module' || result.source == null || !url.startsWith('file:')) return result;
  const filename = fileURLToPath(url);
  if (!shouldInstrument(filename, mode)) return result;
  const source = typeof result.source === 'string' ? result.source : Buffer.from(result.source as Uint8Array).toString('utf8');
  try {
    const code = instrumentCached(source, filename, true, cacheDir);
    if (code !== source) onRewritten(url, code);
    return { ...result, source: code };
  } catch {
    return result; // unparsable: runs as it is (reported by the main thread's loader only for CommonJS)
  }
}
