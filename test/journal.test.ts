/**
 * The journal (src/runtime/journal.ts) on its own, without HTTP or the
 * instrumenter: fake request contexts write through the same calls the
 * instrumented code makes (the barrier call, then the write itself), and the
 * faulty one is rolled back. Every location kind (property, variable, Map
 * entry, Set member, array) x every case of DESIGN.md guarantee 2 (restored,
 * compensated, cleansed, propagated), commit, and the log cap.
 *
 * Each test computes its oracle by hand: the same writes without the faulty
 * context's.
 */
import { afterEach, beforeEach, describe, it } from 'node:test';
import assert = require('node:assert/strict');
import { barrier } from '../src/runtime/barrier';
import { ContextState, storage, type RequestContext } from '../src/runtime/context';
import { collectGarbage, TestContext } from './contexts';
import {
  arrayWrite,
  commit,
  journalsOpen,
  journalSize,
  mapWrite,
  propertyWrite,
  rollback,
  setWrite,
  variableWrite,
  WriteKind,
} from '../src/runtime/journal';

const LOG_CAP = 4096; // must match journal.ts


/** Runs fn as ctx's code. */
const as = <T>(ctx: RequestContext, fn: () => T): T => storage.run(ctx, fn);

/** What recover() does with the faulty context's journal. */
function crash(ctx: RequestContext) {
  ctx.state = ContextState.Dead;
  return rollback(ctx);
}

const zero = { restored: 0, compensated: 0, cleansed: 0, propagated: 0, unresolved: 0 };
const counts = (c: Partial<typeof zero>) => ({ ...zero, ...c });
const stateOf = (r: ReturnType<typeof rollback>) => {
  const { journal: _journal, ...rest } = r;
  return rest;
};

// --- what instrumented code does at each write site -------------------------

type Obj = Record<PropertyKey, any>;
const assign = (o: Obj, k: PropertyKey, v: unknown) => {
  propertyWrite(o, k, WriteKind.Assign);
  o[k] = v;
};
const add = (o: Obj, k: PropertyKey, d: any) => {
  propertyWrite(o, k, WriteKind.Delta);
  o[k] += d;
};
const update = (o: Obj, k: PropertyKey, f: (v: any) => any) => {
  propertyWrite(o, k, WriteKind.Update);
  o[k] = f(o[k]);
};
const remove = (o: Obj, k: PropertyKey) => {
  propertyWrite(o, k, WriteKind.Delete);
  delete o[k];
};
const mset = (m: Map<unknown, unknown>, k: unknown, v: unknown) => {
  mapWrite(m, k, WriteKind.Assign);
  m.set(k, v);
};
const mdel = (m: Map<unknown, unknown>, k: unknown) => {
  mapWrite(m, k, WriteKind.Delete);
  m.delete(k);
};
const sadd = (s: Set<unknown>, v: unknown) => {
  setWrite(s, v, WriteKind.Assign);
  s.add(v);
};
const sdel = (s: Set<unknown>, v: unknown) => {
  setWrite(s, v, WriteKind.Delete);
  s.delete(v);
};
// As the barrier does: push passes its values, splice over everything is a Replace.
const push = (a: unknown[], ...items: unknown[]) => {
  arrayWrite(a, WriteKind.Append, items.length, items);
  a.push(...items);
};
const mutate = <T>(a: unknown[], f: (a: unknown[]) => T): T => {
  arrayWrite(a, WriteKind.Mutate, 0);
  return f(a);
};
// shift() and splice(0, n) take elements off the front: a Shift.
const shift = (a: unknown[]) => {
  arrayWrite(a, WriteKind.Shift, a.length > 0 ? 1 : 0);
  return a.shift();
};
const trimFront = (a: unknown[], n: number) => {
  arrayWrite(a, WriteKind.Shift, Math.min(n, a.length));
  a.splice(0, n);
};
const replaceAll = (a: unknown[], ...items: unknown[]) => {
  arrayWrite(a, WriteKind.Replace, 0);
  a.splice(0, a.length, ...items);
};

/** A module-scope variable as the instrumenter sees it: a scope object, a name, a getter and a setter. */
function variable<T>(initial: T) {
  let value = initial;
  const scope = { ctx: null };
  const get = () => value;
  const set = (v: unknown) => {
    value = v as T;
  };
  return {
    get value() {
      return value;
    },
    write(kind: WriteKind, next: (v: T) => T) {
      variableWrite(scope, 'v', get, set, kind);
      value = next(value);
    },
  };
}

let F: TestContext; // the faulty request
let A: TestContext; // benign requests
let B: TestContext;
let openBefore: number;

beforeEach(() => {
  openBefore = journalsOpen();
  F = new TestContext('faulty');
  A = new TestContext('a');
  B = new TestContext('b');
});

afterEach(() => {
  // Whatever a test left open is closed: journals must not leak between tests.
  for (const ctx of [F, A, B]) if (ctx.state === ContextState.Live) commit(ctx);
  assert.equal(journalsOpen(), openBefore, 'every journal was closed');
});

