'use strict';
/**
 * The application logic of the "realistic" benchmark apps
 * (realistic-express.js, realistic-fastify.js): what a small API server keeps
 * in memory across requests, and therefore what SRS instruments and journals.
 *
 *  - a shared LRU cache (hand-written on a Map, as many apps do; LRU order is
 *    kept by delete + set, eviction by the Map's first key);
 *  - counters (per route, per status, bytes received);
 *  - a session map: session id (cookie `sid`, or header `x-session-id`) ->
 *    session object updated on every request (hits, last path, last seen,
 *    a bounded list of recent events).
 *
 * Each framework app only routes, parses the JSON body and sends the reply;
 * the handlers below return plain objects.
 */

class LRU {
  constructor(max) {
    this.max = max;
    this.map = new Map();
    this.hits = 0;
    this.misses = 0;
    this.evictions = 0;
  }

  get(key) {
    const value = this.map.get(key);
    if (value === undefined) {
      this.misses++;
      return undefined;
    }
    // most recently used goes last
    this.map.delete(key);
    this.map.set(key, value);
    this.hits++;
    return value;
  }

  set(key, value) {
    if (this.map.has(key)) this.map.delete(key);
    else if (this.map.size >= this.max) {
      this.map.delete(this.map.keys().next().value);
      this.evictions++;
    }
    this.map.set(key, value);
  }
}

const CATEGORIES = ['books', 'music', 'games', 'tools'];

// --- long-lived state ----------------------------------------------------------

const cache = new LRU(64);
const sessions = new Map();
const counters = { requests: 0, reads: 0, writes: 0, bytesIn: 0, byRoute: Object.create(null) };
let lastEventId = 0;

// --- helpers -------------------------------------------------------------------

/** The session id from the `sid` cookie or the x-session-id header, or null. */
function sessionId(headers) {
  const cookie = headers.cookie;
  if (typeof cookie === 'string') {
    const m = /(?:^|;\s*)sid=([^;]+)/.exec(cookie);
    if (m) return m[1];
  }
  const header = headers['x-session-id'];
  return typeof header === 'string' ? header : null;
}

/** The session of this request, created on first use, touched on every request. */
function touchSession(headers, route) {
  const id = sessionId(headers) || 'anonymous';
  let session = sessions.get(id);
  if (session === undefined) {
    session = { id, created: Date.now(), hits: 0, lastRoute: '', lastSeen: 0, recent: [] };
    sessions.set(id, session);
  }
  session.hits++;
  session.lastRoute = route;
  session.lastSeen = Date.now();
  return session;
}

function count(route) {
  counters.requests++;
  counters.byRoute[route] = (counters.byRoute[route] || 0) + 1;
}

/** A "database" read: what the cache saves (a small object built from the id). */
function loadUser(id) {
  const n = Number.parseInt(id, 10) || 0;
  return { id: String(id), name: `user ${id}`, email: `user${id}@example.com`, active: n % 7 !== 0, roles: n % 5 === 0 ? ['reader', 'editor'] : ['reader'] };
}

// --- handlers (framework-agnostic) ---------------------------------------------------

/** GET /users/:id */
function getUser(id, headers) {
  count('getUser');
  counters.reads++;
  const session = touchSession(headers, 'getUser');
  const key = `user:${id}`;
  let user = cache.get(key);
  if (user === undefined) {
    user = loadUser(id);
    cache.set(key, user);
  }
  return { user, session: { id: session.id, hits: session.hits } };
}

/** GET /products/:category/:id */
function getProduct(category, id, headers) {
  count('getProduct');
  counters.reads++;
  touchSession(headers, 'getProduct');
  const key = `product:${category}:${id}`;
  let product = cache.get(key);
  if (product === undefined) {
    const n = Number.parseInt(id, 10) || 0;
    product = { id: String(id), category, title: `${category} #${id}`, price: (n * 37) % 1000 / 10, inStock: n % 3 !== 0 };
    cache.set(key, product);
  }
  return { product, known: CATEGORIES.includes(category) };
}

/** POST /users/:id/events with a JSON body { type, value }. Returns [status, body]. */
function postEvent(id, body, headers) {
  count('postEvent');
  counters.writes++;
  if (body === null || typeof body !== 'object' || typeof body.type !== 'string') {
    return [400, { error: 'expected a JSON object with a string "type"' }];
  }
  counters.bytesIn += JSON.stringify(body).length;
  const session = touchSession(headers, 'postEvent');
  const event = { id: ++lastEventId, user: String(id), type: body.type, value: Number(body.value) || 0, at: Date.now() };
  session.recent.push(event);
  if (session.recent.length > 10) session.recent.splice(0, session.recent.length - 10);
  // The user's cached record carries its last event (a write to a cached, shared object).
  const user = cache.get(`user:${id}`);
  if (user !== undefined) user.lastEvent = event.type;
  return [201, { ok: true, event: event.id, recent: session.recent.length }];
}

/** GET /stats */
function getStats(headers) {
  count('getStats');
  touchSession(headers, 'getStats');
  return {
    requests: counters.requests,
    reads: counters.reads,
    writes: counters.writes,
    sessions: sessions.size,
    cache: { size: cache.map.size, hits: cache.hits, misses: cache.misses, evictions: cache.evictions },
  };
}

// --- a database call ---------------------------------------------------------------

/**
 * REALISTIC_WAIT_MS (set by the bench's --wait) makes every handler wait that
 * long after it has updated the state, as a call to a database would: requests
 * then overlap, and each long-lived location has as many requests watching it.
 */
const WAIT_MS = Number(process.env.REALISTIC_WAIT_MS) || 0;

/** Wraps a handler: as is without a wait, else one that awaits the "database" after the handler's work. */
function withDatabase(handler) {
  if (WAIT_MS <= 0) return handler;
  return async (...args) => {
    const result = handler(...args);
    await new Promise((resolve) => setTimeout(resolve, WAIT_MS));
    return result;
  };
}

module.exports = { getUser, getProduct, postEvent, getStats, sessionId, withDatabase };
