import { ContextState, RequestContext, storage } from './context';
import { setTimeoutOrig } from './primordials';

/**
 * Per-request journal of first writes to long-lived locations, and the log of
 * what everybody wrote to those locations since, so that a faulty request's
 * effects can be taken out exactly (DESIGN.md guarantee 2):
 *
 *  - nobody else wrote since      -> the old value is put back (restored);
 *  - others updated it since      -> replay their updates on the old value
 *    (commutative deltas keep, the faulty request's are dropped: compensated);
 *  - others assigned it after the faulty request's last write -> cleansed.
 *
 * A location is a property of an object, a variable in a scope, a Map entry,
 * a Set member, or a whole array. Each location has a log of writes, kept
 * while some live journal watches it (and dropped on its next write or idle
 * sweep after that): [writer id, kind, had, before] per write, recorded
 * *before* the write happens (the value after a write is the `before` of the
 * next entry, or the current value for the last one).
 */

export const enum WriteKind {
  Assign = 0,
  /** +=, -=, ++, --: commutative when both sides are numbers. */
  Delta = 1,
  /** Any other read-modify-write (*=, ||=, string +=): propagates what it read. */
  Update = 2,
  Delete = 3,
  /** A journal was rolled back here: contributes nothing to a replay. */
  Noop = 4,
  /** Arrays: push. */
  Append = 5,
  /** Arrays: anything but push. */
  Mutate = 6,
  /** Arrays: every element replaced (splice from 0 over the whole length). */
  Replace = 7,
  /**
   * A Delta written as `x = (x || 0) + n` or `(x ?? 0) + n` (a counter made
   * on first use): a missing, null or undefined value counts as 0.
   */
  CountDelta = 8,
  /**
   * Arrays: elements taken off the front (shift, splice(0, n)); the entry
   * keeps them, so that the array's history can be told again (see
   * rollbackTrimmed).
   */
  Shift = 9,
}

export interface RollbackCounts {
  restored: number;
  compensated: number;
  cleansed: number;
  propagated: number;
  unresolved: number;
}

const STRIDE = 4;
/** log.length >> LOG_SHIFT is the entry count: a small integer, where `/ STRIDE` may box a double. */
const LOG_SHIFT = 2;
/** A log shorter than this is not trimmed while it is watched (see append). */
const TRIM_MIN = 64 * STRIDE;
/** Past this many entries the oldest watcher of a location gives it up. */
const LOG_CAP = 4096;

type Writer = RequestContext | null;
/** The writer id logged for a write outside any request (context ids start at 1). */
const NO_WRITER = 0;

/** A log's end, as an absolute sequence number. */
function logEnd(loc: { base: number; log: unknown[] }): number {
  return loc.base + (loc.log.length >> LOG_SHIFT);
}

/** What the last Location.read() found (out-parameters: no allocation per write). */
let readHad = false;
let readValue: unknown = undefined;

/** What kind of place a location is: how it is read, written back and indexed. */
const enum Place {
  Property = 0,
  /** A variable: the instrumenter passes a scope object, a name and a getter/setter pair. */
  Variable = 1,
  MapEntry = 2,
  SetMember = 3,
  /** A whole array: log entries are [writer, Append|Mutate|Replace, lengthBefore, count] and [writer, Shift, lengthBefore, removed]. */
  Array = 4,
}

type Getter = () => unknown;
type Setter = (v: unknown) => void;

/**
 * A long-lived location: a property, a variable, a Map entry, a Set member
 * or a whole array. One class with a tag, not a class per kind: every
 * journal step reads a location's fields, and a server that writes all
 * five kinds made each such read megamorphic (a stub-cache probe, and a
 * runtime lookup on a miss): 11-14 % more time per simulated request in
 * `bench:journal --seen all`.
 */
class Location {
  log: unknown[] = [];
  base = 0; // position of log[0] in the location's history since it was last fresh (see freshen)
  /** Log length at which append next looks for a trim. */
  trimAt = TRIM_MIN;
  /**
   * How many watches it has: a count, not a list. A list of watches (young
   * objects) in a location (an old one) cost every first write a store
   * through the collector's write barrier and a cache miss on the list's
   * backing store, and every leave another; the oldest watcher is found in
   * the log instead, when a trim needs it (see oldestLiveEntry). An array
   * lists its watches too (see watchers).
   */
  watching = 0;
  /**
   * Nobody watches it any more and its log is spent: emptied on its next
   * write or sweep, not when its last watcher leaves (a commit, at the end
   * of the event loop's turn, would find the log out of the cache). Never
   * an array's: its log is emptied when its last watcher leaves.
   */
  stale = false;
  /** In the idle list (see unwatch): unwatched, still indexed. */
  idle = false;
  /** Watched again while in the idle list: kept through the next sweep (see sweepIdle). */
  reused = false;
  /** An array's watches (a rollback adjusts the others' snapshots); empty for any other place. */
  readonly watchers: ArrayWatch[];
  constructor(
    readonly place: Place,
    /** The object, scope, Map, Set or array. */
    readonly container: object,
    /** The property key, variable name, Map key or Set member; undefined for an array. */
    readonly key: unknown,
    readonly get: Getter | undefined,
    readonly set: Setter | undefined,
  ) {
    this.watchers = place === Place.Array ? [] : NO_WATCHERS;
  }
}
const NO_WATCHERS: ArrayWatch[] = [];

/** Reads loc's current value into readHad and readValue. Not for arrays. */
function read(loc: Location): void {
  switch (loc.place) {
    case Place.Property:
      readHad = hasOwn.call(loc.container, loc.key as PropertyKey);
      readValue = readHad ? (loc.container as any)[loc.key as PropertyKey] : undefined;
      return;
    case Place.Variable:
      readValue = loc.get!();
      readHad = true;
      return;
    case Place.MapEntry:
      readHad = MapHas.call(loc.container, loc.key) as boolean;
      readValue = readHad ? MapGet.call(loc.container, loc.key) : undefined;
      return;
    case Place.SetMember:
      readHad = SetHas.call(loc.container, loc.key) as boolean;
      readValue = true;
  }
}