describe('properties', () => {
  it('restored: nobody else wrote it since', () => {
    const o: Obj = { n: 1, s: 'x', gone: true };
    as(F, () => {
      assign(o, 'n', 5);
      add(o, 'n', 1);
      update(o, 's', (s) => s + '!');
      remove(o, 'gone');
    });
    assert.deepEqual(o, { n: 6, s: 'x!' });
    const r = crash(F);
    assert.deepEqual(o, { n: 1, s: 'x', gone: true });
    assert.deepEqual(stateOf(r), counts({ restored: 3 }));
    assert.equal(r.journal, 3);
  });

  it('restored: a property that did not exist is deleted again', () => {
    const o: Obj = { keep: 1 };
    as(F, () => {
      assign(o, 'fresh', 1);
      add(o, 'fresh', 2);
      assign(o, 42, 'numeric key');
    });
    crash(F);
    assert.deepEqual(o, { keep: 1 });
    assert.ok(!Object.prototype.hasOwnProperty.call(o, 'fresh'));
    assert.ok(!Object.prototype.hasOwnProperty.call(o, '42'));
  });

  it('compensated: others’ += / -= / ++ / -- since are kept, the faulty request’s dropped', () => {
    const o: Obj = { n: 10, gauge: 0 };
    as(A, () => add(o, 'n', 1)); // before the faulty request
    as(F, () => {
      add(o, 'n', 5);
      add(o, 'gauge', 1); // in flight
    });
    as(A, () => add(o, 'n', 2)); // during
    as(B, () => {
      add(o, 'gauge', 1);
      add(o, 'n', -3);
      add(o, 'gauge', -1);
    });
    as(F, () => add(o, 'n', 100)); // the faulty request again
    commit(A);
    as(B, () => add(o, 'n', 1));
    const r = crash(F);
    // oracle: 10 + 1 + 2 - 3 + 1, gauge back to 0
    assert.deepEqual(o, { n: 11, gauge: 0 });
    assert.deepEqual(stateOf(r), counts({ compensated: 2 }));
  });

  it('compensated: bigint counters', () => {
    const o: Obj = { n: 1n };
    as(F, () => add(o, 'n', 10n));
    as(A, () => add(o, 'n', 2n));
    const r = crash(F);
    assert.equal(o.n, 3n);
    assert.deepEqual(stateOf(r), counts({ compensated: 1 }));
  });

  it('compensated: the faulty request wrote again after another’s assignment', () => {
    const o: Obj = { v: 'initial' };
    as(F, () => assign(o, 'v', 'f1'));
    as(A, () => assign(o, 'v', 'a'));
    as(F, () => assign(o, 'v', 'f2'));
    const r = crash(F);
    assert.equal(o.v, 'a');
    assert.deepEqual(stateOf(r), counts({ compensated: 1 }));
  });

  it('cleansed: another request assigned it after the faulty request’s last write', () => {
    const o: Obj = { config: { mode: 'normal' }, k: 'initial', gone: 1 };
    const fresh = { mode: 'fast' };
    as(F, () => {
      assign(o, 'config', { mode: 'evil' });
      assign(o, 'k', 'f');
      remove(o, 'gone');
    });
    as(A, () => {
      assign(o, 'config', fresh);
      remove(o, 'k');
      assign(o, 'gone', 2);
    });
    const r = crash(F);
    assert.equal(o.config, fresh);
    assert.deepEqual(o, { config: { mode: 'fast' }, gone: 2 });
    assert.deepEqual(stateOf(r), counts({ cleansed: 3 }));
  });

  it('cleansed: an assignment after the faulty delta cleanses it, later deltas are kept', () => {
    const o: Obj = { n: 0 };
    as(F, () => add(o, 'n', 5));
    as(A, () => assign(o, 'n', 100)); // a reset
    as(B, () => add(o, 'n', 1));
    const r = crash(F);
    assert.equal(o.n, 101);
    assert.deepEqual(stateOf(r), counts({ cleansed: 1 }));
  });

  it('propagated: a non-commutative update read the faulty value (string +=, *=)', () => {
    const o: Obj = { s: 'x', n: 2 };
    as(F, () => {
      add(o, 's', 'F'); // string += is journaled as a delta, but is not commutative
      assign(o, 'n', 3);
    });
    as(A, () => {
      add(o, 's', 'A');
      update(o, 'n', (n) => n * 10);
    });
    const r = crash(F);
    // The oracle would be 'xA' and 20; the benign results carry the faulty values on, and the event says so.
    assert.equal(o.s, 'xFA');
    assert.equal(o.n, 30);
    assert.equal(r.propagated, 2);
    assert.equal(r.unresolved, 0);
  });

  it('not propagated: an update that read another request’s clean assignment', () => {
    const o: Obj = { n: 2, s: 'x' };
    as(F, () => {
      assign(o, 'n', 3);
      add(o, 's', 'F');
    });
    as(A, () => {
      assign(o, 'n', 5); // clean value, from the request alone
      assign(o, 's', 'clean');
    });
    as(B, () => {
      update(o, 'n', (n) => n * 10); // reads A's value, not the faulty one
      add(o, 's', '!');
    });
    const r = crash(F);
    assert.equal(o.n, 50);
    assert.equal(o.s, 'clean!');
    assert.deepEqual(stateOf(r), counts({ cleansed: 2 }));
  });

  it('a request’s own req/res objects are not journaled; accessors are not journaled', () => {
    const own = new (class extends TestContext {
      req = { url: '/' } as Obj;
    })('own');
    const target: Obj = {};
    let backing = 0;
    Object.defineProperty(target, 'acc', { get: () => backing, set: (v) => (backing = v), enumerable: true });
    as(own, () => {
      assign(own.req, 'url', '/rewritten');
      assign(target, 'acc', 5);
    });
    assert.equal(journalSize(own), 0);
    const r = crash(own);
    assert.equal(r.journal, 0);
    assert.equal(own.req.url, '/rewritten');
  });

  it('writes outside any request are recorded as others’ writes', () => {
    const o: Obj = { n: 0 };
    as(F, () => add(o, 'n', 1));
    add(o, 'n', 10); // a module-level interval, say
    const r = crash(F);
    assert.equal(o.n, 10);
    assert.deepEqual(stateOf(r), counts({ compensated: 1 }));
  });
});

describe('variables (variableWrite with a getter and setter)', () => {
  it('restored', () => {
    const v = variable<unknown>(1);
    as(F, () => v.write(WriteKind.Assign, () => 'evil'));
    const r = crash(F);
    assert.equal(v.value, 1);
    assert.deepEqual(stateOf(r), counts({ restored: 1 }));
  });

  it('compensated', () => {
    const v = variable(0);
    as(A, () => v.write(WriteKind.Delta, (n) => n + 1));
    as(F, () => v.write(WriteKind.Delta, (n) => n + 100));
    as(A, () => v.write(WriteKind.Delta, (n) => n + 1));
    as(B, () => v.write(WriteKind.Delta, (n) => n - 1));
    as(F, () => v.write(WriteKind.Delta, (n) => n + 100));
    const r = crash(F);
    assert.equal(v.value, 1);
    assert.deepEqual(stateOf(r), counts({ compensated: 1 }));
  });

  it('cleansed', () => {
    const v = variable<unknown>(null);
    as(F, () => v.write(WriteKind.Assign, () => 'mallory'));
    as(A, () => v.write(WriteKind.Assign, () => 'alice'));
    const r = crash(F);
    assert.equal(v.value, 'alice');
    assert.deepEqual(stateOf(r), counts({ cleansed: 1 }));
  });

  it('propagated', () => {
    const v = variable('');
    as(F, () => v.write(WriteKind.Delta, (s) => s + 'F'));
    as(A, () => v.write(WriteKind.Delta, (s) => s + 'A'));
    const r = crash(F);
    assert.equal(v.value, 'FA');
    assert.equal(r.propagated, 1);
  });

  /** A write as the instrumenter emits it: `R.vs(scope) && R.jv(scope, …)`, then the write. */
  const siteWrite = (scope: object, get: () => unknown, set: (v: unknown) => void, v: unknown) => {
    if (barrier.vs(scope)) barrier.jv(scope, 'v', get, set, WriteKind.Assign);
    set(v);
  };

  it('a scope the request itself created is not journaled', () => {
    let value = 0;
    const get = () => value;
    const set = (x: unknown) => (value = x as number);
    as(F, () => siteWrite(barrier.sc(), get, set, 5));
    assert.equal(journalSize(F), 0);
    crash(F);
    assert.equal(value, 5);
  });

  it('a scope made outside any request is journaled, and a write outside any request since cleanses it', () => {
    let value = 0;
    const get = () => value;
    const set = (x: unknown) => (value = x as number);
    const scope = barrier.sc(); // made outside any request while another is open (a timer's callback)
    as(F, () => siteWrite(scope, get, set, 666));
    assert.equal(journalSize(F), 1);
    siteWrite(scope, get, set, 7); // a timer outside any request
    const r = crash(F);
    assert.equal(value, 7);
    assert.deepEqual(stateOf(r), counts({ cleansed: 1 }));
  });
});

