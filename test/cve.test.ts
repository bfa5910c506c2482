/**
 * Real, published crash bugs in real libraries, at their vulnerable versions
 * (devDependencies: busboy 0.3.1 + dicer 0.3.0, ws 8.17.0), each reached
 * through an unmodified server with the published proof-of-concept payload.
 *
 * One row per bug, one shared body:
 *   - plain node: the attack kills the process (non-zero exit) and a benign
 *     request in flight fails with it;
 *   - srs run: the process stays up, only the malicious request fails (500 or
 *     closed socket), a benign request in flight across the attack succeeds,
 *     benign traffic before and after works, the shared state equals what the
 *     benign traffic alone produces (oracle: the same traffic without the
 *     attack, under plain node), and exactly one srs.recovery event names the
 *     malicious request and reports what it released.
 *
 * Rows: CVE-2022-24434 with the published payload; CVE-2024-37890 with the
 * advisory's proof of concept; CVE-2022-24434 again, reached after the
 * malicious upload stored a valid file and a benign upload updated the same
 * counters (guarantee 2: restore and compensate).
 *
 * Node itself moved under two of these bugs, so each row states what it needs:
 * Node 24's pipe() catches what dest.write() throws (busboy gets an 'error'
 * event; the fixture, like busboy 0.3's README, has no listener, so the
 * process still dies), and Node 24 rejects requests over maxHeadersCount with
 * 431, so the ws bug is unreachable there: that row is skipped, on a probe.
 */
import assert = require('node:assert/strict');
import http = require('node:http');
import { test } from 'node:test';
import { fixture, request, sleep, startServer, type Reply, type ServerProcess } from './helpers';

// --- bounded waiting ---------------------------------------------------------

/** Resolves with p's value, or rejects after ms with a message saying what was awaited. */
function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  return Promise.race([p, deadline]).finally(() => clearTimeout(timer));
}

const alive = (server: ServerProcess) => server.child.exitCode === null && server.child.signalCode === null;

async function getState(port: number): Promise<unknown> {
  const reply = await request(port, '/state', { timeoutMs: 2000 });
  assert.equal(reply.status, 200, `GET /state: ${JSON.stringify(reply)}`);
  return JSON.parse(reply.body!);
}

/** The state once it equals `expected` (asynchronous closes settle), or the last one read. */
async function settledState(port: number, expected: unknown, ms = 2000): Promise<unknown> {
  const end = Date.now() + ms;
  let state = await getState(port);
  while (!isDeepEqual(state, expected) && Date.now() < end) {
    await sleep(25);
    state = await getState(port);
  }
  return state;
}

function isDeepEqual(a: unknown, b: unknown): boolean {
  try {
    assert.deepStrictEqual(a, b);
    return true;
  } catch {
    return false;
  }
}

// --- a minimal WebSocket client on the `ws` package (it ships no types) -------

interface WsSocket {
  readyState: number;
  on(event: 'open' | 'close', listener: () => void): this;
  on(event: 'message', listener: (data: Buffer, isBinary: boolean) => void): this;
  on(event: 'error', listener: (err: Error) => void): this;
  send(data: string): void;
  close(): void;
  terminate(): void;
}
const WebSocket = require('ws') as new (url: string) => WsSocket;

class WsClient {
  private readonly inbox: string[] = [];
  private waiting: ((message: string) => void) | undefined;
  private closed: Promise<void>;

  private constructor(readonly socket: WsSocket) {
    socket.on('message', (data) => {
      const text = data.toString();
      if (this.waiting) {
        const deliver = this.waiting;
        this.waiting = undefined;
        deliver(text);
      } else {
        this.inbox.push(text);
      }
    });
    this.closed = new Promise((resolve) => socket.on('close', () => resolve()));
  }

  static connect(port: number, urlPath = '/chat'): Promise<WsClient> {
    const socket = new WebSocket(`ws://127.0.0.1:${port}${urlPath}`);
    const opened = new Promise<WsClient>((resolve, reject) => {
      const client = new WsClient(socket);
      socket.on('open', () => resolve(client));
      socket.on('error', reject);
    });
    return within(opened, 3000, `WebSocket connect to ${urlPath}`).catch((err) => {
      socket.terminate();
      throw err;
    });
  }

  /** The next message received, within a deadline. */
  next(ms = 2000): Promise<string> {
    const queued = this.inbox.shift();
    if (queued !== undefined) return Promise.resolve(queued);
    return within(new Promise<string>((resolve) => (this.waiting = resolve)), ms, 'a WebSocket message');
  }

