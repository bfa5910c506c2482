import Module = require('node:module');
import { receiveMessageOnPort, type MessagePort } from 'node:worker_threads';

/**
 * Stack traces of instrumented code, mapped back to the original file, line
 * and column, at the cost of a plain stack trace.
 *
 * Node's own source-map support maps every frame of every stack in the
 * process through JavaScript: about 47 µs more per `err.stack` on Node 24,
 * paid by every recovery event and by every application that logs an error.
 * Only the files SRS rewrote need mapping, and SRS knows which they are:
 * this formatter prints every other frame as Node's default formatter does
 * (the same text), and looks up only frames in rewritten files, in the
 * source map the instrumenter appended to them, decoded on first use.
 *
 * It is installed as `Error.prepareStackTrace`, where Node looks first.
 * Node's source maps stay enabled for what only they reach: the source line
 * Node prints above an uncaught startup error. An application that installs
 * its own `Error.prepareStackTrace` replaces this one, as it would replace
 * Node's.
 */

interface SourceMapLike {
  findEntry(line: number, column: number): { originalLine?: number; originalColumn?: number };
}
const SourceMapClass = (Module as unknown as { SourceMap: new (payload: object) => SourceMapLike }).SourceMap;

const MAP_COMMENT = '//# sourceMappingURL=data:application/json;charset=utf-8;base64,';

/** File name or file: URL, as V8 reports it -> the rewritten code (until first needed), then its map. */
const rewritten = new Map<string, string | SourceMapLike | null>();

/** Node 20 rewrites ES modules on its loader thread, which reports them through this port. */
let loaderPort: MessagePort | undefined;

export function registerRewritten(fileNameOrUrl: string, code: string): void {
  rewritten.set(fileNameOrUrl, code);
}

export function listenToLoader(port: MessagePort): void {
  loaderPort = port;
  // Reports are drained when a stack needs them (see mapOf); the port must not hold the process open.
  port.unref();
}

function drainLoader(): void {
  if (loaderPort === undefined) return;
  for (let m = receiveMessageOnPort(loaderPort); m !== undefined; m = receiveMessageOnPort(loaderPort)) {
    const [url, code] = m.message as [string, string];
    rewritten.set(url, code);
  }
}

function decode(code: string): SourceMapLike | null {
  const at = code.lastIndexOf(MAP_COMMENT);
  if (at === -1) return null;
  try {
    const payload = JSON.parse(Buffer.from(code.slice(at + MAP_COMMENT.length).trim(), 'base64').toString('utf8')) as object;
    return new SourceMapClass(payload);
  } catch {
    return null; // a frame we cannot map keeps its generated position
  }
}

function mapOf(fileName: string): SourceMapLike | null {
  let entry = rewritten.get(fileName);
  if (entry === undefined && loaderPort !== undefined && fileName.startsWith('file:')) {
    drainLoader(); // the loader thread reported the module before the main thread ran it
    entry = rewritten.get(fileName);
  }
  if (entry === undefined || entry === null) return null;
  if (typeof entry !== 'string') return entry;
  const map = decode(entry);
  rewritten.set(fileName, map);
  return map;
}

interface CallSite {
  getFileName(): string | undefined | null;
  getLineNumber(): number | null;
  getColumnNumber(): number | null;
  isEval(): boolean;
  toString(): string;
}

function formatFrame(site: CallSite): string {
  const text = `${site as unknown as string}`; // as Node's default joins them
  if (rewritten.size === 0 && loaderPort === undefined) return text;
  try {
    const fileName = site.getFileName();
    if (!fileName || site.isEval()) return text;
    const map = mapOf(fileName);
    if (map === null) return text;
    const line = site.getLineNumber();
    const column = site.getColumnNumber();
    if (line === null || column === null) return text;
    // Zero-based in the map, one-based in the frame, as Node maps frames itself.
    const entry = map.findEntry(line - 1, column - 1);
    if (entry.originalLine === undefined || entry.originalColumn === undefined) return text;
    const generated = `:${line}:${column}`;
    const at = text.lastIndexOf(generated);
    if (at === -1) return text;
    return `${text.slice(0, at)}:${entry.originalLine + 1}:${entry.originalColumn + 1}${text.slice(at + generated.length)}`;
  } catch {
    // A library calling this with call sites of its own making (source-map-support
    // wraps them): what it gave prints as it is.
    return text;
  }
}

/** Node marks its own errors (`RangeError [ERR_OUT_OF_RANGE]: …`) with a symbol it does not export. */
function findNodeErrorMark(): symbol | undefined {
  try {
    Buffer.alloc(-1);
  } catch (err) {
    for (let o: object | null = err as object; o !== null; o = Object.getPrototypeOf(o) as object | null) {
      const mark = Object.getOwnPropertySymbols(o).find((s) => s.description === 'kIsNodeError');
      if (mark !== undefined) return mark;
    }
  }
  return undefined;
}

const ErrorPrototypeToString = Error.prototype.toString;
let kIsNodeError: symbol | undefined;

/** Node's defaultPrepareStackTrace (lib/internal/errors.js), with rewritten frames mapped. */
function prepareStackTrace(error: Error & { code?: unknown }, trace: CallSite[]): string {
  const header = kIsNodeError !== undefined && kIsNodeError in error
    ? `${error.name} [${error.code as string}]: ${error.message}`
    : ErrorPrototypeToString.call(error);
  if (trace.length === 0) return header;
  let stack = header;
  for (let i = 0; i < trace.length; i++) stack += `\n    at ${formatFrame(trace[i]!)}`;
  return stack;
}

let installed = false;
export function installStackTraces(): void {
  if (installed) return;
  installed = true;
  kIsNodeError = findNodeErrorMark();
  // Node's source maps stay on for the source line it prints above a fatal startup error.
  process.setSourceMapsEnabled(true);
  (Error as { prepareStackTrace?: unknown }).prepareStackTrace = prepareStackTrace;
}