describe('Map entries', () => {
  it('restored, including a key that did not exist (removed again) and a deleted key (put back)', () => {
    const m = new Map<unknown, unknown>([['a', 1], ['b', 2]]);
    as(F, () => {
      mset(m, 'a', 100);
      mset(m, 'new', 3);
      mdel(m, 'b');
    });
    const r = crash(F);
    assert.deepEqual(Object.fromEntries(m), { a: 1, b: 2 });
    assert.deepEqual(stateOf(r), counts({ restored: 3 }));
  });

  it('distinct keys: the faulty request’s are taken out, others’ kept', () => {
    const m = new Map<unknown, unknown>();
    as(A, () => mset(m, 'a', 1));
    as(F, () => mset(m, 'f', 1));
    as(B, () => mset(m, 'b', 1));
    as(A, () => mdel(m, 'a'));
    crash(F);
    assert.deepEqual([...m.keys()], ['b']);
  });

  it('cleansed: another request set or deleted the same key afterwards', () => {
    const m = new Map<unknown, unknown>([['hot', 'initial'], ['gone', 1]]);
    as(F, () => {
      mset(m, 'hot', 'faulty');
      mset(m, 'gone', 'faulty');
    });
    as(A, () => {
      mset(m, 'hot', 'benign');
      mdel(m, 'gone');
    });
    const r = crash(F);
    assert.deepEqual(Object.fromEntries(m), { hot: 'benign' });
    assert.deepEqual(stateOf(r), counts({ cleansed: 2 }));
  });

  it('compensated: the faulty request set the key again after another request did', () => {
    const m = new Map<unknown, unknown>([['k', 0]]);
    as(F, () => mset(m, 'k', 'f1'));
    as(A, () => mset(m, 'k', 'a'));
    as(F, () => mset(m, 'k', 'f2'));
    const r = crash(F);
    assert.equal(m.get('k'), 'a');
    assert.deepEqual(stateOf(r), counts({ compensated: 1 }));
  });

  it('object keys', () => {
    const key = {};
    const m = new Map<unknown, unknown>();
    as(F, () => mset(m, key, 'x'));
    crash(F);
    assert.equal(m.has(key), false);
  });
});

describe('Set members', () => {
  it('restored: an added member is removed, a deleted one is put back', () => {
    const s = new Set(['old']);
    as(F, () => {
      sadd(s, 'mallory');
      sdel(s, 'old');
    });
    const r = crash(F);
    assert.deepEqual([...s].sort(), ['old']);
    assert.deepEqual(stateOf(r), counts({ restored: 2 }));
  });

  it('distinct members: others’ additions and removals are kept', () => {
    const s = new Set(['carol']);
    as(F, () => sadd(s, 'mallory'));
    as(A, () => {
      sadd(s, 'alice');
      sdel(s, 'carol');
    });
    const r = crash(F);
    assert.deepEqual([...s].sort(), ['alice']);
    assert.deepEqual(stateOf(r), counts({ restored: 1 }));
  });

  it('cleansed: another request removed the member the faulty one added', () => {
    const s = new Set<string>();
    as(F, () => sadd(s, 'x'));
    as(A, () => sdel(s, 'x'));
    as(B, () => sadd(s, 'x'));
    const r = crash(F);
    assert.deepEqual([...s], ['x']);
    assert.deepEqual(stateOf(r), counts({ cleansed: 1 }));
  });

  it('compensated: the faulty request added it again after another removed it', () => {
    const s = new Set<string>();
    as(F, () => sadd(s, 'x'));
    as(A, () => sdel(s, 'x'));
    as(F, () => sadd(s, 'x'));
    const r = crash(F);
    assert.deepEqual([...s], []);
    assert.deepEqual(stateOf(r), counts({ compensated: 1 }));
  });
});

