import { EventEmitter } from 'node:events';
import fs = require('node:fs');
import http = require('node:http');
import net = require('node:net');
import timers = require('node:timers');
import { ContextState, enter, RequestContext, storage } from './context';
import { suppressFollowUp } from './followup';
import { ArrayPrototypePush, FunctionPrototypeCall, ReflectApply } from './primordials';

/**
 * What a request owns: timers, intervals and immediates it scheduled,
 * sockets it connected, outgoing HTTP requests, file streams it opened and
 * listeners it added to emitters. Recording is one store lookup and four
 * array pushes; nothing is recorded when no request is current.
 */

const enum Kind {
  Timeout = 0,
  Interval = 1,
  Immediate = 2,
  Socket = 3,
  ClientRequest = 4,
  Stream = 5,
  Listener = 6,
}
const STRIDE = 4;

export interface Released {
  timers: number;
  intervals: number;
  immediates: number;
  sockets: number;
  clientRequests: number;
  streams: number;
  listeners: number;
}

const clearTimeoutOrig = timers.clearTimeout;
const clearIntervalOrig = timers.clearInterval;
const clearImmediateOrig = timers.clearImmediate;
const removeListenerOrig = EventEmitter.prototype.removeListener;
const listenersOrig = EventEmitter.prototype.listeners;

function record(ctx: RequestContext, kind: Kind, target: unknown, event?: unknown, listener?: unknown): void {
  let list = ctx.resources;
  if (list === undefined) list = ctx.resources = [];
  // Stores, not a four-value push: the optimizing compiler inlines these.
  const at = list.length;
  list[at] = kind;
  list[at + 1] = target;
  list[at + 2] = event;
  list[at + 3] = listener;
  if (at + STRIDE >= ctx.pruneAt * STRIDE) prune(ctx, list);
}

function liveContext(): RequestContext | undefined {
  const ctx = storage.getStore();
  return ctx !== undefined && ctx.state === ContextState.Live ? ctx : undefined;
}

// --- pruning: keeps a long-lived context (a WebSocket connection, a request
// that polls) from accumulating records of resources that are already gone.
// Amortized O(1): the threshold doubles with what survives.

/** Whether a record no longer stands for anything of ctx's that can call back or be released. */
function isSpent(ctx: RequestContext, kind: Kind, target: any, event: unknown, listener: unknown): boolean {
  switch (kind) {
    case Kind.Timeout:
    case Kind.Interval:
    case Kind.Immediate:
      return target._destroyed === true;
    case Kind.Socket:
      // An http.Agent sets _httpMessage to null when the socket goes back to
      // its pool: from then on it serves whoever asks, not this request. A
      // pooled socket serving another request already (under steady load it
      // is rarely idle) calls back for that one, and is not this one's to destroy.
      return target.destroyed === true || target._httpMessage === null || servesAnotherContext(target, ctx);
    case Kind.ClientRequest:
    case Kind.Stream:
      return target.destroyed === true || target.closed === true;
    case Kind.Listener: {
      const current = ReflectApply(listenersOrig, target, [event]) as unknown[];
      return !current.includes(listener) && !current.some((l: any) => l && l.listener === listener);
    }
  }
}

function prune(ctx: RequestContext, list: unknown[]): void {
  const kept: unknown[] = [];
  for (let i = 0; i < list.length; i += STRIDE) {
    if (!isSpent(ctx, list[i] as Kind, list[i + 1], list[i + 2], list[i + 3])) {
      ArrayPrototypePush(kept, list[i], list[i + 1], list[i + 2], list[i + 3]);
    }
  }
  ctx.resources = kept;
  ctx.pruneAt = Math.max(64, (kept.length / STRIDE) * 2);
}

/**
 * The unit's response is over: the records of listeners it added to its own
 * objects (`own`: its req and res) and to emitters it created (a body
 * parser, its streams) are dropped, and so are those of listeners that are
 * gone already. Those emitters are done (req and res emit nothing after
 * their 'close') or die with the request, and release keeps listeners on
 * emitters the request created anyway; but a record holds the emitter and
 * the listener's closure, and with them the request's whole object graph, for
 * as long as the context lives (Node's keep-alive timer, set inside the
 * request, holds it until the connection's next request). Garbage that lives
 * that long gets V8 to allocate the request's objects in the old generation
 * from then on (pretenuring), and every later request pays for it in
 * mark-compacts. Records of listeners on long-lived emitters, and of timers,
 * sockets and streams, stay for a crash that comes later.
 */
