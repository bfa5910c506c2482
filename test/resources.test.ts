/**
 * What a request's context keeps recording after its response is over
 * (src/runtime/resources.ts, forgetFinishedListeners). Records of listeners
 * on the request's own req/res and on emitters it created are dropped then:
 * release would not remove those listeners anyway, and the records would keep
 * the request's whole object graph alive as long as its context lives (which
 * made V8 pretenure request objects: twice the mark-compacts in some server
 * processes). Records of listeners on long-lived emitters must stay, so that a
 * crash after the response still removes them (DESIGN.md guarantee 6).
 */
import assert = require('node:assert/strict');
import { EventEmitter } from 'node:events';
import http = require('node:http');
import type { AddressInfo } from 'node:net';
import { describe, it } from 'node:test';
import { storage } from '../src/runtime/context';
import { collectGarbage, TestContext } from './contexts';
import { forgetFinishedListeners, hasPendingWork, installResourceTracking, release } from '../src/runtime/resources';

installResourceTracking();

describe('records of listeners once the response is over', () => {
  it('listeners on long-lived emitters are still released by a later crash; the rest is forgotten', () => {
    const bus = new EventEmitter(); // long-lived: made outside any request
    const req = new EventEmitter(); // the request's own object, made by the server before it
    const ctx = new TestContext();
    let parser: EventEmitter | undefined;
    storage.run(ctx, () => {
      req.on('data', () => {});
      parser = new EventEmitter(); // made by the request (a body parser)
      parser.on('part', () => {});
      bus.on('event', () => {});
      const once = () => {};
      bus.on('gone', once);
      bus.removeListener('gone', once);
    });
    forgetFinishedListeners(ctx, [req]);
    assert.equal((ctx.resources ?? []).length / 4, 1, 'only the listener on the long-lived emitter is still recorded');
    const released = release(ctx);
    assert.equal(released.listeners, 1);
    assert.equal(bus.listenerCount('event'), 0, 'a crash after the response still takes it off the long-lived emitter');
    assert.equal(parser!.listenerCount('part'), 1);
  });

  it('what the request created is no longer kept alive by its context', async () => {
    const ctx = new TestContext();
    let parser: WeakRef<EventEmitter> | undefined;
    storage.run(ctx, () => {
      const made = new EventEmitter();
      made.on('part', () => {});
      parser = new WeakRef(made);
    });
    forgetFinishedListeners(ctx, []);
    await new Promise((resolve) => setImmediate(resolve));
    collectGarbage();
    assert.equal(parser!.deref(), undefined, 'the parser was collected while its request context is still alive');
    assert.ok(ctx.id > 0); // ctx stays reachable up to here
  });
});

describe('a pooled connection a request opened', () => {
  it('is no longer its pending work once it serves another request (its journal can close)', async () => {
    const upstream = http.createServer((req, res) => {
      if (req.url === '/slow') setTimeout(() => res.end('slow'), 200);
      else res.end('ok');
    });
    await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
    const { port } = upstream.address() as AddressInfo;
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const get = (path: string) =>
      new Promise<void>((resolve, reject) => {
        http.get({ host: '127.0.0.1', port, path, agent }, (res) => res.resume().on('end', resolve)).on('error', reject);
      });
    let inFlight: Promise<void> = Promise.resolve();
    try {
      const opener = new TestContext();
      const next = new TestContext();
      await storage.run(opener, () => get('/ok')); // opens the agent's one connection
      inFlight = storage.run(next, () => get('/slow')); // the same connection, now the next request's
      await new Promise((resolve) => setTimeout(resolve, 50));
      assert.equal(agent.sockets[`127.0.0.1:${port}:`]?.length, 1, 'the connection serves the next request');
      assert.ok((opener.resources ?? []).length > 0, 'the opener recorded the connection');
      assert.equal(hasPendingWork(opener), false, "the connection calls back for the next request, not for the one that opened it");
      assert.equal(hasPendingWork(next), true, "the next request's own request is in flight");
      await inFlight;
    } finally {
      await inFlight.catch(() => {});
      agent.destroy();
      await new Promise((resolve) => upstream.close(resolve));
    }
  });
});