describe('arrays', () => {
  it('restored: only the faulty request appended', () => {
    const log = ['boot'];
    as(F, () => {
      push(log, 'f1');
      push(log, 'f2', 'f3');
    });
    const r = crash(F);
    assert.deepEqual(log, ['boot']);
    assert.deepEqual(stateOf(r), counts({ restored: 1 }));
  });

  it('compensated: appends by several requests, the faulty one’s removed from the middle', () => {
    const log = ['boot'];
    const C = new TestContext('c');
    as(A, () => push(log, 'a1'));
    as(F, () => push(log, 'f1', 'f2'));
    as(B, () => push(log, 'b1'));
    as(F, () => push(log, 'f3'));
    as(C, () => push(log, 'c1', 'c2'));
    commit(A);
    const r = crash(F);
    assert.deepEqual(log, ['boot', 'a1', 'b1', 'c1', 'c2']);
    assert.deepEqual(stateOf(r), counts({ compensated: 1 }));
    // Positions of the others' appends moved down with the removal: a second crash still finds them.
    as(B, () => push(log, 'b2'));
    const r2 = crash(C);
    assert.deepEqual(log, ['boot', 'a1', 'b1', 'b2']);
    assert.deepEqual(stateOf(r2), counts({ compensated: 1 }));
    commit(B);
  });

  it('restored from a snapshot: a non-append mutation (unshift, sort, splice)', () => {
    const list = ['c', 'a', 'b'];
    as(F, () => {
      mutate(list, (a) => a.unshift('f'));
      mutate(list, (a) => a.sort());
      mutate(list, (a) => a.splice(1, 1));
    });
    const r = crash(F);
    assert.deepEqual(list, ['c', 'a', 'b']);
    assert.deepEqual(stateOf(r), counts({ restored: 1 }));
  });

  it('restored from a snapshot taken after the faulty request’s own appends', () => {
    const list = ['x'];
    as(F, () => {
      push(list, 'f1');
      mutate(list, (a) => a.reverse());
    });
    crash(F);
    assert.deepEqual(list, ['x']);
  });

  it('compensated: others appended after the faulty request’s mutation', () => {
    const recent = ['r0'];
    as(F, () => mutate(recent, (a) => a.unshift('f')));
    as(A, () => push(recent, 'a'));
    as(B, () => push(recent, 'b1', 'b2'));
    const r = crash(F);
    assert.deepEqual(recent, ['r0', 'a', 'b1', 'b2']);
    assert.deepEqual(stateOf(r), counts({ compensated: 1 }));
  });

  it('cleansed: another request replaced every element after the faulty request’s last write', () => {
    const list = ['x'];
    as(F, () => mutate(list, (a) => a.unshift('f')));
    as(A, () => replaceAll(list, 'clean'));
    const r = crash(F);
    assert.deepEqual(list, ['clean']);
    assert.deepEqual(stateOf(r), counts({ cleansed: 1 }));
  });

  it('compensated by value: another request reordered the array after the faulty request’s push', () => {
    const list = ['c', 'a'];
    as(F, () => push(list, 'b'));
    as(A, () => mutate(list, (a) => a.sort()));
    const r = crash(F);
    assert.deepEqual(list, ['a', 'c']); // oracle: ['c', 'a'].sort()
    assert.deepEqual(stateOf(r), counts({ compensated: 1 }));
  });

  it('cleansed by value: another request already removed what the faulty request pushed', () => {
    const list = ['x'];
    as(F, () => push(list, 'f'));
    as(A, () => mutate(list, (a) => a.pop()));
    const r = crash(F);
    assert.deepEqual(list, ['x']);
    assert.deepEqual(stateOf(r), counts({ cleansed: 1 }));
  });

  it('unresolved, not silent: others wrote between the faulty request’s mutations', () => {
    const list = ['x'];
    as(F, () => mutate(list, (a) => a.unshift('f')));
    as(A, () => push(list, 'a'));
    as(F, () => mutate(list, (a) => a.sort()));
    const r = crash(F);
    assert.deepEqual(stateOf(r), counts({ unresolved: 1 }));
  });

  it('element and length writes through propertyWrite count as mutations', () => {
    const list = ['a', 'b'];
    as(F, () => {
      assign(list as unknown as Obj, 0, 'evil');
      assign(list as unknown as Obj, 'length', 1);
    });
    const r = crash(F);
    assert.deepEqual(list, ['a', 'b']);
    assert.deepEqual(stateOf(r), counts({ restored: 1 }));
  });
});

describe('commit', () => {
  it('drops the journal; a later rollback of another request keeps the committed writes', () => {
    const o: Obj = { n: 0, v: 'initial' };
    const log: string[] = [];
    const m = new Map<unknown, unknown>();
    as(F, () => {
      add(o, 'n', 100);
      push(log, 'f');
    });
    as(A, () => {
      add(o, 'n', 1);
      assign(o, 'v', 'a');
      push(log, 'a');
      mset(m, 'a', 1);
    });
    assert.equal(journalSize(A), 4);
    const open = journalsOpen();
    commit(A);
    assert.equal(journalSize(A), 0);
    assert.equal(journalsOpen(), open - 1);
    crash(F);
    assert.deepEqual(o, { n: 1, v: 'a' });
    assert.deepEqual(log, ['a']);
    assert.deepEqual(Object.fromEntries(m), { a: 1 });
  });

  it('a committed request is no longer rolled back; a second commit is harmless', () => {
    const o: Obj = { n: 0 };
    as(A, () => add(o, 'n', 1));
    commit(A);
    commit(A);
    const r = rollback(A);
    assert.deepEqual(r, { ...zero, journal: 0 });
    assert.equal(o.n, 1);
  });

  it('a location nobody watches any more is forgotten: later writes outside requests are not logged', () => {
    const o: Obj = { n: 0 };
    as(A, () => add(o, 'n', 1));
    commit(A);
    add(o, 'n', 1); // no request: not journaled, nothing to hold
    as(F, () => add(o, 'n', 5));
    const r = crash(F);
    assert.equal(o.n, 2);
    assert.deepEqual(stateOf(r), counts({ restored: 1 }));
  });
});

describe('memory', () => {
  it('a committed request is not kept alive by the log of a location another request still watches', async () => {
    // W watches o.n from before C and stays open, so o.n's log keeps C's entry;
    // the entry must not hold C itself (a context holds its request's objects).
    const o: Obj = { n: 0 };
    const W = new TestContext('w');
    as(W, () => add(o, 'n', 1));
    const ref = (() => {
      const C = new TestContext('c');
      as(C, () => add(o, 'n', 1));
      commit(C);
      return new WeakRef(C);
    })();
    await new Promise((resolve) => setImmediate(resolve)); // a WeakRef holds its target until the job ends
    collectGarbage();
    assert.equal(ref.deref(), undefined, 'the committed context was collected');
    // The log still does its job: W's rollback keeps C's increment.
    const r = crash(W);
    assert.deepEqual(stateOf(r), counts({ compensated: 1 }));
    assert.equal(o.n, 1);
  });
});