/** Puts a value back (had false: the property, entry or member is removed). Not for arrays. */
function writeBack(loc: Location, had: boolean, value: unknown): void {
  const c = loc.container as any;
  switch (loc.place) {
    case Place.Property:
      if (had) c[loc.key as PropertyKey] = value;
      else delete c[loc.key as PropertyKey];
      return;
    case Place.Variable:
      loc.set!(value);
      return;
    case Place.MapEntry:
      if (had) MapSet.call(c, loc.key, value);
      else MapDelete.call(c, loc.key);
      return;
    case Place.SetMember:
      if (had) SetAdd.call(c, loc.key);
      else SetDelete.call(c, loc.key);
  }
}

function unindex(loc: Location): void {
  switch (loc.place) {
    case Place.Property:
    case Place.Variable:
      return propIndex.remove(loc.container, loc.key, loc);
    case Place.MapEntry:
      return mapIndex.remove(loc.container as Map<unknown, unknown>, loc.key, loc);
    case Place.SetMember:
      return setIndex.remove(loc.container as Set<unknown>, loc.key, loc);
    case Place.Array:
      if (arrayIndex.get(loc.container as unknown[]) === loc) arrayIndex.delete(loc.container as unknown[]);
  }
}

/**
 * A watch of a whole array: where it started and what its rollback needs
 * besides the log. (A value location's watch is two slots of its journal,
 * see addToJournal: no object.)
 */
class ArrayWatch {
  /** The log overflowed before the watcher ended. */
  unresolved = false;
  /** Its index in loc.watchers, -1 once it left. */
  slot = -1;
  /** Where it started watching: the log's end then. */
  readonly seq: number;
  constructor(
    readonly ctx: RequestContext,
    readonly loc: Location,
  ) {
    this.seq = logEnd(loc);
  }
  snapshot: unknown[] | undefined = undefined; // contents before the first Mutate
  /**
   * The values this watcher pushed, in order, to find them again by value if
   * others reorder the array. Kept here, not in the shared log, so that they
   * are dropped when this request commits rather than when the location's
   * oldest watcher does (a long upload would otherwise keep every other
   * request's pushed values alive).
   */
  appended: unknown[] | undefined = undefined;
  appendedKnown = true; // every push of this watcher recorded its values
  snapshotLen = 0; // length before this watcher's first write
  snapshotClean = true; // nobody else wrote between the first write and the snapshot
}

// --- indexes: container object -> key -> location --------------------------
//
// WeakMaps, by container: a location holds its container anyway while it is
// watched, and an unwatched one is unindexed by the idle sweep (see unwatch).
// Not Maps: once a Map has lived through a full collection, the objects
// that pass through it (set, then deleted soon after) get promoted to the
// old generation by young-generation collections (measured on Node 20 and
// 24: such a Map, indexing 8 objects at a time, promoted all 3 M objects
// that went through it, 1.9 GB; the same Map without the full collection, or
// a WeakMap, promoted 7 MB).
// Under `--instrument all` the containers are mostly a framework's
// per-request objects, and through a Map each request's objects reached the
// old generation: Fastify's realistic app promoted ~2 KB a request and ran
// mark-compacts under load.

/**
 * container -> key -> location. A container's keys are a flat array
 * [key, location, key, location, ...] while it has few (most objects a
 * request writes have one to a handful: a session's fields, a framework's
 * per-request object), a Map past SMALL_KEYS: no Map to build, hash and
 * shrink again for each short-lived container. It remembers the last
 * container it found: writes come in runs on one object (a session's fields
 * one after another, a cache's delete + set), and each run then costs one
 * hash lookup, not two.
 */
type Keys<L> = unknown[] | Map<unknown, L>;
const SMALL_KEYS = 8;
const isArray = Array.isArray;

/** SameValueZero, as Map compares keys. */
const sameKey = (a: unknown, b: unknown) => a === b || (a !== a && b !== b);

class LocationIndex<C extends object, L> {
  private readonly byContainer = new WeakMap<C, Keys<L>>();
  private lastContainer: C | undefined = undefined;
  private lastKeys: Keys<L> | undefined = undefined;
  /** Whether the container of the last find has any location indexed. */
  known = false;

  private keysOf(container: C): Keys<L> | undefined {
    if (container === this.lastContainer) return this.lastKeys;
    const keys = this.byContainer.get(container);
    if (keys !== undefined) {
      this.lastContainer = container;
      this.lastKeys = keys;
    }
    return keys;
  }

  find(container: C, key: unknown): L | undefined {
    const keys = this.keysOf(container);
    if (keys === undefined) {
      this.known = false;
      return undefined;
    }
    this.known = true;
    if (!isArray(keys)) return keys.get(key);
    for (let i = 0; i < keys.length; i += 2) if (sameKey(keys[i], key)) return keys[i + 1] as L;
    return undefined;
  }

  add(container: C, key: unknown, loc: L): void {
    const keys = this.keysOf(container);
    if (keys === undefined) {
      const fresh: unknown[] = [key, loc];
      this.byContainer.set(container, fresh);
      this.lastContainer = container;
      this.lastKeys = fresh;
    } else if (!isArray(keys)) {
      keys.set(key, loc);
    } else if (keys.length < 2 * SMALL_KEYS) {
      const end = keys.length;
      keys[end] = key;
      keys[end + 1] = loc;
    } else {
      const map = new Map<unknown, L>();
      for (let i = 0; i < keys.length; i += 2) map.set(keys[i], keys[i + 1] as L);
      map.set(key, loc);
      this.byContainer.set(container, map);
      this.lastKeys = map; // keysOf made it the last container
    }
  }

