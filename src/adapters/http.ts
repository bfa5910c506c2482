import http = require('node:http');
import https = require('node:https');
import net = require('node:net');
import type { Config } from '../runtime/config';
import { ContextState, enter, enterFromParser, openFromParser, RequestContext, RequestInfo, runOpening, storage } from '../runtime/context';
import { isDraining, requestEnded, requestStarted, serverClosed, serverListening } from '../runtime/escalate';
import { contextEnded, contextOpened } from '../runtime/lifecycle';
import { FunctionPrototypeCall, ReflectApply, setTimeoutOrig } from '../runtime/primordials';
import { forgetFinishedListeners, isSharedConnection } from '../runtime/resources';
import { installCrashHandlers } from '../runtime/recover';

/**
 * node:http and node:https servers, and so Express, Fastify, Koa and anything
 * else built on them. Each 'request' (and 'checkContinue'/'checkExpectation')
 * opens a request context; 'upgrade' and 'connect' open one for the life of
 * the upgraded connection.
 *
 * Node delivers a request's later events from the connection's callbacks,
 * which belong to no request, so SRS enters the request's context at the two
 * places they come from: the connection's socket events (its 'close', 'end',
 * 'timeout', 'error', and all events of an upgraded socket) and the HTTP
 * parser's body and message-complete callbacks (req 'data', and 'end' through
 * the tick it schedules). Everything else a request's req and res emit
 * happens inside the request's own callbacks, where its context already is;
 * patching req's and res's emit instead would cost every event of every
 * request a wrapper call.
 */

const kContext = Symbol('srs.context');
type Owned = { [kContext]?: RequestContext };

let config: Config;

function errorBody(err: unknown): string {
  if (!config.exposeErrors) return 'Internal Server Error\n';
  const stack = err instanceof Error ? err.stack : String(err);
  return `Internal Server Error\n\n${stack}\n`;
}

class HttpRequestContext extends RequestContext {
  // Read when the request arrives: routers rewrite req.url, and a destroyed socket forgets its peer.
  private readonly method: string | undefined;
  private readonly url: string | undefined;
  private readonly remoteAddress: string | undefined;
  constructor(
    readonly req: http.IncomingMessage,
    readonly res: http.ServerResponse,
  ) {
    super();
    this.method = req.method;
    this.url = req.url;
    this.remoteAddress = req.socket?.remoteAddress;
  }

  describe(): RequestInfo {
    return { id: this.id, kind: 'http', method: this.method, url: this.url, remoteAddress: this.remoteAddress };
  }

  /** The response is over (res 'close'): no longer in flight. */
  closed(emitter: unknown): void {
    if (this.ended || emitter !== this.res) return;
    this.ended = true;
    const socket = this.req.socket as (net.Socket & Owned) | null;
    if (socket && socket[kContext] === this) socket[kContext] = undefined;
    requestEnded();
    contextEnded(this);
    forgetFinishedListeners(this, [this.req, this.res]);
  }

  isolate(err: unknown, unwound: boolean): string {
    const { res } = this;
    // A crash after the response went out takes nothing back from the client,
    // and the connection may already carry the next request.
    if (res.writableEnded) return 'already-sent';
    if (!res.headersSent) {
      try {
        for (const name of res.getHeaderNames()) res.removeHeader(name);
        const body = errorBody(err);
        // The connection stays open (as Node decides) for the client's next
        // requests, pipelined ones included, which closing would fail with
        // this one, where it is known to sit between requests: this one was
        // read to its end, and the crash unwound nothing of the connection's
        // (a throw out of a parser callback leaves the rest of what was read
        // unparsed; a rejection unwinds nothing).
        const headers: http.OutgoingHttpHeaders = { 'content-type': 'text/plain; charset=utf-8', 'content-length': Buffer.byteLength(body) };
        if (!this.req.complete || unwound) {
          res.shouldKeepAlive = false;
          headers.connection = 'close';
        }
        res.writeHead(500, headers);
        res.end(body);
        return '500';
      } catch {
        // the response is in a state that cannot take a clean 500: cut it
      }
    }
    res.destroy();
    this.req.socket?.destroy();
    return 'socket-destroyed';
  }
}