describe('idle locations (unwatched, still indexed)', () => {
  it('a property turned into an accessor while idle is not journaled: its getter is never called by the journal', () => {
    const o: Obj = { x: 1 };
    as(A, () => assign(o, 'x', 2));
    commit(A);
    let hidden = 2;
    let getterCalls = 0;
    Object.defineProperty(o, 'x', {
      get: () => (getterCalls++, hidden),
      set: (v) => (hidden = v),
      configurable: true,
      enumerable: true,
    });
    as(F, () => assign(o, 'x', 3));
    assert.equal(getterCalls, 0, 'the journal read the accessor');
    const r = crash(F);
    assert.deepEqual(stateOf(r), counts({}));
    assert.equal(hidden, 3, 'an accessor is restored by its setter’s own writes, not by the journal');
  });

  it('many requests writing the same location, one at a time, then a faulty one: still restored exactly', () => {
    const o: Obj = { n: 0 };
    for (let i = 0; i < 3000; i++) {
      const ctx = new TestContext(`benign ${i}`);
      as(ctx, () => add(o, 'n', 1));
      commit(ctx);
      if (i % 7 === 0) add(o, 'n', 1); // outside any request, between watchers
    }
    const before = o.n;
    as(F, () => add(o, 'n', 100));
    as(A, () => add(o, 'n', 1));
    const r = crash(F);
    assert.equal(o.n, before + 1);
    assert.deepEqual(stateOf(r), counts({ compensated: 1 }));
  });

  it('an object one request wrote and nobody wrote again is let go within a few hundred requests (its location does not hold it)', async () => {
    // Each request writes a long-lived counter and an object of its own made
    // outside any constructor (as a framework's per-request objects are).
    const counter: Obj = { n: 0 };
    const first = (() => {
      const own: Obj = { body: new Array(1000).fill('x') };
      const ctx = new TestContext('first');
      as(ctx, () => {
        add(counter, 'n', 1);
        assign(own, 'parsed', true);
      });
      commit(ctx);
      return new WeakRef(own);
    })();
    for (let i = 0; i < 300; i++) {
      const own: Obj = {};
      const ctx = new TestContext(`benign ${i}`);
      as(ctx, () => {
        add(counter, 'n', 1);
        assign(own, 'parsed', true);
      });
      commit(ctx);
    }
    await new Promise((resolve) => setImmediate(resolve)); // a WeakRef holds its target until the job ends
    collectGarbage();
    assert.equal(first.deref(), undefined, 'the first request’s object is still held');
    // The counter, written by every request, still journals exactly.
    as(F, () => add(counter, 'n', 100));
    as(A, () => add(counter, 'n', 1));
    assert.deepEqual(stateOf(crash(F)), counts({ compensated: 1 }));
    assert.equal(counter.n, 302);
  });

  it('a container with more keys than the small index holds, and Map keys NaN and -0, roll back exactly', () => {
    const wide: Obj = {};
    for (let i = 0; i < 20; i++) wide[`k${i}`] = i;
    const m = new Map<unknown, unknown>([[NaN, 'nan'], [0, 'zero']]);
    // A benign request indexes half the keys first (the index grows while they are watched).
    as(A, () => {
      for (let i = 0; i < 10; i++) add(wide, `k${i}`, 1);
    });
    as(F, () => {
      for (let i = 0; i < 20; i++) assign(wide, `k${i}`, -1);
      assign(wide, 'extra', 'f');
      mset(m, NaN, 'f');
      mset(m, -0, 'f');
      mset(m, 'new', 'f');
    });
    // After F, B assigns the NaN entry: its value is the one that stays (cleansed), which
    // needs F's and B's writes to find the same location.
    as(B, () => mset(m, NaN, 'b'));
    commit(A);
    const r = crash(F);
    const expected: Obj = {};
    for (let i = 0; i < 20; i++) expected[`k${i}`] = i < 10 ? i + 1 : i;
    assert.deepEqual(wide, expected);
    assert.deepEqual([...m], [[NaN, 'b'], [0, 'zero']]);
    assert.equal(r.unresolved, 0);
    // Idle now: the next faulty request still journals them.
    const F2 = new TestContext('second faulty');
    as(F2, () => {
      assign(wide, 'k15', 'again');
      mdel(m, NaN);
    });
    crash(F2);
    assert.equal(wide.k15, 15);
    assert.equal(m.get(NaN), 'b');
  });

  it('hot locations kept across many sweeps, and cold ones swept between them, still roll back exactly', () => {
    const hot: Obj = { n: 0, last: '' };
    const m = new Map<unknown, unknown>([['k', 0]]);
    const list: unknown[] = [];
    for (let i = 0; i < 2000; i++) {
      const ctx = new TestContext(`benign ${i}`);
      as(ctx, () => {
        add(hot, 'n', 1);
        assign(hot, 'last', `b${i}`);
        mset(m, 'k', i);
        push(list, i);
        assign({}, 'cold', i); // a location swept soon after
      });
      commit(ctx);
    }
    as(F, () => {
      add(hot, 'n', 100);
      assign(hot, 'last', 'f');
      mset(m, 'k', 'f');
      push(list, 'f');
    });
    as(A, () => add(hot, 'n', 1));
    const r = crash(F);
    assert.deepEqual(stateOf(r), counts({ compensated: 1, restored: 3 }));
    assert.deepEqual(hot, { n: 2001, last: 'b1999' });
    assert.equal(m.get('k'), 1999);
    assert.equal(list.length, 2000);
    assert.equal(list[1999], 1999);
  });
});