  remove(container: C, key: unknown, loc: L): void {
    const keys = this.byContainer.get(container);
    if (keys === undefined) return;
    let empty: boolean;
    if (isArray(keys)) {
      let i = 0;
      while (i < keys.length && !(sameKey(keys[i], key) && keys[i + 1] === loc)) i += 2;
      if (i === keys.length) return;
      // Unordered: the last pair takes its place.
      const last = keys.length - 2;
      keys[i] = keys[last];
      keys[i + 1] = keys[last + 1];
      // Two pops, not a length store (which goes through the runtime).
      keys.pop();
      keys.pop();
      empty = last === 0;
    } else {
      if (keys.get(key) !== loc) return;
      keys.delete(key);
      empty = keys.size === 0;
    }
    if (!empty) return;
    this.byContainer.delete(container);
    if (this.lastContainer === container) {
      // Not kept alive by the cache once it is out of the index.
      this.lastContainer = undefined;
      this.lastKeys = undefined;
    }
  }
}

const propIndex = new LocationIndex<object, Location>();
const mapIndex = new LocationIndex<Map<unknown, unknown>, Location>();
const setIndex = new LocationIndex<Set<unknown>, Location>();
const arrayIndex = new WeakMap<unknown[], Location>();

const hasOwn = Object.prototype.hasOwnProperty;
const getOwnPropertyDescriptor = Object.getOwnPropertyDescriptor;
const MapGet = Map.prototype.get;
const MapHas = Map.prototype.has;
const MapSet = Map.prototype.set;
const MapDelete = Map.prototype.delete;
const SetHas = Set.prototype.has;
const SetAdd = Set.prototype.add;
const SetDelete = Set.prototype.delete;
const ArraySplice = Array.prototype.splice;
const ArrayPush = Array.prototype.push;
const ArraySlice = Array.prototype.slice;
const ArrayLastIndexOf = Array.prototype.lastIndexOf;

// --- journals ----------------------------------------------------------------

/**
 * A context's journal (ctx.journal), one pair of slots per watch: a value
 * location and the log position where its watch started, or an array's
 * ArrayWatch and -1. Flat and young: a value watch costs no object, and a
 * commit reads the journal front to back.
 */
type Journal = unknown[];
const journalOf = (ctx: RequestContext) => ctx.journal as Journal | undefined;
const ARRAY_WATCH = -1;

/** Number of journals open; the instrumented code's fast path checks it through `runtime.a`. */
let openJournals = 0;

/**
 * Thrown into a recovered request's code when it tries to write shared state
 * (a promise continuation that was already queued cannot be cancelled): its
 * effects were rolled back and must stay so. Attributed to the dead request,
 * it is suppressed and counted like any of its follow-up errors.
 */
export class RequestRecoveredError extends Error {
  override name = 'SrsRequestRecovered';
  constructor(id: number) {
    super(`request ${id} was recovered; its remaining code may not write shared state`);
  }
}

function currentWriter(): RequestContext | null {
  const ctx = storage.getStore();
  if (ctx === undefined) return null;
  if (ctx.state !== ContextState.Live) throw new RequestRecoveredError(ctx.id);
  return ctx;
}

/**
 * Past this many watches a journal is also indexed by location (see
 * findSlot). A request of a framework instrumented whole (`--instrument
 * all`) writes ~20 locations: a scan of that many slots costs less than
 * building a Map for each such request.
 */
const JOURNAL_SCAN = 32;

/**
 * Where ctx's watch of loc sits in its journal (the location's slot), or -1:
 * none when nobody watches loc; else found in ctx's own journal (young,
 * usually a handful of watches), newest first, or through its index once it
 * is long. A watch that gave its location up (see overflow) is none: a new
 * write opens a new one.
 */
function findSlot(loc: Location, ctx: RequestContext): number {
  if (loc.watching === 0) return -1;
  const own = journalOf(ctx);
  if (own === undefined) return -1;
  const index = ctx.journalIndex;
  let at = -1;
  if (index !== undefined) {
    at = (index.get(loc) as number | undefined) ?? -1;
  } else {
    for (let i = own.length - 2; i >= 0; i -= 2) {
      if (locationAt(own, i) === loc) {
        at = i;
        break;
      }
    }
  }
  return at !== -1 && isCurrent(own, at) ? at : -1;
}

/** The location of the watch at slot `at` of a journal. */
function locationAt(journal: Journal, at: number): unknown {
  return journal[at + 1] === ARRAY_WATCH ? (journal[at] as ArrayWatch).loc : journal[at];
}

/** Whether the watch at slot `at` of a journal still holds its location (see overflow). */
function isCurrent(journal: Journal, at: number): boolean {
  const seq = journal[at + 1] as number;
  if (seq === ARRAY_WATCH) return !(journal[at] as ArrayWatch).unresolved;
  return seq >= (journal[at] as Location).base;
}

/** Adds a watch to ctx's journal (opening the journal on its first one); returns its slot. */
function addToJournal(ctx: RequestContext, loc: Location, entry: unknown, seq: number): number {
  if (loc.idle) loc.reused = true;
  loc.watching++;
  let list = journalOf(ctx);
  if (list === undefined) {
    list = [];
    ctx.journal = list;
    openJournals++;
    markOpen(ctx.id);
    onJournalOpened(ctx);
  }
  const at = list.length;
  list[at] = entry;
  list[at + 1] = seq;
  if (ctx.journalIndex !== undefined) ctx.journalIndex.set(loc, at);
  else if (list.length > 2 * JOURNAL_SCAN) ctx.journalIndex = indexJournal(list);
  return at;
}