  async close(): Promise<void> {
    this.socket.close();
    try {
      await within(this.closed, 2000, 'the WebSocket close handshake');
    } catch {
      this.socket.terminate();
    }
  }

  terminate(): void {
    this.socket.terminate();
  }
}

// --- multipart bodies --------------------------------------------------------

const BOUNDARY = '----WebKitFormBoundaryoo6vortfDzBsDiro';
const multipartHeaders = { 'content-type': `multipart/form-data; boundary=${BOUNDARY}` };

function multipart(files: Array<{ name: string; content: string }>): string {
  let body = '';
  for (const f of files) {
    body += `--${BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="${f.name}"\r\n`;
    body += `Content-Type: text/plain\r\n\r\n${f.content}\r\n`;
  }
  return body + `--${BOUNDARY}--\r\n`;
}

// --- the rows ----------------------------------------------------------------

/** Benign traffic around the attack; `after` may use what `before` opened. */
interface Session {
  before(): Promise<void>;
  /** Benign traffic the attack lets through while it is under way (the oracle runs it too). */
  during?(): Promise<void>;
  after(): Promise<void>;
  /** Releases whatever is still open (a failed assertion, a dead server). */
  dispose(): void;
}

interface Row {
  name: string;
  fixture: string;
  /**
   * Sends the payload; resolves with what the client saw. Calls `during` once,
   * at the point where benign traffic should interleave with the attack.
   */
  attack(port: number, during: () => Promise<void>): Promise<Reply>;
  /** What the recovery event must say about the malicious request. */
  malicious: { kind: string; method: string; url: string; stack: RegExp };
  /** The malicious request wrote shared state before it crashed: the event must report it undone. */
  writesBeforeCrash?: boolean;
  benign(port: number): Session;
  /** What the benign traffic alone leaves in GET /state (checked against the plain-node oracle too). */
  expectedState: unknown;
  /**
   * Why this Node cannot reach the bug at all (its precondition was fixed in
   * Node itself), or undefined. Only a positively identified fix may skip a row.
   */
  unreachable?(): Promise<string | undefined>;
}

const ATTACKER = '?who=attacker';

const busboyRow: Row = {
  name: 'busboy 0.3.1 / dicer 0.3.0: CVE-2022-24434 (GHSA-wm7h-9275-46v2), part header starting with a space',
  fixture: 'busboy-upload.js',
  attack: async (port, during) => {
    await during();
    // The payload of the report, mscdex/dicer PR #22: the first (and only)
    // part's first header line starts with ' ' (a "folded" line with nothing
    // to fold into): HeaderParser dereferences this.header[undefined].
    return request(port, `/upload${ATTACKER}`, {
      method: 'POST',
      headers: multipartHeaders,
      body:
        `--${BOUNDARY}\r\n` +
        ` Content-Disposition: form-data; name="bildbeschreibung"\r\n\r\n\r\n` +
        `--${BOUNDARY}--`,
      timeoutMs: 3000,
    });
  },
  malicious: { kind: 'http', method: 'POST', url: `/upload${ATTACKER}`, stack: /dicer[\\/]lib[\\/]HeaderParser\.js/ },
  benign: (port) => {
    const upload = async (who: string, files: Array<{ name: string; content: string }>) => {
      const reply = await request(port, `/upload?who=${who}`, { method: 'POST', headers: multipartHeaders, body: multipart(files), timeoutMs: 3000 });
      assert.equal(reply.status, 201, `benign upload by ${who}: ${JSON.stringify(reply)}`);
      assert.deepEqual(JSON.parse(reply.body!), { stored: files.map((f) => ({ name: f.name, size: Buffer.byteLength(f.content) })) });
    };
    return {
      before: () => upload('alice', [{ name: 'alice.txt', content: 'hello from alice' }]),
      during: () => upload('carol', [{ name: 'carol.txt', content: 'carol was here' }]),
      after: () =>
        upload('bob', [
          { name: 'bob-1.txt', content: 'first file from bob' },
          { name: 'bob-2.csv', content: 'a,b\n1,2\n' },
        ]),
      dispose: () => {},
    };
  },
  expectedState: {
    uploads: 3,
    files: 4,
    bytes: 16 + 14 + 19 + 8,
    names: ['alice.txt', 'carol.txt', 'bob-1.txt', 'bob-2.csv'],
    stored: 4,
  },
};