describe('log cap', () => {
  /** count benign requests, one after the other, each adding 1 to o.n. */
  const benignIncrements = (o: Obj, count: number) => {
    for (let i = 0; i < count; i++) {
      const ctx = new TestContext(`benign ${i}`);
      as(ctx, () => add(o, 'n', 1));
      commit(ctx);
    }
  };

  it('past LOG_CAP entries the faulty request gives the location up: unresolved, not silently wrong', () => {
    const o: Obj = { n: 0 };
    as(F, () => add(o, 'n', 5));
    benignIncrements(o, LOG_CAP);
    const r = crash(F);
    assert.deepEqual(stateOf(r), counts({ unresolved: 1 }));
    assert.equal(r.journal, 1);
    assert.equal(o.n, LOG_CAP + 5, 'the value is left alone');
    // The location still works for the next faulty request.
    as(A, () => add(o, 'n', 1));
    const G = new TestContext('g');
    as(G, () => add(o, 'n', 1000));
    as(B, () => add(o, 'n', 1));
    const r2 = crash(G);
    assert.equal(o.n, LOG_CAP + 7);
    assert.deepEqual(stateOf(r2), counts({ compensated: 1 }));
  });

  it('a location that is never unwatched (overlapping requests, ending in order) keeps a short log: no overflow', () => {
    // Three requests in flight at any time, 3 x LOG_CAP of them in all: the
    // location always has a watcher, so its log must be trimmed as the
    // oldest ones end, or it overflows and a live request loses it.
    const o: Obj = { n: 0 };
    const inFlight: TestContext[] = [];
    const step = (ctx: TestContext) => {
      as(ctx, () => add(o, 'n', 1));
      inFlight.push(ctx);
      if (inFlight.length > 3) commit(inFlight.shift()!);
    };
    for (let i = 0; i < 3 * LOG_CAP; i++) step(new TestContext(`benign ${i}`));
    const G = new TestContext('g');
    as(G, () => add(o, 'n', 1000));
    inFlight.push(G);
    // G becomes the oldest in flight while others keep writing.
    for (let i = 0; i < 3; i++) step(new TestContext(`after ${i}`));
    const r = crash(G);
    assert.deepEqual(stateOf(r), counts({ compensated: 1 }));
    assert.equal(o.n, 3 * LOG_CAP + 3);
    for (const ctx of inFlight) if (ctx !== G) commit(ctx);
  });

  it('after its location overflowed, a request’s later writes there are still taken back', () => {
    const o: Obj = { n: 0 };
    as(F, () => add(o, 'n', 5));
    benignIncrements(o, LOG_CAP);
    // F gave the location up; two requests now watch it, and F writes again.
    as(A, () => add(o, 'n', 1));
    as(B, () => add(o, 'n', 1));
    as(F, () => add(o, 'n', 7));
    const r = crash(F);
    assert.deepEqual(stateOf(r), counts({ unresolved: 1, restored: 1 }));
    assert.equal(o.n, LOG_CAP + 5 + 2, 'its first write stays (unresolved), its later one is gone');
    commit(A);
    commit(B);
  });

  it('just under the cap everything is still resolved', () => {
    const o: Obj = { n: 0 };
    as(F, () => add(o, 'n', 5));
    for (let i = 0; i < LOG_CAP - 1; i++) {
      const ctx = new TestContext(`benign ${i}`);
      as(ctx, () => add(o, 'n', 1));
      commit(ctx);
    }
    const r = crash(F);
    assert.deepEqual(stateOf(r), counts({ compensated: 1 }));
    assert.equal(o.n, LOG_CAP - 1);
  });

  it('an overflow caused by the rollback itself does not leave the faulty writes in others’ logs', () => {
    // W watches from the start; F and G are both in flight; the log is full
    // when F is rolled back, so the rollback's own entry overflows it, W gives
    // the location up and the log is trimmed to F. G, rolled back later, must
    // not replay F's writes as if they were someone else's.
    const o: Obj = { n: 0 };
    const W = new TestContext('w');
    const G = new TestContext('g');
    as(W, () => add(o, 'n', 1)); // entry 0
    let filled = 1;
    const fill = (upTo: number) => {
      for (; filled < upTo; filled++) {
        const ctx = new TestContext(`benign ${filled}`);
        as(ctx, () => add(o, 'n', 1));
        commit(ctx);
      }
    };
    fill(LOG_CAP / 2 + 10);
    as(F, () => add(o, 'n', 10));
    as(G, () => add(o, 'n', 100));
    as(F, () => add(o, 'n', 10));
    filled += 3;
    fill(LOG_CAP); // exactly full
    const benign = filled - 3; // W's write and the fillers
    const r = crash(F);
    assert.equal(r.unresolved, 0);
    assert.equal(o.n, benign + 100, 'F taken out');
    const r2 = crash(G);
    assert.equal(r2.unresolved, 0);
    assert.equal(o.n, benign, 'G taken out, and F not put back');
    commit(W);
  });
});

describe('journals', () => {
  it('a request that wrote many locations (its journal indexed by location) rolls each back exactly, whatever the order of its writes', () => {
    const objs: Obj[] = Array.from({ length: 40 }, (_, i) => ({ n: i }));
    const m = new Map<number, number>();
    const list: number[] = [0];
    const G = new TestContext('g');
    as(F, () => {
      for (const o of objs) add(o, 'n', 100);
      for (let i = 0; i < 40; i++) mset(m, i, i);
      push(list, 1);
    });
    // Others write half of them in between, and F writes everything again, backwards.
    as(G, () => {
      for (let i = 0; i < 40; i += 2) add(objs[i]!, 'n', 1);
    });
    as(F, () => {
      for (let i = 39; i >= 0; i--) add(objs[i]!, 'n', 1000);
      for (let i = 39; i >= 0; i--) mset(m, i, -i);
      mutate(list, (a) => a.reverse());
    });
    assert.equal(journalSize(F), 81, 'one watch per location, however often it was written');
    const r = crash(F);
    assert.deepEqual(stateOf(r), counts({ restored: 61, compensated: 20 }));
    assert.deepEqual(list, [0]);
    assert.deepEqual(objs.map((o) => o.n), objs.map((_, i) => i + (i % 2 === 0 ? 1 : 0)));
    assert.equal(m.size, 0);
    commit(G);
  });

  it('an open journal whose id shares its open-writer slot with a later one keeps its history through trims', () => {
    // Open writers are kept by the low 12 bits of their id: W and X collide.
    const o: Obj = { n: 0 };
    const W = new TestContext('w');
    as(W, () => add(o, 'n', 1000));
    let X = new TestContext('x');
    while ((X.id - W.id) % 4096 !== 0) X = new TestContext('x');
    as(X, () => add(o, 'n', 1));
    const benign = (count: number) => {
      for (let i = 0; i < count; i++) {
        const ctx = new TestContext(`benign ${i}`);
        as(ctx, () => add(o, 'n', 1));
        commit(ctx);
      }
    };
    benign(1000); // trims, while W is the oldest open writer
    commit(X); // X leaving must not take W with it
    benign(1000);
    const r = crash(W);
    assert.deepEqual(stateOf(r), counts({ compensated: 1 }));
    assert.equal(o.n, 2001);
  });
});