/** A long journal's index: location -> the slot of its newest watch. */
function indexJournal(list: Journal): Map<unknown, unknown> {
  const index = new Map<unknown, unknown>();
  for (let i = 0; i < list.length; i += 2) index.set(locationAt(list, i), i);
  return index;
}

/** Starts ctx's watch of an array. */
function openArrayWatch(ctx: RequestContext, loc: Location): ArrayWatch {
  const watch = new ArrayWatch(ctx, loc);
  watch.slot = loc.watchers.length;
  loc.watchers.push(watch);
  addToJournal(ctx, loc, watch, ARRAY_WATCH);
  return watch;
}

// --- which writers still have a journal open ----------------------------------
//
// A log names its writers by id. The oldest watcher of a location is the
// writer of the first entry whose journal is still open (a watch starts at
// its writer's first entry), so a trim finds it in the log. Open ids sit in
// a typed array by their low bits (no collector barrier, no hashing); an
// open id whose slot is taken by another (a connection open for 4,096
// requests) waits in a set.

const OPEN_SLOTS = 1 << 12; // 32 KB
const openSlots = new Float64Array(OPEN_SLOTS);
const openElsewhere = new Set<number>();

function markOpen(id: number): void {
  const slot = id & (OPEN_SLOTS - 1);
  if (openSlots[slot] === 0) openSlots[slot] = id;
  else openElsewhere.add(id);
}

function markClosed(id: number): void {
  const slot = id & (OPEN_SLOTS - 1);
  if (openSlots[slot] === id) openSlots[slot] = 0;
  else openElsewhere.delete(id);
}

function isOpen(id: number): boolean {
  return openSlots[id & (OPEN_SLOTS - 1)] === id || (openElsewhere.size !== 0 && openElsewhere.has(id));
}

/** Index of the first entry at or after `from` written by an open journal (other than `except`), or the log's length. */
function oldestLiveEntry(log: unknown[], from: number, except: number): number {
  for (let i = from; i < log.length; i += STRIDE) {
    const writer = log[i] as number;
    if (writer !== NO_WRITER && writer !== except && isOpen(writer)) return i;
  }
  return log.length;
}

/** Called by the context layer when a journal opens (to schedule its commit). */
let onJournalOpened: (ctx: RequestContext) => void = () => {};
export function setJournalOpenedHook(hook: (ctx: RequestContext) => void): void {
  onJournalOpened = hook;
}

export function journalsOpen(): number {
  return openJournals;
}

/** Its number of watches. */
export function journalSize(ctx: RequestContext): number {
  return (journalOf(ctx)?.length ?? 0) >> 1;
}

function append(loc: Location, writer: Writer, kind: WriteKind, a: unknown, b: unknown): void {
  const log = loc.log;
  // The writer's id, not the context: a log outlives the requests in it, and
  // a context holds its request's whole object graph.
  // Stores at the end, not push: TurboFan inlines a store that grows an
  // array by one, where push here (its receivers' elements kinds vary from
  // location to location) ended up calling the generic builtin.
  const end = log.length;
  log[end] = writer === null ? NO_WRITER : writer.id;
  log[end + 1] = kind;
  log[end + 2] = a;
  log[end + 3] = b;
  if (end + STRIDE > LOG_CAP * STRIDE) overflow(loc);
  // A value location's log is trimmed here, where it is in the cache anyway
  // (an array's when a watcher leaves, see leaveArray). Trimmed when it has
  // doubled since it was last looked at: finding the oldest watcher costs a
  // pass over the log.
  else if (end + STRIDE >= loc.trimAt && loc.place !== Place.Array) trim(loc, false);
}

/** The oldest watcher gives the location up; the log is trimmed to the next one. */
function overflow(loc: Location): void {
  if (loc.place === Place.Array) {
    const oldest = loc.watchers.reduce((a, b) => (b.seq < a.seq ? b : a));
    oldest.unresolved = true;
    leaveArray(oldest); // the journal keeps it, marked unresolved
    if (loc.watching > 0) trim(loc, true);
    return;
  }
  // The oldest watcher's log is cut from under it (start < base: it no
  // longer holds the location, see isCurrent); it still counts until its
  // journal closes.
  const log = loc.log;
  const first = oldestLiveEntry(log, 0, NO_WRITER);
  // No open writer left in it (only cut watchers, and writes from outside any request): all of it goes.
  cut(loc, first === log.length ? first : oldestLiveEntry(log, first + STRIDE, log[first] as number));
}

/** Drops the log's first `at` slots. */
function cut(loc: Location, at: number): void {
  loc.log = loc.log.slice(at);
  loc.base += at >> LOG_SHIFT;
}

/**
 * Empties the log of a location nobody watched since it went stale (see
 * Location.stale). A new array rather than the old one emptied: the old
 * one's backing store was last written a turn of the event loop ago and is
 * out of the cache, a young one is not (measured: ~2-4 % less CPU a request
 * on the realistic app).
 */
function freshen(loc: Location): void {
  loc.stale = false;
  // Positions start again from 0 (the old log is not even read): no journal
  // holds a watch of a stale location, so no position from before is compared again.
  loc.base = 0;
  loc.log = [];
  loc.trimAt = TRIM_MIN;
}

/** Records a write to a location before it happens; opens a watch for a live request. */
function recordValueWrite(loc: Location, writer: Writer, kind: WriteKind): void {
  if (writer !== null) {
    if (findSlot(loc, writer) === -1) {
      if (loc.stale) freshen(loc);
      addToJournal(writer, loc, loc, logEnd(loc));
    }
  } else if (loc.watching === 0) {
    return; // an idle location: nobody needs its history
  }
  read(loc);
  append(loc, writer, kind, readHad, readValue);
}

// --- write barriers (called by instrumented code through runtime.ts) ---------

function isObject(value: unknown): value is object {
  return (typeof value === 'object' && value !== null) || typeof value === 'function';
}