const RAW_500 = 'HTTP/1.1 500 Internal Server Error\r\nConnection: close\r\nContent-Length: 0\r\n\r\n';

class UpgradeContext extends RequestContext {
  private readonly url: string | undefined;
  private readonly remoteAddress: string | undefined;
  constructor(
    readonly req: http.IncomingMessage,
    readonly socket: net.Socket,
    readonly kind: 'upgrade' | 'connect',
  ) {
    super();
    this.url = req.url;
    this.remoteAddress = socket.remoteAddress;
  }

  describe(): RequestInfo {
    return { id: this.id, kind: this.kind, method: this.req.method, url: this.url, remoteAddress: this.remoteAddress };
  }

  /** The upgraded connection is over. */
  closed(emitter: unknown): void {
    if (this.ended || emitter !== this.socket) return;
    this.ended = true;
    contextEnded(this);
  }

  isolate(): string {
    const { socket } = this;
    if (socket.destroyed) return 'already-closed';
    // Nothing written yet: the handshake can still be refused properly.
    if (socket.bytesWritten === 0 && socket.writable) {
      socket.end(RAW_500);
      setTimeoutOrig(() => socket.destroy(), 1000).unref();
      return '500';
    }
    socket.destroy();
    return 'socket-destroyed';
  }
}

const kPatched = Symbol('srs.patched');

function patchServer(proto: net.Server): void {
  const emitOrig = proto.emit as typeof proto.emit & { [kPatched]?: true };
  if (emitOrig[kPatched]) return; // inherited from an already patched prototype
  const emitCall = FunctionPrototypeCall(emitOrig) as (self: unknown, event: unknown, req: unknown, res: unknown) => boolean;
  proto.emit = function emit(this: net.Server, event: string | symbol, req?: unknown, res?: unknown) {
    // Node emits these with exactly (req, res): the hot path takes them as
    // parameters, so no arguments object is built for every request.
    if (arguments.length === 3 && (event === 'request' || event === 'checkContinue' || event === 'checkExpectation')) {
      return openRequest(this, emitCall, event, req as http.IncomingMessage & Owned, res as http.ServerResponse & Owned);
    }
    switch (event) {
      case 'upgrade':
      case 'connect': {
        const upgraded = arguments[1] as http.IncomingMessage & Owned;
        const socket = arguments[2] as net.Socket & Owned;
        const ctx = new UpgradeContext(upgraded, socket, event);
        upgraded[kContext] = ctx;
        socket[kContext] = ctx;
        contextOpened();
        return runOpening(ctx, emitOrig, this, arguments);
      }
      case 'listening':
        serverListening(this);
        installCrashHandlers(config);
        break;
      case 'close':
        serverClosed(this);
        break;
    }
    return ReflectApply(emitOrig, this, arguments);
  };
  (proto.emit as typeof emitOrig)[kPatched] = true;
}

function openRequest(
  server: net.Server,
  emitCall: (self: unknown, event: unknown, req: unknown, res: unknown) => boolean,
  event: string,
  req: http.IncomingMessage & Owned,
  res: http.ServerResponse & Owned,
): boolean {
  const ctx = new HttpRequestContext(req, res);
  req[kContext] = ctx;
  res[kContext] = ctx;
  const socket = req.socket as ConnectionSocket;
  socket[kContext] = ctx;
  const parser = socket.parser;
  if (parser != null) hookParser(parser);
  requestStarted();
  contextOpened();
  if (isDraining()) res.shouldKeepAlive = false;
  return openFromParser(ctx, emitCall, server, event, req, res, parser != null && parser.incoming === req);
}

/**
 * A response's 'close' (finished or aborted) ends its request. Seen in
 * ServerResponse's emit rather than through a listener on every response: a
 * listener costs each request an addListener, and makes the response's
 * 'close' emit copy its listener array when the framework has one too. The
 * call is forwarded by arity, so that no arguments object is built for the
 * few events a response emits.
 */
function patchResponseEmit(): void {
  const proto = http.ServerResponse.prototype as unknown as { emit: (...args: any[]) => boolean };
  const emitOrig = proto.emit;
  const call = FunctionPrototypeCall(emitOrig);
  proto.emit = function emit(this: http.ServerResponse & Owned, event: string | symbol, a?: unknown, b?: unknown) {
    if (event === 'close') {
      const ctx = this[kContext] as HttpRequestContext | undefined;
      if (ctx !== undefined) ctx.closed(this);
    }
    switch (arguments.length) {
      case 1: return call(this, event);
      case 2: return call(this, event, a);
      case 3: return call(this, event, a, b);
      default: return ReflectApply(emitOrig, this, arguments);
    }
  };
}

