import http = require('node:http');
import https = require('node:https');
import net = require('node:net');
import type { Config } from '../runtime/config';
import { ContextState, enter, RequestContext, RequestInfo, runOpening, storage } from '../runtime/context';
import { isDraining, requestEnded, requestStarted, serverClosed, serverListening } from '../runtime/escalate';
import { contextEnded, contextOpened } from '../runtime/lifecycle';
import { ReflectApply, setTimeoutOrig } from '../runtime/primordials';
import { installCrashHandlers } from '../runtime/recover';

/**
 * node:http and node:https servers, and so Express, Fastify, Koa and anything
 * else built on them. Each 'request' (and 'checkContinue'/'checkExpectation')
 * opens a request context; 'upgrade' and 'connect' open one for the life of
 * the upgraded connection. The request's req, res and current socket emit
 * their events inside its context, because Node emits them from the
 * connection's callbacks, which belong to no request.
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
  }

  isolate(err: unknown): string {
    const { res } = this;
    // A crash after the response went out takes nothing back from the client,
    // and the connection may already carry the next request.
    if (res.writableEnded) return 'already-sent';
    if (!res.headersSent) {
      try {
        for (const name of res.getHeaderNames()) res.removeHeader(name);
        const body = errorBody(err);
        res.shouldKeepAlive = false;
        res.writeHead(500, {
          'content-type': 'text/plain; charset=utf-8',
          'content-length': Buffer.byteLength(body),
          connection: 'close',
        });
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
  proto.emit = function emit(this: net.Server, event: string | symbol) {
    switch (event) {
      case 'request':
      case 'checkContinue':
      case 'checkExpectation': {
        const req = arguments[1] as http.IncomingMessage & Owned;
        const res = arguments[2] as http.ServerResponse & Owned;
        const ctx = new HttpRequestContext(req, res);
        req[kContext] = ctx;
        res[kContext] = ctx;
        (req.socket as net.Socket & Owned)[kContext] = ctx;
        requestStarted();
        contextOpened();
        if (isDraining()) res.shouldKeepAlive = false;
        return runOpening(ctx, emitOrig, this, arguments);
      }
      case 'upgrade':
      case 'connect': {
        const req = arguments[1] as http.IncomingMessage & Owned;
        const socket = arguments[2] as net.Socket & Owned;
        const ctx = new UpgradeContext(req, socket, event);
        req[kContext] = ctx;
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

type OwnedEmitter = Owned & { _events?: Record<string | symbol, unknown> };

/** Emits of req, res and sockets run in the context that owns the object. */
function patchOwnedEmitter(proto: { emit: (...args: any[]) => boolean }): void {
  const emitOrig = proto.emit;
  proto.emit = function emit(this: OwnedEmitter, event: string | symbol) {
    const ctx = this[kContext] as HttpRequestContext | UpgradeContext | undefined;
    if (ctx === undefined) return ReflectApply(emitOrig, this, arguments);
    if (event === 'close') ctx.closed(this);
    if (ctx.state === ContextState.Live) {
      // Most of a request's events ('readable', 'close', …) have no listener:
      // no code runs, so no context is needed. An unheard 'error' throws, and
      // must be attributed.
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
  patchOwnedEmitter(http.IncomingMessage.prototype);
  patchOwnedEmitter(http.ServerResponse.prototype);
  patchOwnedEmitter(net.Socket.prototype);
}