/** The context's own request objects die with it: no need to journal them. */
function ownedBy(ctx: RequestContext, obj: object): boolean {
  return (ctx as { req?: unknown }).req === obj || (ctx as { res?: unknown }).res === obj;
}

/**
 * A Proxy is not journaled: reading it to journal would call its traps, which
 * the program can observe. Its handler's own writes are journaled where the
 * handler is instrumented.
 */
const isProxy = (require('node:util') as typeof import('node:util')).types.isProxy;

export function propertyWrite(obj: unknown, key: PropertyKey, kind: WriteKind): void {
  if (!isObject(obj)) return;
  if (Array.isArray(obj)) return arrayWrite(obj, WriteKind.Mutate, 0);
  if (typeof key === 'number') key = String(key);
  let loc = propIndex.find(obj, key);
  const known = propIndex.known;
  const writer = currentWriter();
  if (loc === undefined || (loc.watching === 0 && writer !== null)) {
    if (writer === null || ownedBy(writer, obj)) return;
    // A proxy stays one: checked once, before its first location is made
    // (an object with locations is not one).
    if (!known && isProxy(obj)) return;
    // An accessor's setter's writes are what count. Checked again when an idle
    // location is watched again: the property may have been redefined since.
    const desc = getOwnPropertyDescriptor(obj, key);
    if (desc !== undefined && (desc.get !== undefined || desc.set !== undefined)) return;
    if (loc === undefined) {
      loc = new Location(Place.Property, obj, key, undefined, undefined);
      propIndex.add(obj, key, loc);
    }
  }
  recordValueWrite(loc, writer, kind);
}

export function variableWrite(scope: object, name: string, get: () => unknown, set: (v: unknown) => void, kind: WriteKind): void {
  let loc = propIndex.find(scope, name);
  const writer = currentWriter();
  if (loc === undefined) {
    // (A scope this very request created never gets here: see barrier.vs.)
    if (writer === null) return;
    loc = new Location(Place.Variable, scope, name, get, set);
    propIndex.add(scope, name, loc);
  }
  recordValueWrite(loc, writer, kind);
}

export function mapWrite(map: Map<unknown, unknown>, key: unknown, kind: WriteKind): void {
  let loc = mapIndex.find(map, key);
  const writer = currentWriter();
  if (loc === undefined) {
    if (writer === null) return;
    loc = new Location(Place.MapEntry, map, key, undefined, undefined);
    mapIndex.add(map, key, loc);
  }
  recordValueWrite(loc, writer, kind);
}

export function setWrite(set: Set<unknown>, member: unknown, kind: WriteKind): void {
  let loc = setIndex.find(set, member);
  const writer = currentWriter();
  if (loc === undefined) {
    if (writer === null) return;
    loc = new Location(Place.SetMember, set, member, undefined, undefined);
    setIndex.add(set, member, loc);
  }
  recordValueWrite(loc, writer, kind);
}

/**
 * Append (push) adds `count` elements at the end (`values`, when known, are
 * kept to find them again); Shift takes `count` off the front; anything else
 * is a Mutate (or a Replace of every element).
 */
export function arrayWrite(arr: unknown[], kind: WriteKind.Append | WriteKind.Shift | WriteKind.Mutate | WriteKind.Replace, count: number, values?: unknown[]): void {
  let loc = arrayIndex.get(arr);
  const writer = currentWriter();
  if (loc === undefined) {
    if (writer === null || isProxy(arr)) return;
    loc = new Location(Place.Array, arr, undefined, undefined, undefined);
    arrayIndex.set(arr, loc);
  }
  if (writer === null && loc.watching === 0) return; // idle: nobody needs its history
  if (writer !== null) {
    const at = findSlot(loc, writer);
    let watch: ArrayWatch;
    if (at !== -1) {
      watch = journalOf(writer)![at] as ArrayWatch;
    } else {
      watch = openArrayWatch(writer, loc);
      watch.snapshotLen = arr.length;
    }
    if (kind !== WriteKind.Append && watch.snapshot === undefined) {
      watch.snapshot = ArraySlice.call(arr);
      // Clean when nobody else wrote between this watcher's first write and now.
      for (let i = (watch.seq - loc.base) * STRIDE; i < loc.log.length; i += STRIDE) {
        if (loc.log[i] !== writer.id) watch.snapshotClean = false;
      }
    }
    if (kind === WriteKind.Append) {
      if (values === undefined) watch.appendedKnown = false;
      else if (watch.appended === undefined) watch.appended = values;
      else for (let i = 0; i < values.length; i++) watch.appended.push(values[i]);
    }
  }
  // A Shift's entry keeps what it takes off, as [writer, Shift, lengthBefore, removed].
  append(loc, writer, kind, arr.length, kind === WriteKind.Shift ? ArraySlice.call(arr, 0, count) : count);
}

// --- commit and rollback -----------------------------------------------------

/**
 * Locations nobody watches any more stay indexed for a while: the same hot
 * locations (a counter, a cache's entries) are written by request after
 * request, and building and indexing them again each time is most of what a
 * journaled write costs. A sweep, every IDLE_SWEEP (or more) locations that
 * went idle, unindexes those nobody watched again since the last one and
 * keeps the others for one more round. So the location of an object that
 * lived for one request (a framework's per-request object, written outside
 * its constructor) is let go within a few requests: a location holds its
 * object, and request objects held past a young-generation collection are
 * copied and promoted with everything they reference. Memory stays bounded
 * by what recent requests wrote.
 */
let idleLocations: Array<Location> = [];
const IDLE_SWEEP = 64;
/** The idle list's length at which the next sweep runs (see sweepIdle). */
let sweepAt = IDLE_SWEEP;
/** A server that goes quiet still lets go of what its last requests wrote. */
const IDLE_SWEEP_MS = 5000;
let sweepTimer: ReturnType<typeof setTimeoutOrig> | undefined;