describe('two faulty requests in flight together, rolled back one after the other', () => {
  it('counters: the first rollback does not come back with the second', () => {
    const o: Obj = { n: 0 };
    const G = new TestContext('g');
    as(F, () => add(o, 'n', 10));
    as(G, () => add(o, 'n', 100));
    as(F, () => add(o, 'n', 10));
    as(A, () => add(o, 'n', 1));
    crash(F);
    assert.equal(o.n, 101);
    crash(G);
    assert.equal(o.n, 1);
  });

  it('counters, the other order', () => {
    const o: Obj = { n: 0 };
    const G = new TestContext('g');
    as(F, () => add(o, 'n', 10));
    as(G, () => add(o, 'n', 100));
    as(A, () => add(o, 'n', 1));
    as(F, () => add(o, 'n', 10));
    crash(G);
    assert.equal(o.n, 21);
    crash(F);
    assert.equal(o.n, 1);
  });

  it('assignments', () => {
    const o: Obj = { s: 'clean' };
    const G = new TestContext('g');
    as(F, () => assign(o, 's', 'f'));
    as(G, () => assign(o, 's', 'g'));
    crash(F);
    assert.equal(o.s, 'g');
    crash(G);
    assert.equal(o.s, 'clean');
  });

  it('assignments, the other order', () => {
    const o: Obj = { s: 'clean' };
    const G = new TestContext('g');
    as(F, () => assign(o, 's', 'f'));
    as(G, () => assign(o, 's', 'g'));
    crash(G);
    assert.equal(o.s, 'f');
    crash(F);
    assert.equal(o.s, 'clean');
  });

  it('a property the first one created', () => {
    const o: Obj = {};
    const G = new TestContext('g');
    as(F, () => assign(o, 'x', 1));
    as(G, () => add(o, 'x', 1));
    as(A, () => assign(o, 'y', 1));
    crash(F);
    crash(G);
    assert.deepEqual(o, { y: 1 });
  });

  it('Map entries and Set members', () => {
    const m = new Map<unknown, unknown>([['k', 'clean']]);
    const s = new Set<unknown>();
    const G = new TestContext('g');
    as(F, () => {
      mset(m, 'k', 'f');
      sadd(s, 'x');
    });
    as(G, () => {
      mset(m, 'k', 'g');
      sdel(s, 'x');
    });
    crash(F);
    crash(G);
    assert.deepEqual(Object.fromEntries(m), { k: 'clean' });
    assert.deepEqual([...s], []);
  });

  it('arrays', () => {
    const log = ['boot'];
    const G = new TestContext('g');
    as(F, () => push(log, 'f1'));
    as(G, () => push(log, 'g1'));
    as(A, () => push(log, 'a1'));
    as(F, () => push(log, 'f2'));
    as(G, () => push(log, 'g2'));
    crash(F);
    assert.deepEqual(log, ['boot', 'g1', 'a1', 'g2']);
    crash(G);
    assert.deepEqual(log, ['boot', 'a1']);
  });
});

// Counters written as read-modify-write assignments, as the instrumenter
// classifies them (src/instrument/write-kind.ts): `x = x + n` is a Delta,
// `x = (x || 0) + n` and `m.set(k, (m.get(k) ?? 0) + n)` a CountDelta.
describe('counters written as assignments that read their own target', () => {
  const count = (o: Obj, k: PropertyKey, n: number) => {
    propertyWrite(o, k, WriteKind.CountDelta);
    o[k] = (o[k] || 0) + n;
  };
  const mcount = (m: Map<unknown, unknown>, k: unknown, n: number) => {
    mapWrite(m, k, WriteKind.CountDelta);
    m.set(k, ((m.get(k) as number | undefined) ?? 0) + n);
  };
  const bump = (o: Obj, k: PropertyKey, n: number) => {
    propertyWrite(o, k, WriteKind.Delta);
    o[k] = o[k] + n;
  };
  /** The same count in an object (per route) and in a Map (per user). */
  const countBoth = (byRoute: Obj, hits: Map<unknown, unknown>, n: number) => {
    count(byRoute, '/x', n);
    mcount(hits, 'u', n);
  };

  it('a counter the faulty request made keeps the counts others added to it', () => {
    const byRoute: Obj = {};
    const hits = new Map<unknown, unknown>();
    as(F, () => countBoth(byRoute, hits, 5));
    as(A, () => countBoth(byRoute, hits, 1));
    as(B, () => count(byRoute, '/x', 2));
    const r = crash(F);
    assert.deepEqual({ byRoute, hits: [...hits] }, { byRoute: { '/x': 3 }, hits: [['u', 1]] });
    assert.deepEqual(stateOf(r), counts({ compensated: 2 }));
  });

  it('an existing counter: the faulty request’s counts are taken out of others’', () => {
    const byRoute: Obj = { '/x': 10 };
    const hits = new Map<unknown, unknown>([['u', 10]]);
    as(A, () => count(byRoute, '/x', 1));
    as(F, () => {
      countBoth(byRoute, hits, 100);
      bump(byRoute, '/x', 100);
    });
    as(A, () => countBoth(byRoute, hits, 1));
    as(F, () => count(byRoute, '/x', 100));
    as(B, () => count(byRoute, '/x', 1));
    crash(F);
    assert.deepEqual({ byRoute, hits: [...hits] }, { byRoute: { '/x': 13 }, hits: [['u', 11]] });
  });

  it('a counter nobody else touched is put back, or removed when the faulty request made it', () => {
    const byRoute: Obj = { '/a': 1 };
    const hits = new Map<unknown, unknown>();
    as(F, () => {
      count(byRoute, '/a', 1);
      count(byRoute, '/new', 1);
      mcount(hits, 'u', 1);
    });
    const r = crash(F);
    assert.deepEqual({ byRoute, hits: [...hits] }, { byRoute: { '/a': 1 }, hits: [] });
    assert.deepEqual(stateOf(r), counts({ restored: 3 }));
  });

  it('a plain Delta from a missing value is not taken for a count from 0: reported as propagated', () => {
    const o: Obj = {};
    as(F, () => assign(o, 'n', 5));
    as(A, () => bump(o, 'n', 1));
    const r = crash(F);
    assert.equal(r.propagated, 1);
  });
});