/**
 * The same bug reached one part later: a valid file part arrives first and
 * the server stores it (files++, bytes +=, names.push, store.set); a benign
 * upload then completes and updates the same counters and list; only then
 * does the malicious part header arrive, in a later TCP segment. The faulty
 * request wrote shared state before it crashed, and others updated it after:
 * the oracle (benign traffic alone) has no trace of evil.txt but has carol's.
 */
function busboyAfterStoredPart(port: number, during: () => Promise<void>): Promise<Reply> {
  return new Promise((resolve) => {
    const req = http.request({
      host: '127.0.0.1', port, path: `/upload${ATTACKER}&variant=stored-part`, method: 'POST', agent: false,
      headers: { ...multipartHeaders, 'transfer-encoding': 'chunked' },
    });
    const done = (reply: Reply) => {
      clearTimeout(timer);
      resolve(reply);
    };
    const timer = setTimeout(() => {
      req.destroy();
      done({ error: 'TIMEOUT' });
    }, 5000);
    req.on('response', (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => done({ status: res.statusCode, headers: res.headers, body }));
      res.on('error', (e: NodeJS.ErrnoException) => done({ status: res.statusCode, error: e.code ?? e.message }));
    });
    req.on('error', (e: NodeJS.ErrnoException) => done({ error: e.code ?? e.message }));
    req.write(`--${BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="evil.txt"\r\n\r\nEVIL-PAYLOAD\r\n--${BOUNDARY}\r\n`);
    void sleep(200)
      .then(during)
      .then(
        () => req.end(` Content-Disposition: form-data; name="x"\r\n\r\n\r\n--${BOUNDARY}--`),
        (err: Error) => {
          req.destroy();
          done({ error: `benign traffic during the attack failed: ${err.message}` });
        },
      );
  });
}

const busboyStoredPartRow: Row = {
  ...busboyRow,
  name: 'busboy 0.3.1 / dicer 0.3.0: CVE-2022-24434, malicious part after a stored file part (state written before the crash)',
  attack: busboyAfterStoredPart,
  malicious: { ...busboyRow.malicious, url: `/upload${ATTACKER}&variant=stored-part` },
  writesBeforeCrash: true,
};

/** The proof of concept of GHSA-3h5v-q93c-6h6q: 2000 filler headers push Upgrade & co past maxHeadersCount. */
function pocHeaders(): http.OutgoingHttpHeaders {
  const chars = "!#$%&'*+-.0123456789abcdefghijklmnopqrstuvwxyz^_`|~".split('');
  const headers: http.OutgoingHttpHeaders = {};
  let count = 0;
  outer: for (const a of chars) {
    for (const b of chars) {
      headers[a + b] = 'x';
      if (++count === 2000) break outer;
    }
  }
  headers.Connection = 'Upgrade';
  headers.Upgrade = 'websocket';
  headers['Sec-WebSocket-Key'] = 'dGhlIHNhbXBsZSBub25jZQ==';
  headers['Sec-WebSocket-Version'] = '13';
  return headers;
}

function manyHeadersUpgrade(port: number): Promise<Reply> {
  const headers = pocHeaders();
  return new Promise((resolve) => {
    const req = http.request({ host: '127.0.0.1', port, path: `/${ATTACKER}`, headers, agent: false });
    const done = (reply: Reply) => {
      clearTimeout(timer);
      resolve(reply);
    };
    const timer = setTimeout(() => {
      req.destroy();
      done({ error: 'TIMEOUT' });
    }, 3000);
    req.on('upgrade', (res, socket) => {
      socket.destroy();
      done({ status: res.statusCode, headers: res.headers, body: '' });
    });
    req.on('response', (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => done({ status: res.statusCode, headers: res.headers, body }));
      res.on('error', (e: NodeJS.ErrnoException) => done({ status: res.statusCode, error: e.code ?? e.message }));
    });
    req.on('error', (e: NodeJS.ErrnoException) => done({ error: e.code ?? e.message }));
    req.end();
  });
}

/**
 * The bug needs Node to drop the headers past server.maxHeadersCount and still
 * emit 'upgrade'. Node 20 does. Node 22.23.2 / 24.18.1 / 26.5.1 and later
 * reject such a request in the parser (HPE_HEADER_OVERFLOW, 431; the fix for
 * CVE-2026-58044), so ws never sees it. Probed on a bare http.Server of this
 * very Node (the one that runs the fixtures), not guessed from the version.
 */