function sweepIdle(): void {
  const list = idleLocations;
  idleLocations = [];
  for (let i = 0; i < list.length; i++) {
    const loc = list[i]!;
    if (loc.watching !== 0) {
      // Watched now: back in the list when it is left again.
      loc.idle = false;
      loc.reused = false;
    } else if (loc.reused) {
      loc.reused = false;
      // What its last watchers' log holds is let go too.
      if (loc.stale) freshen(loc);
      idleLocations.push(loc);
    } else {
      loc.idle = false;
      unindex(loc);
    }
  }
  // As many new idle locations as were kept (at least IDLE_SWEEP) before the
  // next sweep: a pass over the kept ones costs O(1) per location that went idle.
  sweepAt = idleLocations.length + Math.max(IDLE_SWEEP, idleLocations.length);
}

/** The timer's sweep; a sweep that the count started leaves the timer running (re-arming it costs more than a sweep). */
function sweepOnTimer(): void {
  sweepTimer = undefined;
  sweepIdle();
  if (idleLocations.length !== 0) scheduleSweep();
}

function scheduleSweep(): void {
  // Outside any request: the timer would otherwise hold that request's context for its 5 s.
  sweepTimer = storage.exit(() => setTimeoutOrig(sweepOnTimer, IDLE_SWEEP_MS));
  sweepTimer.unref();
}

/**
 * Empties a log in place, keeping its backing store for the next request's
 * writes: setting `length = 0` goes through the runtime (several times the
 * cost of a few pops); a long log is cut at once.
 */
function clearLog(log: unknown[]): void {
  if (log.length > 8 * STRIDE) log.length = 0;
  else while (log.length !== 0) log.pop();
}

/** A location lost a watcher: past its last one it goes stale and idle. */
function unwatch(loc: Location): void {
  if (--loc.watching !== 0) return;
  if (loc.place === Place.Array) {
    loc.base = logEnd(loc);
    clearLog(loc.log);
    loc.trimAt = TRIM_MIN;
  } else {
    loc.stale = true;
  }
  if (!loc.idle) {
    loc.idle = true;
    const idle = idleLocations.length + 1;
    idleLocations[idle - 1] = loc;
    if (idle >= sweepAt) sweepIdle();
    else if (sweepTimer === undefined) scheduleSweep();
  }
}

/** Removes an array watch from its location, trimming the log no live watcher needs any more. */
function leaveArray(watch: ArrayWatch): void {
  const i = watch.slot;
  if (i === -1) return; // left already (unresolved, see overflow)
  watch.slot = -1;
  const loc = watch.loc;
  // Unordered: swap with the last one (splice would allocate its result array, shift copies).
  const watchers = loc.watchers;
  const last = watchers.pop()!;
  if (i < watchers.length) {
    watchers[i] = last;
    last.slot = i;
  }
  if (loc.watching === 1) return unwatch(loc);
  loc.watching--;
  // Trimmed when it has doubled since it was last looked at (finding the oldest watcher costs a pass over them all).
  if (loc.log.length >= loc.trimAt) trim(loc, false);
}

/** The journal's watch at slot `at` leaves its location. */
function leave(journal: Journal, at: number): void {
  if (journal[at + 1] === ARRAY_WATCH) leaveArray(journal[at] as ArrayWatch);
  else unwatch(journal[at] as Location);
}

/** Drops the log's entries from before its oldest watcher (when that halves it, unless forced). */
function trim(loc: Location, force: boolean): void {
  let drop: number; // slots
  if (loc.place === Place.Array) {
    let min = Infinity;
    for (let w = 0; w < loc.watchers.length; w++) if (loc.watchers[w]!.seq < min) min = loc.watchers[w]!.seq;
    drop = (min - loc.base) * STRIDE;
  } else {
    // Entries of a writer whose journal closed and opened again (late work)
    // or whose watch was cut (see overflow) count as its oldest: trimmed less, never more.
    drop = oldestLiveEntry(loc.log, 0, NO_WRITER);
  }
  if (drop > 0 && (force || drop * 2 >= loc.log.length)) cut(loc, drop);
  loc.trimAt = Math.max(TRIM_MIN, 2 * loc.log.length);
}

function closeJournal(ctx: RequestContext): Journal {
  const list = journalOf(ctx);
  if (list === undefined) return [];
  ctx.journal = undefined;
  ctx.journalIndex = undefined;
  openJournals--;
  markClosed(ctx.id);
  return list;
}

/** The request's work has ended normally: its journal is dropped. */
export function commit(ctx: RequestContext): void {
  const list = closeJournal(ctx);
  for (let i = 0; i < list.length; i += 2) leave(list, i);
}

/** Takes the faulty request's effects out of every location it wrote. */
export function rollback(ctx: RequestContext): RollbackCounts & { journal: number } {
  const counts: RollbackCounts = { restored: 0, compensated: 0, cleansed: 0, propagated: 0, unresolved: 0 };
  const F = ctx.id;
  const list = closeJournal(ctx);
  for (let i = 0; i < list.length; i += 2) {
    if (!isCurrent(list, i)) counts.unresolved++;
    else if (list[i + 1] === ARRAY_WATCH) rollbackArray(list[i] as ArrayWatch, counts);
    else rollbackValue(F, list[i + 1] as number, list[i] as Location, counts);
    leave(list, i);
  }
  return { ...counts, journal: list.length >> 1 };
}

function isNumeric(v: unknown): boolean {
  return typeof v === 'number' || typeof v === 'bigint';
}