export function forgetFinishedListeners(ctx: RequestContext, own: readonly unknown[]): void {
  const list = ctx.resources;
  if (list === undefined) return;
  let kept = 0;
  for (let i = 0; i < list.length; i += STRIDE) {
    const target = list[i + 1];
    if (list[i] === Kind.Listener && (own.includes(target) || bornIn(target) === ctx || isSpent(ctx, Kind.Listener, target, list[i + 2], list[i + 3]))) continue;
    list[kept] = list[i];
    list[kept + 1] = target;
    list[kept + 2] = list[i + 2];
    list[kept + 3] = list[i + 3];
    kept += STRIDE;
  }
  // Usually nothing is left: dropping the list costs less than setting its length.
  if (kept === 0) ctx.resources = undefined;
  else if (kept < list.length) list.length = kept;
}

// --- release ---------------------------------------------------------------

/**
 * An outgoing socket may be pooled (an http.Agent's, or a database client's
 * connection opened lazily by the first request that needed it) and now serve
 * other requests: then it is not the faulty request's to destroy.
 */
function servesAnotherContext(socket: any, ctx: RequestContext): boolean {
  if (socket[kOwner] === SHARED) return true;
  const message = socket._httpMessage;
  return message != null && message[kOwner] !== undefined && message[kOwner] !== ctx;
}

/**
 * A socket this request did not open (a shared connection, one opened
 * outside any request) keeps every listener: Node itself adds some while a
 * request writes to it (a pending write waits for 'connect'), and removing
 * those would wedge the connection for everyone.
 */
function keepsListeners(emitter: unknown, ctx: RequestContext): boolean {
  // Only listeners on long-lived emitters are taken away. An emitter the
  // request created itself (a library's per-connection socket wrapper, a
  // stream) keeps them: it is destroyed or collected with the request, and
  // its close chain must still reach whoever tracks it (engine.io's client
  // list, a database client's reconnect logic).
  if (bornIn(emitter) === ctx) return true;
  if (!(emitter instanceof net.Socket)) return false;
  const owner = (emitter as any)[kOwner];
  if (owner === ctx) return false;
  const own = ctx as { req?: { socket?: unknown }; socket?: unknown };
  return emitter !== own.req?.socket && emitter !== own.socket;
}

type Listener = ((...args: unknown[]) => unknown) & { listener?: (...args: unknown[]) => unknown };

/**
 * A listener the recovered request added to an emitter it created stays (see
 * keepsListeners), but runs from now on in the recovered request's context,
 * whoever emits: its writes to shared state are refused there, and whatever it
 * throws is a follow-up error of that request, swallowed so that the request
 * whose code emitted (a broadcast reaching a dead connection) goes on.
 */
function confine(emitter: EventEmitter, event: string | symbol, recorded: Listener, ctx: RequestContext): void {
  const events = (emitter as unknown as { _events?: Record<string | symbol, Listener | Listener[]> })._events;
  const current = events?.[event];
  if (current === undefined) return;
  const once = typeof recorded.listener === 'function' ? recorded.listener : undefined;
  const wrapper: Listener = function (this: EventEmitter) {
    if (once !== undefined) ReflectApply(removeListenerOrig, this, [event, wrapper]);
    try {
      return enter(ctx, once ?? recorded, this, arguments);
    } catch (err) {
      suppressFollowUp(ctx, err, 'listener');
      return undefined;
    }
  };
  // removeListener(original) and listeners() still see the original.
  wrapper.listener = once ?? recorded;
  if (current === recorded) events![event] = wrapper;
  else if (Array.isArray(current)) {
    const at = current.indexOf(recorded);
    if (at !== -1) current[at] = wrapper;
  }
}

/** Cancels everything ctx still owns, listeners first so no teardown event reaches its code. */
export function release(ctx: RequestContext): Released {
  const released: Released = { timers: 0, intervals: 0, immediates: 0, sockets: 0, clientRequests: 0, streams: 0, listeners: 0 };
  const list = ctx.resources;
  ctx.resources = undefined;
  if (list === undefined) return released;
  for (let i = 0; i < list.length; i += STRIDE) {
    if (list[i] !== Kind.Listener) continue;
    const emitter = list[i + 1] as EventEmitter;
    if (keepsListeners(emitter, ctx)) {
      // A shared connection's listeners serve everyone: not confined to the dead request.
      if (bornIn(emitter) === ctx && (emitter as any)[kOwner] !== SHARED) confine(emitter, list[i + 2] as string | symbol, list[i + 3] as Listener, ctx);
      continue;
    }
    const before = emitter.listenerCount(list[i + 2] as string);
    ReflectApply(removeListenerOrig, emitter, [list[i + 2], list[i + 3]]);
    if (emitter.listenerCount(list[i + 2] as string) < before) released.listeners++;
  }
  for (let i = 0; i < list.length; i += STRIDE) {
    const kind = list[i] as Kind;
    const target = list[i + 1] as any;
    if (kind === Kind.Listener || isSpent(ctx, kind, target, undefined, undefined)) continue;
    switch (kind) {
      case Kind.Timeout: clearTimeoutOrig(target); released.timers++; break;
      case Kind.Interval: clearIntervalOrig(target); released.intervals++; break;
      case Kind.Immediate: clearImmediateOrig(target); released.immediates++; break;
      case Kind.Socket: target.destroy(); released.sockets++; break;
      case Kind.ClientRequest: target.destroy(); released.clientRequests++; break;
      case Kind.Stream: target.destroy(); released.streams++; break;
    }
  }
  return released;
}