// A bounded list: pushed at the end, trimmed at the front back to its
// capacity whenever it grows past it (a ring buffer, a session's recent
// events). Others' trims after the faulty request's push took off elements
// that, without it, would still be there.
describe('bounded lists (push, then shift or splice(0, n) back to a capacity)', () => {
  const ringLog = (ring: unknown[], cap: number, entry: string) => {
    push(ring, entry);
    if (ring.length > cap) shift(ring);
  };
  const recentLog = (list: unknown[], cap: number, ...entries: string[]) => {
    push(list, ...entries);
    if (list.length > cap) trimFront(list, list.length - cap);
  };

  it('a ring buffer: others’ shifts after the faulty push are told again without it', () => {
    const ring = ['r1', 'r2', 'r3'];
    as(F, () => ringLog(ring, 3, 'faulty'));
    as(A, () => ringLog(ring, 3, 'a'));
    const r = crash(F);
    assert.deepEqual(ring, ['r2', 'r3', 'a']);
    assert.deepEqual(stateOf(r), counts({ compensated: 1 }));
  });

  it('a list trimmed by splice(0, n), the faulty request pushing twice among others', () => {
    const list = ['e1', 'e2', 'e3', 'e4'];
    as(A, () => recentLog(list, 4, 'a1'));
    as(F, () => recentLog(list, 4, 'f1', 'f2'));
    as(B, () => recentLog(list, 4, 'b1'));
    as(F, () => recentLog(list, 4, 'f3'));
    as(A, () => recentLog(list, 4, 'a2', 'a3'));
    crash(F);
    // without F: e1..e4, a1, b1, a2, a3, newest four
    assert.deepEqual(list, ['a1', 'b1', 'a2', 'a3']);
  });

  it('pushed while the list was still filling: the trim its push caused others to make is undone', () => {
    const ring = ['r1', 'r2'];
    as(F, () => ringLog(ring, 3, 'faulty'));
    as(A, () => ringLog(ring, 3, 'a'));
    crash(F);
    assert.deepEqual(ring, ['r1', 'r2', 'a']);
  });

  it('nobody else wrote it: the faulty request’s push and trim are undone', () => {
    const ring = ['r1', 'r2', 'r3'];
    as(F, () => ringLog(ring, 3, 'faulty'));
    const r = crash(F);
    assert.deepEqual(ring, ['r1', 'r2', 'r3']);
    assert.deepEqual(stateOf(r), counts({ restored: 1 }));
  });

  it('two faulty requests, rolled back one after the other, each from a true history', () => {
    const ring = ['r1', 'r2', 'r3'];
    const G = new TestContext('g');
    as(F, () => ringLog(ring, 3, 'f'));
    as(A, () => ringLog(ring, 3, 'a'));
    as(G, () => ringLog(ring, 3, 'g'));
    as(B, () => ringLog(ring, 3, 'b'));
    crash(F);
    assert.deepEqual(ring, ['a', 'g', 'b']);
    crash(G);
    assert.deepEqual(ring, ['r3', 'a', 'b']);
  });

  describe('through the barrier, as instrumented code calls shift and splice', () => {
    /** `(R.a ? R.m(list, name, text) : list)[name](...args)`, as the instrumenter writes a mutator call. */
    const call = (list: unknown[], name: string, ...args: unknown[]): unknown => {
      const wasActive = barrier.a;
      barrier.a = true;
      try {
        const recv = barrier.m(list, name, `list.${name}`) as Record<string, (...a: unknown[]) => unknown>;
        return recv[name]!(...args);
      } finally {
        barrier.a = wasActive;
      }
    };
    const keepNewest = (list: unknown[], cap: number, entry: string) => {
      call(list, 'push', entry);
      if (list.length > cap) call(list, 'splice', 0, list.length - cap);
    };

    it('splice(0, n) and shift() are trims the bounded-list rollback reads', () => {
      const recent = ['e1', 'e2', 'e3'];
      const ring = ['r1', 'r2'];
      as(F, () => {
        keepNewest(recent, 3, 'f');
        call(ring, 'push', 'f');
        call(ring, 'shift');
      });
      as(A, () => {
        keepNewest(recent, 3, 'a');
        call(ring, 'push', 'a');
        call(ring, 'shift');
      });
      crash(F);
      assert.deepEqual({ recent, ring }, { recent: ['e2', 'e3', 'a'], ring: ['r2', 'a'] });
    });

    it('splice(0) and splice(0, length) clear the list: the faulty request’s elements were cleansed', () => {
      const a = ['x'];
      const b = ['y'];
      as(F, () => {
        call(a, 'push', 'f');
        call(a, 'reverse');
        call(b, 'push', 'f');
        call(b, 'sort');
      });
      as(A, () => {
        call(a, 'splice', 0);
        call(b, 'splice', 0, b.length);
      });
      const r = crash(F);
      assert.deepEqual({ a, b }, { a: [], b: [] });
      assert.deepEqual(stateOf(r), counts({ cleansed: 2 }));
    });
  });

  it('a job queue (a consumer shifting what others pushed) is not taken for a bounded list', () => {
    const queue: unknown[] = ['j1', 'j2'];
    as(F, () => push(queue, 'jf'));
    as(A, () => shift(queue)); // leaves two, as a capacity of 2 would
    const r = crash(F);
    // without F: j1 consumed, j2 left (a capacity would bring j1 back)
    assert.deepEqual(queue, ['j2']);
    assert.deepEqual(stateOf(r), counts({ compensated: 1 }));
  });
});

// Known gaps: each states the oracle and is marked todo, so it runs and reports
// without failing the suite. See the report that came with these tests.
describe('known gaps (todo: the oracle is not reached, and the event does not say so)', () => {
  it('restoring a deleted key puts it back at the end of the key order (objects, Maps, Sets)', { todo: 'insertion order is not restored' }, () => {
    const o: Obj = { a: 1, b: 2, c: 3 };
    const m = new Map([['a', 1], ['b', 2], ['c', 3]]);
    const s = new Set(['a', 'b', 'c']);
    as(F, () => {
      remove(o, 'a');
      mdel(m as Map<unknown, unknown>, 'a');
      sdel(s, 'a');
    });
    crash(F);
    assert.deepEqual([Object.keys(o), [...m.keys()], [...s]], [['a', 'b', 'c'], ['a', 'b', 'c'], ['a', 'b', 'c']]);
  });

  it('an object the faulty request created and others then wrote into disappears with their writes', { todo: 'propagation through a read of a reference is not seen' }, () => {
    const sessions: Obj = {};
    const visit = (id: string) => {
      if (!sessions[id]) assign(sessions, id, { visits: 0 }); // lazy initialization
      add(sessions[id], 'visits', 1);
    };
    as(F, () => visit('s1'));
    as(A, () => visit('s1'));
    const r = crash(F);
    assert.ok(sessions.s1?.visits === 1 || r.propagated > 0, `sessions ${JSON.stringify(sessions)}, ${JSON.stringify(r)}`);
  });
});