/** F: the faulty request's id, as the log names writers; seq: where its watch of loc started. */
function rollbackValue(F: number, seq: number, loc: Location, counts: RollbackCounts): void {
  const log = loc.log;
  const start = (seq - loc.base) * STRIDE;
  read(loc);
  const curHad = readHad;
  const cur = readValue;
  let had = log[start + 2] as boolean;
  let value = log[start + 3];
  let foreign = false;
  let lastForeignAssign = -1;
  let lastOwn = start;
  let propagated = false;
  for (let i = start; i < log.length; i += STRIDE) {
    const writer = log[i];
    const kind = log[i + 1] as WriteKind;
    const before = log[i + 3];
    // From here on the log tells the history without F: another watcher that
    // started after F's first write (a second faulty request) starts its replay
    // from, and takes its deltas against, these values, not ones that hold F's.
    log[i + 2] = had;
    log[i + 3] = value;
    if (writer === F) {
      lastOwn = i;
      continue;
    }
    if (kind === WriteKind.Noop) continue;
    foreign = true;
    const nextHad = i + STRIDE < log.length ? (log[i + STRIDE + 2] as boolean) : curHad;
    const next = i + STRIDE < log.length ? log[i + STRIDE + 3] : cur;
    // A counter made on first use counts from 0 where it is missing (in the
    // history without F, or before this write).
    const counted = kind === WriteKind.CountDelta;
    const from = counted && (!had || value == null) ? 0 : value;
    const delta = counted && before == null ? 0 : before;
    if ((kind === WriteKind.Delta || counted) && (had || counted) && isNumeric(from) && isNumeric(delta) && isNumeric(next) && typeof from === typeof next) {
      value = (from as number) + ((next as number) - (delta as number)); // keep their delta, drop ours
      had = true;
    } else {
      if (kind === WriteKind.Delta || counted || kind === WriteKind.Update) {
        // It read the value the faulty request left (unless another request
        // assigned a clean value since): its result carries that value on.
        if (lastOwn > lastForeignAssign) propagated = true;
      }
      had = nextHad;
      value = next;
      lastForeignAssign = i;
    }
  }
  if (propagated) counts.propagated++;
  const changed = had !== curHad || !Object.is(value, cur);
  if (!foreign) counts.restored++;
  else if (lastForeignAssign > lastOwn && !changed) counts.cleansed++;
  else counts.compensated++;
  // Before the append below: an overflow there may trim (replace) the log.
  for (let i = start; i < log.length; i += STRIDE) if (log[i] === F) log[i + 1] = WriteKind.Noop;
  if (changed) {
    // Others' later replays must see the restoration as a no-op, not as a
    // write: in the history without F the value already is the restored one.
    append(loc, null, WriteKind.Noop, had, value);
    try {
      writeBack(loc, had, value);
    } catch {
      counts.unresolved++; // frozen since, or a setter that refuses: nothing else to do
    }
  }
}

/** Others' recorded append positions after our removed elements move down with them. */
function shiftLaterAppends(loc: Location, start: number, F: number, removed: Array<[number, number]>): void {
  const shiftFor = (pos: number) => removed.reduce((n, [at, count]) => (at < pos ? n + Math.min(count, pos - at) : n), 0);
  for (let i = start; i < loc.log.length; i += STRIDE) {
    if (loc.log[i] !== F && loc.log[i + 1] === WriteKind.Append) loc.log[i + 2] = (loc.log[i + 2] as number) - shiftFor(loc.log[i + 2] as number);
  }
  for (const w of loc.watchers) if (w.ctx.id !== F) w.snapshotLen -= shiftFor(w.snapshotLen);
}

/**
 * A bounded list: elements pushed at the end and, whenever it grew past its
 * capacity, the oldest taken off the front (shift, splice(0, n)) back to that
 * capacity, by everyone, since the faulty request's first write. Without the
 * faulty request it would hold the newest `capacity` elements of everything
 * pushed minus its own, and those are all known: what was taken off the front
 * is in the log, the rest is in the array. The log is then told again as that
 * history, so that another faulty request's rollback reads a true one.
 * Returns false, changing nothing, when the log shows any other use.
 */
function rollbackTrimmed(watch: ArrayWatch, loc: Location, start: number, counts: RollbackCounts): boolean {
  const log = loc.log;
  const arr = loc.container as unknown[];
  const F = watch.ctx.id;
  // The history since the watch began, as E: every element that was in the
  // array, in push order (its first snapshotLen elements were there already).
  const taken: unknown[] = []; // E's front: what was taken off, in order
  const own: boolean[] = []; // E index -> pushed by F
  let len = watch.snapshotLen;
  let capacity = -1;
  let foreign = false;
  let pushedBy: unknown = undefined; // the writer of the entry before, if it pushed
  for (let i = start; i < log.length; i += STRIDE) {
    const kind = log[i + 1] as WriteKind;
    if (kind === WriteKind.Noop) continue;
    if (log[i + 2] !== len) return false;
    if (log[i] !== F) foreign = true;
    const previous = pushedBy;
    pushedBy = kind === WriteKind.Append ? log[i] : undefined;
    if (kind === WriteKind.Append) {
      const count = log[i + 3] as number;
      for (let c = 0; c < count; c++) own[taken.length + len + c] = log[i] === F;
      len += count;
    } else if (kind === WriteKind.Shift) {
      const removed = log[i + 3] as unknown[];
      if (removed.length === 0) continue; // at or under capacity (or empty): took nothing
      // A trim follows its own push; a consumer taking the oldest (a job
      // queue) is another story, which a capacity would tell wrongly.
      if (previous !== log[i]) return false;
      const after = len - removed.length;
      if (capacity !== -1 && after !== capacity) return false;
      capacity = after;
      for (let r = 0; r < removed.length; r++) taken.push(removed[r]);
      len = after;
    } else {
      return false;
    }
  }
  if (capacity === -1 || len !== arr.length || len > capacity) return false;
  // E without F's elements, and the newest `capacity` of them.
  const history: unknown[] = [];
  const total = taken.length + arr.length;
  for (let e = 0; e < total; e++) if (own[e] !== true) history.push(e < taken.length ? taken[e] : arr[e - taken.length]);
  const kept = history.slice(Math.max(0, history.length - capacity));
  // The log told again without F: others' pushes, and their trims back to capacity.
  let at = watch.snapshotLen; // the array's length in that history
  let next = 0; // index in history of the element at the array's front
  const lengthAt = new Map<number, number>(); // log index -> length before it, for other watchers that start there
  for (let i = start; i < log.length; i += STRIDE) {
    lengthAt.set(i, at);
    const kind = log[i + 1] as WriteKind;
    if (kind === WriteKind.Noop) continue;
    if (log[i] === F) {
      log[i + 1] = WriteKind.Noop;
      continue;
    }
    log[i + 2] = at;
    if (kind === WriteKind.Append) at += log[i + 3] as number;
    else {
      const n = Math.max(0, at - capacity);
      log[i + 3] = history.slice(next, next + n);
      next += n;
      at -= n;
    }
  }
  for (const w of loc.watchers) {
    if (w === watch || w.seq <= watch.seq) continue;
    w.snapshotLen = lengthAt.get((w.seq - loc.base) * STRIDE) ?? at;
    // A snapshot it took already holds the faulty request's elements.
    if (w.snapshot !== undefined) w.snapshotClean = false;
  }
  ArraySplice.call(arr, 0, arr.length);
  ArrayPush.apply(arr, kept);
  if (foreign) counts.compensated++;
  else counts.restored++;
  return true;
}