// --- the HTTP parser -------------------------------------------------------
//
// A connection's parser (Node reuses parsers across connections) calls its
// body and message-complete callbacks from native code. Each callback is
// replaced once per parser object by one that runs it in the context of the
// request being parsed (parser.incoming).

type ParserCallback = (this: HttpParser, ...args: unknown[]) => unknown;
interface HttpParser {
  incoming: (http.IncomingMessage & Owned) | null;
  [slot: number]: ParserCallback | undefined;
}
type ConnectionSocket = net.Socket & Owned & { parser?: HttpParser | null };

interface ParserSlot {
  index: number;
  original: ParserCallback;
  inContext: ParserCallback;
}
let parserSlots: ParserSlot[] | undefined;

function inRequestOf(original: ParserCallback): ParserCallback {
  return function (this: HttpParser) {
    const ctx = this.incoming?.[kContext];
    if (ctx === undefined) return ReflectApply(original, this, arguments);
    return enterFromParser(ctx, original, this, arguments);
  };
}

/** The callbacks to wrap, found on the first parser seen: Node's slot numbers (HTTPParser.kOnBody, …). */
function slotsOf(parser: HttpParser): ParserSlot[] {
  const constants = (parser.constructor ?? {}) as { kOnBody?: unknown; kOnMessageComplete?: unknown };
  const slots: ParserSlot[] = [];
  for (const index of [constants.kOnBody, constants.kOnMessageComplete]) {
    if (typeof index !== 'number') continue;
    const original = parser[index];
    if (typeof original === 'function') slots.push({ index, original, inContext: inRequestOf(original) });
  }
  return slots;
}

const kHooked = Symbol('srs.hooked');

function hookParser(parser: HttpParser & { [kHooked]?: true }): void {
  // Parsers are reused across connections and keep their callbacks: one check per parser.
  if (parser[kHooked] === true) return;
  parser[kHooked] = true;
  const slots = (parserSlots ??= slotsOf(parser));
  for (let i = 0; i < slots.length; i++) {
    const slot = slots[i]!;
    // Another callback (a framework's own parser setup) is left as it is.
    if (parser[slot.index] === slot.original) parser[slot.index] = slot.inContext;
  }
}

// --- the connection's socket -----------------------------------------------

type OwnedSocket = ConnectionSocket & { _events?: Record<string | symbol, unknown> };

/**
 * A connection's socket emits in the context of the request it serves (an
 * upgraded socket: of its upgrade), and a shared outgoing connection in none
 * (see resources.ts): its events belong to no request, not to the one that
 * happened to open it.
 */
function patchSocketEmit(): void {
  const proto = net.Socket.prototype as unknown as { emit: (...args: any[]) => boolean };
  const emitOrig = proto.emit;
  proto.emit = function emit(this: OwnedSocket, event: string | symbol) {
    const ctx = this[kContext] as HttpRequestContext | UpgradeContext | undefined;
    if (ctx === undefined) {
      if (isSharedConnection(this) && storage.getStore() !== undefined) return storage.exit(ReflectApply, emitOrig, this, arguments);
      return ReflectApply(emitOrig, this, arguments);
    }
    if (event === 'close') ctx.closed(this);
    if (ctx.state === ContextState.Live) {
      // Events nobody listens to run no code, and need no context. An unheard
      // 'error' throws, and must be attributed.
      if (event !== 'error' && this._events?.[event] === undefined) return ReflectApply(emitOrig, this, arguments);
      if (storage.getStore() === ctx) return ReflectApply(emitOrig, this, arguments);
    }
    return enter(ctx, emitOrig, this, arguments);
  };
}

let installed = false;
export function installHttpAdapter(cfg: Config): void {
  config = cfg;
  if (installed) return;
  installed = true;
  patchServer(http.Server.prototype);
  patchServer(https.Server.prototype);
  patchResponseEmit();
  patchSocketEmit();
}
