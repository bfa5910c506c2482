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
const closing = (raw: string) => raw.replace('\r\n\r\n', '\r\nConnection: close\r\n\r\n');
const statuses = (raw: string) => [...raw.matchAll(/HTTP\/1\.1 (\d{3})/g)].map((m) => Number(m[1]));

describe('pipelined requests under srs run', () => {
  let server: ServerProcess;
  before(async () => {
    server = await startServer({ mode: 'srs', entry: fixture('pipeline-app.js') });
  });
  after(async () => {
    await server.stop();
  });

  /** Sends `requests` in one write, checks the statuses, waits for and returns the one recovery event they cause. */
  async function oneRecovery(requests: string, expected: number[]): Promise<{ raw: string; event: Record<string, any> }> {
    const before = server.events().length;
    const raw = await pipeline(server.port, requests);
    assert.deepEqual(statuses(raw), expected);
    for (let i = 0; i < 50 && server.events().length === before; i++) await new Promise((r) => setTimeout(r, 20));
    const events = server.events().slice(before);
    assert.equal(events.length, 1, `one recovery event, got ${JSON.stringify(events)}`);
    return { raw, event: events[0]! };
  }

  it('a handler that throws fails alone: the request before it on the connection completes', async () => {
    const { raw, event } = await oneRecovery(get('/slow') + get('/crash'), [200, 500]);
    assert.match(raw, /slow done/);
    assert.equal(event.request.url, '/crash');
    assert.equal(event.released.timers, 0, "the slow request's timer is not the faulty request's");
  });

  it("a body's 'end' listener that throws fails its own request, delivered in the same read", async () => {
    const { raw, event } = await oneRecovery(get('/slow') + post('/end', 'crash'), [200, 500]);
    assert.match(raw, /slow done/);
    assert.equal(event.request.url, '/end');
    assert.equal(event.error.message, 'crash in end');
  });

  it('a rejection fails its request alone: the connection stays open for the requests pipelined after it', async () => {
    const { raw, event } = await oneRecovery(get('/reject') + get('/ok') + closing(post('/end', 'fine')), [500, 200, 200]);
    assert.equal(event.crash, 'unhandledRejection');
    assert.equal(event.request.url, '/reject');
    assert.doesNotMatch(raw.split('\r\n\r\n')[0]!, /connection: close/i, 'the 500 keeps the connection');
    assert.match(raw, /got fine/);
  });

  it('a rejection before its request was read to its end closes the connection: the rest is not parsed as a request', async () => {
    const { raw, event } = await oneRecovery(`POST /reject HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n${get('/ok')}`, [500]);
    assert.equal(event.crash, 'unhandledRejection');
    assert.match(raw, /connection: close/i);
  });

  it('a request handed to a second server by hand runs in a request of its own, nested in the first', async () => {
    const { event } = await oneRecovery(closing(get('/delegate/crash')), [500]);
    assert.equal(event.request.url, '/inner/crash');
    assert.equal(event.error.message, 'crash in inner');
  });

  it('after the second server returns, the first request is current again (its timer is its own)', async () => {
    const { raw, event } = await oneRecovery(closing(get('/delegate/late')), [200]);
    assert.match(raw, /inner \/inner\/late/);
    assert.equal(event.error.message, 'late in outer');
    assert.equal(event.request.url, '/delegate/late', 'attributed to the outer request, not the one emitted by hand');
  });

  it('requests after a recovery on a new connection are served, the process is up', async () => {
    const raw = await pipeline(server.port, get('/ok') + post('/end', 'fine') + closing(get('/last')));
    assert.deepEqual(statuses(raw), [200, 200, 200]);
    assert.match(raw, /got fine/);
    assert.equal(server.child.exitCode, null);
  });
});
