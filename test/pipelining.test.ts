/**
 * Requests pipelined on one connection, so that Node's HTTP parser delivers
 * several of them from one read: each must run in its own request context
 * (SRS enters a request's context at the top of the parser's callbacks and
 * relies on Node to restore the frame when the callback returns), so a crash
 * in one is attributed to it alone and the one before it completes.
 */
import { after, before, describe, it } from 'node:test';
import assert = require('node:assert/strict');
import net = require('node:net');
import { fixture, startServer, type ServerProcess } from './helpers';

/** Writes all requests in one write and returns everything the server sent until it closed. */
function pipeline(port: number, raw: string): Promise<string> {
  return new Promise((resolve, reject) => {
    let got = '';
    const socket = net.connect(port, '127.0.0.1', () => socket.write(raw));
    socket.setEncoding('utf8');
    socket.on('data', (d: string) => (got += d));
    socket.on('close', () => resolve(got));
    socket.on('error', reject);
    socket.setTimeout(5000, () => socket.destroy(new Error(`no close within 5 s; got: ${got}`)));
  });
}

const get = (path: string) => `GET ${path} HTTP/1.1\r\nHost: x\r\n\r\n`;
const post = (path: string, body: string) => `POST ${path} HTTP/1.1\r\nHost: x\r\nContent-Length: ${body.length}\r\n\r\n${body}`;
const statuses = (raw: string) => [...raw.matchAll(/HTTP\/1\.1 (\d{3})/g)].map((m) => Number(m[1]));

describe('pipelined requests under srs run', () => {
  let server: ServerProcess;
  before(async () => {
    server = await startServer({ mode: 'srs', entry: fixture('pipeline-app.js') });
  });
  after(async () => {
    await server.stop();
  });

  it('a handler that throws fails alone: the request before it on the connection completes', async () => {
    const before = server.events().length;
    const raw = await pipeline(server.port, get('/slow') + get('/crash'));
    assert.deepEqual(statuses(raw), [200, 500]);
    assert.match(raw, /slow done/);
    const events = server.events().slice(before);
    assert.equal(events.length, 1);
    assert.equal(events[0]!.request.url, '/crash');
    assert.equal(events[0]!.released.timers, 0, "the slow request's timer is not the faulty request's");
  });

  it("a body's 'end' listener that throws fails its own request, delivered in the same read", async () => {
    const before = server.events().length;
    const raw = await pipeline(server.port, get('/slow') + post('/end', 'crash'));
    assert.deepEqual(statuses(raw), [200, 500]);
    assert.match(raw, /slow done/);
    const events = server.events().slice(before);
    assert.equal(events.length, 1);
    assert.equal(events[0]!.request.url, '/end');
    assert.equal(events[0]!.error.message, 'crash in end');
  });

  it("a request handed to a second server by hand runs in a request of its own, nested in the first", async () => {
    const before = server.events().length;
    const raw = await pipeline(server.port, get('/delegate/crash').replace('\r\n\r\n', '\r\nConnection: close\r\n\r\n'));
    assert.deepEqual(statuses(raw), [500]);
    const events = server.events().slice(before);
    assert.equal(events.length, 1);
    assert.equal(events[0]!.request.url, '/inner/crash');
    assert.equal(events[0]!.error.message, 'crash in inner');
  });

  it('after the second server returns, the first request is current again (its timer is its own)', async () => {
    const before = server.events().length;
    const raw = await pipeline(server.port, get('/delegate/late').replace('\r\n\r\n', '\r\nConnection: close\r\n\r\n'));
    assert.deepEqual(statuses(raw), [200]);
    assert.match(raw, /inner \/inner\/late/);
    for (let i = 0; i < 50 && server.events().length === before; i++) await new Promise((r) => setTimeout(r, 20));
    const events = server.events().slice(before);
    assert.equal(events.length, 1);
    assert.equal(events[0]!.error.message, 'late in outer');
    assert.equal(events[0]!.request.url, '/delegate/late', 'attributed to the outer request, not the one emitted by hand');
  });

  it('requests after a recovery on a new connection are served, the process is up', async () => {
    const raw = await pipeline(server.port, get('/ok') + post('/end', 'fine') + get('/last').replace('\r\n\r\n', '\r\nConnection: close\r\n\r\n'));
    assert.deepEqual(statuses(raw), [200, 200, 200]);
    assert.match(raw, /got fine/);
    assert.equal(server.child.exitCode, null);
  });
});