function rollbackArray(watch: ArrayWatch, counts: RollbackCounts): void {
  const loc = watch.loc;
  const arr = loc.container as unknown[];
  const F = watch.ctx.id; // as the log names writers
  const log = loc.log;
  const start = (watch.seq - loc.base) * STRIDE;
  if (rollbackTrimmed(watch, loc, start, counts)) return;
  let ownMutate = false;
  let foreignMutateAfterLast = false;
  let foreignMutateBeforeLast = false;
  let foreignAppendsBeforeLast = false;
  let foreignAppendedAfter = 0;
  let foreignReplaceAfterLast = false;
  const ownRanges: Array<[number, number]> = [];
  const ownValues = watch.appended ?? [];
  const ownValuesKnown = watch.appendedKnown;
  let lastOwn = start;
  for (let i = start; i < log.length; i += STRIDE) if (log[i] === F) lastOwn = i;
  for (let i = start; i < log.length; i += STRIDE) {
    const writer = log[i];
    const kind = log[i + 1] as WriteKind;
    if (kind === WriteKind.Noop) continue;
    if (writer === F) {
      if (kind !== WriteKind.Append) ownMutate = true;
      else {
        ownRanges.push([log[i + 2] as number, (log[i + 3] as number)]);
      }
      continue;
    }
    const after = i > lastOwn;
    if (kind === WriteKind.Replace && after) foreignReplaceAfterLast = true;
    if (kind === WriteKind.Mutate || kind === WriteKind.Replace || kind === WriteKind.Shift) {
      if (after) foreignMutateAfterLast = true;
      else foreignMutateBeforeLast = true;
    } else if (after) foreignAppendedAfter += (log[i + 3] as number);
    else foreignAppendsBeforeLast = true;
  }
  const foreign = foreignMutateAfterLast || foreignMutateBeforeLast || foreignAppendsBeforeLast || foreignAppendedAfter > 0;
  const neutralize = () => {
    for (let i = start; i < log.length; i += STRIDE) if (log[i] === F) log[i + 1] = WriteKind.Noop;
  };
  if (foreignReplaceAfterLast) {
    // Another request replaced every element after our last write.
    counts.cleansed++;
    return neutralize();
  }
  if ((foreignMutateAfterLast || foreignMutateBeforeLast) && !ownMutate && ownValuesKnown) {
    // Others reordered or removed elements since (a ring buffer's shift, a
    // sort): positions say nothing any more, so find our appended values
    // themselves, latest first. Those already gone were cleansed by others.
    let found = 0;
    for (let v = ownValues.length - 1; v >= 0; v--) {
      const at = ArrayLastIndexOf.call(arr, ownValues[v]);
      if (at !== -1) {
        ArraySplice.call(arr, at, 1);
        found++;
      }
    }
    if (found > 0) counts.compensated++;
    else counts.cleansed++;
    return neutralize();
  }
  if (!ownMutate && !foreignMutateBeforeLast && !foreignMutateAfterLast) {
    // Appends only, everyone's: positions are stable, take ours out.
    for (let r = ownRanges.length - 1; r >= 0; r--) ArraySplice.call(arr, ownRanges[r]![0], ownRanges[r]![1]);
    shiftLaterAppends(loc, start, F, ownRanges);
    if (foreign) counts.compensated++;
    else counts.restored++;
    return neutralize();
  }
  if (ownMutate && watch.snapshot !== undefined && watch.snapshotClean && !foreignMutateBeforeLast && !foreignMutateAfterLast && !foreignAppendsBeforeLast) {
    // The array as it was before our first write, plus whatever others appended after our last one.
    const tail = foreignAppendedAfter > 0 ? ArraySlice.call(arr, arr.length - foreignAppendedAfter) : [];
    const before = ArraySlice.call(watch.snapshot, 0, watch.snapshotLen);
    // A snapshot taken after our own earlier appends still contains them at the end.
    ArraySplice.call(arr, 0, arr.length);
    ArrayPush.apply(arr, before);
    ArrayPush.apply(arr, tail);
    if (foreign) counts.compensated++;
    else counts.restored++;
    return neutralize();
  }
  counts.unresolved++;
  neutralize();
}