// --- recording hooks -------------------------------------------------------

/** Marks an object (outgoing request, socket) as owned by a context, or as SHARED. */
export const kOwner = Symbol('srs.owner');
const SHARED = Symbol('srs.shared');

function wrapScheduler<F extends (...args: any[]) => any>(original: F, kind: Kind): F {
  const wrapped = function (this: unknown) {
    const handle = ReflectApply(original, this, arguments);
    const ctx = liveContext();
    if (ctx !== undefined) record(ctx, kind, handle);
    return handle;
  };
  Object.defineProperty(wrapped, 'name', { value: original.name });
  // util.promisify(setTimeout) must keep working.
  for (const key of Reflect.ownKeys(original)) {
    if (key !== 'length' && key !== 'name' && key !== 'prototype') {
      Object.defineProperty(wrapped, key, Object.getOwnPropertyDescriptor(original, key)!);
    }
  }
  return wrapped as unknown as F;
}

function patchSchedulers(): void {
  const wrappedTimeout = wrapScheduler(timers.setTimeout, Kind.Timeout);
  const wrappedInterval = wrapScheduler(timers.setInterval, Kind.Interval);
  const wrappedImmediate = wrapScheduler(timers.setImmediate, Kind.Immediate);
  const timersModule = timers as { -readonly [K in keyof typeof timers]: (typeof timers)[K] };
  // The global functions and the node:timers exports are the same functions.
  timersModule.setTimeout = wrappedTimeout;
  timersModule.setInterval = wrappedInterval;
  timersModule.setImmediate = wrappedImmediate;
  globalThis.setTimeout = wrappedTimeout;
  globalThis.setInterval = wrappedInterval;
  globalThis.setImmediate = wrappedImmediate;
}

/**
 * The request each emitter was created in, as a private field that
 * EventEmitter.init stamps on emitters created while a request is current
 * (the rest, req and res among them, pay one store lookup). Private:
 * invisible to the program (keys, symbols, util.inspect); a field, not a
 * WeakMap entry, because request code creates emitters by the dozen
 * (streams, parsers) and each WeakMap entry costs the garbage collector.
 */
const ReturnTarget = function (target: object) {
  return target;
} as unknown as new (target: object) => object;

class BirthStamp extends ReturnTarget {
  #ctx: RequestContext | undefined;
  private constructor(target: object, ctx: RequestContext) {
    super(target);
    this.#ctx = ctx;
  }
  static stamp(target: object, ctx: RequestContext): void {
    if (#ctx in target) {
      (target as BirthStamp).#ctx = ctx; // initialized again, in a later request: it is that one's now
      return;
    }
    try {
      new BirthStamp(target, ctx);
    } catch {
      // an object that cannot take a field (a non-extensible receiver, where the
      // engine refuses private fields): it is not known as born in a request
    }
  }
  static of(target: unknown): RequestContext | undefined {
    return isObject(target) && #ctx in target ? (target as BirthStamp).#ctx : undefined;
  }
}

/** Objects and functions (an emitter may be either: Express's app is a function). */
function isObject(value: unknown): value is object {
  return (typeof value === 'object' && value !== null) || typeof value === 'function';
}

function bornIn(emitter: unknown): RequestContext | undefined {
  return BirthStamp.of(emitter);
}

function patchEmitterBirth(): void {
  const ee = EventEmitter as unknown as { init: (this: object, ...args: unknown[]) => unknown };
  const initOrig = ee.init;
  const initCall = FunctionPrototypeCall(initOrig);
  // Every emitter comes through here: its one argument is forwarded without an arguments object.
  ee.init = function init(this: object, opts?: unknown) {
    const ctx = liveContext();
    if (ctx !== undefined && isObject(this)) BirthStamp.stamp(this, ctx);
    return arguments.length === 1 ? initCall(this, opts) : ReflectApply(initOrig, this, arguments);
  };
}