function headerCountOverflowRejected(): Promise<string | undefined> {
  return new Promise((resolve, reject) => {
    const server = http.createServer((_req, res) => res.end());
    const finish = (outcome: string | Error | undefined) => {
      clearTimeout(timer);
      server.close();
      server.closeAllConnections();
      if (outcome instanceof Error) reject(outcome);
      else resolve(outcome);
    };
    const timer = setTimeout(() => finish(new Error('probe: no upgrade and no clientError within 3000 ms')), 3000);
    server.on('upgrade', (req, socket) => {
      socket.destroy();
      finish(
        req.headers.upgrade === undefined
          ? undefined // vulnerable: Upgrade was dropped, yet 'upgrade' fired
          : new Error('probe: Node kept the Upgrade header; the proof of concept no longer drops it'),
      );
    });
    server.on('clientError', (err: NodeJS.ErrnoException, socket) => {
      socket.destroy();
      finish(
        err.code === 'HPE_HEADER_OVERFLOW'
          ? `Node ${process.version} rejects requests with more header pairs than maxHeadersCount (HPE_HEADER_OVERFLOW, 431) instead of dropping them: the precondition of CVE-2024-37890 is fixed in Node itself`
          : new Error(`probe: unexpected clientError ${err.code}`),
      );
    });
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      const req = http.request({ host: '127.0.0.1', port, path: '/', headers: pocHeaders(), agent: false });
      req.on('error', () => {}); // the probe server cuts the connection either way
      req.on('response', (res) => res.resume());
      req.end();
    });
  });
}

const wsRow: Row = {
  name: 'ws 8.17.0: CVE-2024-37890 (GHSA-3h5v-q93c-6h6q), upgrade request with more than maxHeadersCount headers',
  fixture: 'ws-echo.js',
  attack: async (port, during) => {
    await during();
    return manyHeadersUpgrade(port);
  },
  malicious: { kind: 'upgrade', method: 'GET', url: `/${ATTACKER}`, stack: /ws[\\/]lib[\\/]websocket-server\.js/ },
  benign: (port) => {
    // `resident` stays connected across the attack; the others come and go.
    const open: WsClient[] = [];
    let resident: WsClient | undefined;
    const connect = async () => {
      const c = await WsClient.connect(port);
      open.push(c);
      return c;
    };
    return {
      before: async () => {
        resident = await connect();
        const visitor = await connect();
        visitor.socket.send('before');
        assert.equal(await visitor.next(), 'echo: before');
        assert.equal(await resident.next(), '2: before');
        await visitor.close();
      },
      after: async () => {
        const visitor = await connect();
        visitor.socket.send('after');
        assert.equal(await visitor.next(), 'echo: after');
        assert.equal(await resident!.next(), '3: after');
        resident!.socket.send('still here');
        assert.equal(await resident!.next(), 'echo: still here');
        assert.equal(await visitor.next(), '1: still here');
        await visitor.close();
        await resident!.close();
      },
      dispose: () => {
        for (const c of open) c.terminate();
      },
    };
  },
  expectedState: { connected: 0, connections: 3, messages: 3, relayed: 3, history: ['before', 'after', 'still here'] },
  unreachable: headerCountOverflowRejected,
};

const rows: Row[] = [busboyRow, wsRow, busboyStoredPartRow];

// --- the shared body ---------------------------------------------------------

const SLOW_MS = 1200;

/** The benign traffic alone, under plain node: the oracle for the shared state. */
async function oracleState(row: Row): Promise<unknown> {
  const server = await startServer({ mode: 'node', entry: fixture(row.fixture) });
  const session = row.benign(server.port);
  try {
    await session.before();
    await session.during?.();
    const slow = await request(server.port, '/slow?ms=50', { timeoutMs: 3000 });
    assert.equal(slow.status, 200);
    await session.after();
    return await settledState(server.port, row.expectedState);
  } finally {
    session.dispose();
    await server.stop();
  }
}