function patchListeners(): void {
  const proto = EventEmitter.prototype as any;
  const addOrig = proto.addListener;
  const prependOrig = proto.prependListener;
  const addCall = FunctionPrototypeCall(addOrig as (event: unknown, listener: unknown) => unknown);
  const prependCall = FunctionPrototypeCall(prependOrig as (event: unknown, listener: unknown) => unknown);
  // once()/prependOnceListener() go through these two, so they are covered.
  // Called with (event, listener): forwarded without an arguments object.
  const add = function addListener(this: EventEmitter, event: string | symbol, listener: (...a: any[]) => void) {
    const ctx = liveContext();
    if (ctx !== undefined) record(ctx, Kind.Listener, this, event, listener);
    return arguments.length === 2 ? addCall(this, event, listener) : ReflectApply(addOrig, this, arguments);
  };
  const prepend = function prependListener(this: EventEmitter, event: string | symbol, listener: (...a: any[]) => void) {
    const ctx = liveContext();
    if (ctx !== undefined) record(ctx, Kind.Listener, this, event, listener);
    return arguments.length === 2 ? prependCall(this, event, listener) : ReflectApply(prependOrig, this, arguments);
  };
  proto.addListener = add;
  proto.on = add;
  proto.prependListener = prepend;
}

function patchSockets(): void {
  const connectOrig = net.Socket.prototype.connect as (...a: unknown[]) => net.Socket;
  (net.Socket.prototype as any).connect = function connect(this: net.Socket) {
    const ctx = liveContext();
    if (ctx !== undefined) {
      (this as any)[kOwner] = ctx;
      record(ctx, Kind.Socket, this);
    }
    return ReflectApply(connectOrig, this, arguments);
  };
  // A socket one request connected and another writes to is a shared connection.
  const writeOrig = net.Socket.prototype.write as (...a: unknown[]) => boolean;
  (net.Socket.prototype as any).write = function write(this: any) {
    const owner = this[kOwner];
    if (owner !== undefined && owner !== SHARED && storage.getStore() !== owner) this[kOwner] = SHARED;
    return ReflectApply(writeOrig, this, arguments);
  };
  // Requests queued in an Agent have no socket yet; they are owned as requests.
  const addRequestOrig = (http.Agent.prototype as any).addRequest as (...a: unknown[]) => void;
  (http.Agent.prototype as any).addRequest = function addRequest(this: http.Agent, req: any) {
    const ctx = liveContext();
    if (ctx !== undefined) {
      req[kOwner] = ctx;
      record(ctx, Kind.ClientRequest, req);
    }
    return ReflectApply(addRequestOrig, this, arguments);
  };
}

/**
 * A connection that serves whoever uses it (see patchSockets): its events
 * belong to no request, not to the one that happened to open it, whose
 * context would otherwise die with it. The http adapter's socket emit asks.
 */
export function isSharedConnection(socket: object): boolean {
  return (socket as { [kOwner]?: unknown })[kOwner] === SHARED;
}

function patchFileStreams(): void {
  const mutableFs = fs as { -readonly [K in keyof typeof fs]: (typeof fs)[K] };
  const readOrig = fs.createReadStream;
  const writeOrig = fs.createWriteStream;
  mutableFs.createReadStream = function createReadStream(this: unknown) {
    const stream = ReflectApply(readOrig, this, arguments) as fs.ReadStream;
    const ctx = liveContext();
    if (ctx !== undefined) record(ctx, Kind.Stream, stream);
    return stream;
  } as typeof fs.createReadStream;
  mutableFs.createWriteStream = function createWriteStream(this: unknown) {
    const stream = ReflectApply(writeOrig, this, arguments) as fs.WriteStream;
    const ctx = liveContext();
    if (ctx !== undefined) record(ctx, Kind.Stream, stream);
    return stream;
  } as typeof fs.createWriteStream;
}

let installed = false;
export function installResourceTracking(): void {
  if (installed) return;
  installed = true;
  patchSchedulers();
  patchEmitterBirth();
  patchListeners();
  patchSockets();
  patchFileStreams();
}

/** Whether ctx still has timers, sockets, requests or streams that can call back. */
export function hasPendingWork(ctx: RequestContext): boolean {
  const list = ctx.resources;
  if (list === undefined) return false;
  for (let i = 0; i < list.length; i += STRIDE) {
    if (list[i] !== Kind.Listener && !isSpent(ctx, list[i] as Kind, list[i + 1], undefined, undefined)) return true;
  }
  return false;
}