for (const row of rows) {
  test(`plain node dies: ${row.name}`, { timeout: 30_000 }, async (t) => {
    const skip = await row.unreachable?.();
    if (skip !== undefined) return t.skip(skip);
    const server = await startServer({ mode: 'node', entry: fixture(row.fixture) });
    const session = row.benign(server.port);
    try {
      await session.before();
      const slow = request(server.port, `/slow?ms=${SLOW_MS}`, { timeoutMs: 5000 });
      await sleep(150);
      const attack = await row.attack(server.port, async () => {});
      const exit = await within(server.exited, 5000, 'the server to exit');
      assert.notEqual(exit.code, 0, `exit ${JSON.stringify(exit)}`);
      assert.ok(exit.code !== null || exit.signal !== null);
      const slowReply = await slow;
      assert.ok(slowReply.error !== undefined, `the request in flight should have failed: ${JSON.stringify(slowReply)}`);
      assert.notEqual(attack.status, 200);
      assert.match(server.stderr(), row.malicious.stack, 'the crash should come from the vulnerable library');
      assert.match(server.stderr(), /TypeError/);
    } finally {
      session.dispose();
      await server.stop();
    }
  });

  test(`srs run survives: ${row.name}`, { timeout: 30_000 }, async (t) => {
    const skip = await row.unreachable?.();
    if (skip !== undefined) return t.skip(skip);
    const oracle = await oracleState(row);
    assert.deepEqual(oracle, row.expectedState, 'the oracle run should produce the expected state');

    const server = await startServer({ mode: 'srs', entry: fixture(row.fixture) });
    const session = row.benign(server.port);
    try {
      await session.before();
      let slowDone = 0;
      const slow = request(server.port, `/slow?ms=${SLOW_MS}`, { timeoutMs: 5000 }).then((r) => ((slowDone = Date.now()), r));
      await sleep(150);
      let duringCalls = 0;
      const attack = await row.attack(server.port, async () => {
        duringCalls++;
        await session.during?.();
      });
      const attackDone = Date.now();
      assert.equal(duringCalls, 1, 'the attack must let the benign traffic of `during` through exactly once');
      t.diagnostic(`malicious request got: ${attack.status ?? attack.error}`);

      // The malicious request alone fails.
      // (A closed socket, not a hang: a request left hanging was not isolated.)
      const closed = attack.status === undefined && attack.error !== undefined && attack.error !== 'TIMEOUT';
      assert.ok(attack.status === 500 || closed, `malicious request: ${JSON.stringify(attack)}`);

      // The request in flight across the attack succeeds, after it.
      const slowReply = await slow;
      assert.equal(slowReply.status, 200, `request in flight: ${JSON.stringify(slowReply)}\n${server.stderr()}`);
      assert.equal(slowReply.body, 'slow done\n');
      assert.ok(slowDone > attackDone, 'the slow request should end after the attack');

      // Benign traffic after the attack works, and the process is still up.
      await session.after();
      assert.ok(alive(server), `server exited\n${server.stderr()}`);

      // State as if the attack never happened.
      assert.deepEqual(await settledState(server.port, oracle), oracle);

      // Exactly one recovery, naming the malicious request; nothing escalated.
      const events = server.events();
      const recoveries = events.filter((e) => e.type === 'srs.recovery');
      assert.equal(recoveries.length, 1, `recovery events: ${JSON.stringify(events)}`);
      const event = recoveries[0]!;
      assert.equal(event.request.kind, row.malicious.kind);
      assert.equal(event.request.method, row.malicious.method);
      assert.equal(event.request.url, row.malicious.url);
      assert.equal(event.crash, 'uncaughtException');
      assert.equal(event.error.name, 'TypeError');
      assert.match(event.error.stack, row.malicious.stack);
      // What the request owned is released, and said so: both attacks add
      // listeners in the request's context before the throw (req.pipe(busboy)
      // on req and busboy; ws's handleUpgrade an 'error' listener on the socket).
      t.diagnostic(`released: ${JSON.stringify(event.released)}, response: ${event.response}`);
      assert.ok(event.released.listeners >= 1, `released: ${JSON.stringify(event.released)}`);
      if (row.writesBeforeCrash) {
        // Its writes to shared state were taken back, and the event says so.
        t.diagnostic(`state: ${JSON.stringify(event.state)}`);
        assert.ok(event.state.restored + event.state.compensated >= 1, `state: ${JSON.stringify(event.state)}`);
        assert.equal(event.state.unresolved, 0, `state: ${JSON.stringify(event.state)}`);
      }
      assert.equal(events.filter((e) => e.type === 'srs.escalation' || e.type === 'srs.exit').length, 0, JSON.stringify(events));
      assert.ok(alive(server));
    } finally {
      session.dispose();
      await server.stop();
    }
  });
}
