/**
 * The corpus of real bugs (examples/, one folder per bug; examples/README.md
 * has the table): small, realistic servers on the published vulnerable
 * versions, each attacked with the advisory's trigger.
 *
 * One row per bug, one shared body:
 *   - plain node: the attack kills the process (non-zero exit, the message of
 *     the vulnerable library on stderr) and a benign request in flight fails
 *     with it;
 *   - srs run: the process stays up, only the faulty unit fails (the request
 *     gets a 500 or its socket is closed; for an upgraded connection, that
 *     connection), a benign request in flight across the attack succeeds
 *     after it, clients connected before the attack keep working, benign
 *     traffic afterwards works, the shared state equals what the same benign
 *     traffic alone produces (oracle: the same script without the attack,
 *     under plain node), and exactly one srs.recovery event names the faulty
 *     unit and reports what it released.
 *
 * Node itself moved under one of these bugs: Node 22.23.2 / 24.18.1 and later
 * reject requests over maxHeadersCount with 431, so the ws bug is unreachable
 * there; that row is skipped on a probe of the running Node, never on its
 * version number.
 */
import assert = require('node:assert/strict');
import http = require('node:http');
import net = require('node:net');
import path = require('node:path');
import { test } from 'node:test';
import { io as ioClient, type Socket as IoSocket } from 'socket.io-client';
import { request, sleep, startServer, type Reply, type ServerProcess } from './helpers';

/** The examples are plain JavaScript servers; tests run from dist/test. */
function example(folder: string): string {
  return path.join(__dirname, '..', '..', 'examples', folder, 'server.js');
}

// --- bounded waiting ---------------------------------------------------------

/** Resolves with p's value, or rejects after ms with a message saying what was awaited. */
function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  return Promise.race([p, deadline]).finally(() => clearTimeout(timer));
}

/** Polls until cond() holds; rejects after ms. */
async function until(cond: () => boolean, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(10);
  }
}

const alive = (server: ServerProcess) => server.child.exitCode === null && server.child.signalCode === null;

async function getState(port: number): Promise<unknown> {
  const reply = await request(port, '/state', { timeoutMs: 2000 });
  assert.equal(reply.status, 200, `GET /state: ${JSON.stringify(reply)}`);
  return JSON.parse(reply.body!);
}

/** The state once it equals `expected` (disconnects settle asynchronously), or the last one read. */
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

// --- clients -------------------------------------------------------------------

/** Messages delivered one at a time, each awaited within a deadline. */
class Inbox {
  private readonly queue: string[] = [];
  private waiting: ((message: string) => void) | undefined;

  push(message: string): void {
    if (this.waiting) {
      const deliver = this.waiting;
      this.waiting = undefined;
      deliver(message);
    } else {
      this.queue.push(message);
    }
  }

  next(ms: number, what: string): Promise<string> {
    const queued = this.queue.shift();
    if (queued !== undefined) return Promise.resolve(queued);
    return within(new Promise<string>((resolve) => (this.waiting = resolve)), ms, what);
  }
}

// A minimal WebSocket client on the `ws` package (it ships no types).
interface WsSocket {
  on(event: 'open' | 'close', listener: () => void): this;
  on(event: 'message', listener: (data: Buffer, isBinary: boolean) => void): this;
  on(event: 'error', listener: (err: Error) => void): this;
  send(data: string): void;
  close(): void;
  terminate(): void;
}
const WebSocket = require('ws') as new (url: string) => WsSocket;

class WsClient {
  private readonly inbox = new Inbox();
  private readonly closed: Promise<void>;

  private constructor(readonly socket: WsSocket) {
    socket.on('message', (data) => this.inbox.push(data.toString()));
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

  next(ms = 2000): Promise<string> {
    return this.inbox.next(ms, 'a WebSocket message');
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

/**
 * The chat examples' attacker signs in as this name. What it said reaches the
 * others before the crash (no server takes back what it already sent) and the
 * oracle has no attacker at all, so benign clients skip its messages.
 */
const ATTACKER_NAME = 'mallory';

/** A socket.io client of the chat examples: event 'chat' (text, ack) / broadcast 'chat' (name, text). */
class SioClient {
  private readonly inbox = new Inbox();

  private constructor(readonly socket: IoSocket) {
    socket.on('chat', (from: string, text: string) => {
      if (from !== ATTACKER_NAME) this.inbox.push(`${from}: ${text}`);
    });
  }

  static connect(port: number, name: string): Promise<SioClient> {
    const socket = ioClient(`http://127.0.0.1:${port}`, {
      transports: ['websocket'], // one upgraded connection per client: one unit of work for SRS
      forceNew: true,
      reconnection: false,
      timeout: 3000,
      auth: { name },
    });
    const client = new SioClient(socket);
    const connected = new Promise<SioClient>((resolve, reject) => {
      socket.once('connect', () => resolve(client));
      socket.once('connect_error', reject);
    });
    return within(connected, 3000, `socket.io connect as ${name}`).catch((err) => {
      socket.disconnect();
      throw err;
    });
  }

  async chat(text: string): Promise<void> {
    const ack: unknown = await within(this.socket.timeout(2000).emitWithAck('chat', text), 3000, `the ack of "${text}"`);
    assert.equal(ack, 'ok');
  }

  next(ms = 2000): Promise<string> {
    return this.inbox.next(ms, 'a chat message');
  }

  close(): void {
    this.socket.disconnect();
  }
}

// --- requests the shared helpers do not cover ------------------------------------

/** A request whose body is sent in two writes, with benign traffic in between. */
function twoPartRequest(
  port: number,
  urlPath: string,
  headers: http.OutgoingHttpHeaders,
  first: string,
  rest: string,
  between: () => Promise<void>,
): Promise<Reply> {
  return new Promise((resolve) => {
    const req = http.request({ host: '127.0.0.1', port, path: urlPath, method: 'POST', agent: false, headers: { ...headers, 'transfer-encoding': 'chunked' } });
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
    req.write(first);
    void sleep(200)
      .then(between)
      .then(
        () => req.end(rest),
        (err: Error) => {
          req.destroy();
          done({ error: `benign traffic during the attack failed: ${err.message}` });
        },
      );
  });
}

/** Raw bytes on a fresh TCP connection; resolves when the server closes it. */
function rawExchange(port: number, bytes: Buffer): Promise<Reply> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    let received = '';
    const done = (reply: Reply) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(reply);
    };
    const timer = setTimeout(() => done({ error: 'TIMEOUT', body: received }), 3000);
    socket.on('connect', () => socket.write(bytes));
    socket.on('data', (d) => (received += d.toString('latin1')));
    socket.on('error', (e: NodeJS.ErrnoException) => done({ error: e.code ?? e.message, body: received }));
    socket.on('close', () => done({ error: 'CLOSED', body: received }));
  });
}

/** Sends an HTTP request head, then resets the connection (TCP RST) after ms. */
function requestThenReset(port: number, head: string, ms: number): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    const timer = setTimeout(() => reject(new Error('requestThenReset: no connection within 3000 ms')), 3000);
    socket.on('error', () => {}); // reset by us
    socket.on('connect', () => {
      socket.write(head);
      setTimeout(() => {
        clearTimeout(timer);
        socket.resetAndDestroy();
        resolve({ error: 'RESET_BY_CLIENT' });
      }, ms);
    });
  });
}

// --- multipart bodies --------------------------------------------------------

const BOUNDARY = '----WebKitFormBoundaryoo6vortfDzBsDiro';
const multipartHeaders = { 'content-type': `multipart/form-data; boundary=${BOUNDARY}` };

function multipart(field: string, files: Array<{ name: string; content: string }>): string {
  let body = '';
  for (const f of files) {
    body += `--${BOUNDARY}\r\nContent-Disposition: form-data; name="${field}"; filename="${f.name}"\r\n`;
    body += `Content-Type: text/plain\r\n\r\n${f.content}\r\n`;
  }
  return body + `--${BOUNDARY}--\r\n`;
}

/** Uploads that must succeed, with the reply both upload examples give. */
function uploader(port: number, urlPath: string, field: string) {
  return async (who: string, files: Array<{ name: string; content: string }>) => {
    const reply = await request(port, `${urlPath}?who=${who}`, { method: 'POST', headers: multipartHeaders, body: multipart(field, files), timeoutMs: 3000 });
    assert.equal(reply.status, 201, `benign upload by ${who}: ${JSON.stringify(reply)}`);
    assert.deepEqual(JSON.parse(reply.body!), { stored: files.map((f) => ({ name: f.name, size: Buffer.byteLength(f.content) })) });
  };
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

type ReleasedKind = 'timers' | 'intervals' | 'immediates' | 'sockets' | 'clientRequests' | 'streams' | 'listeners';

interface Row {
  name: string;
  /** Folder under examples/. */
  example: string;
  /**
   * Sends the payload; resolves with what the attacker saw. Calls `during`
   * once, at the point where benign traffic should interleave with the attack.
   */
  attack(port: number, during: () => Promise<void>): Promise<Reply>;
  /** What the recovery event must say about the faulty unit and its crash. */
  malicious: {
    kind: 'http' | 'upgrade';
    method: string;
    url: string;
    crash: 'uncaughtException' | 'unhandledRejection';
    error: string;
    message: RegExp;
    stack: RegExp;
  };
  /** What plain node prints on stderr when the attack kills it (each must match). */
  nodeDies: RegExp[];
  /** Minimum counts in the event's `released`: what the faulty unit owned when it crashed. */
  released: Partial<Record<ReleasedKind, number>>;
  /** The faulty unit wrote shared state before it crashed: the event must report it undone. */
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

// busboy 0.3.1 / dicer 0.3.0 ------------------------------------------------------

const busboyState = {
  uploads: 3,
  files: 4,
  bytes: 16 + 14 + 19 + 8,
  names: ['alice.txt', 'carol.txt', 'bob-1.txt', 'bob-2.csv'],
  stored: 4,
};

function uploadSession(upload: ReturnType<typeof uploader>): Session {
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
}

const busboyRow: Row = {
  name: 'busboy 0.3.1 / dicer 0.3.0, CVE-2022-24434: part header starting with a space',
  example: 'busboy-cve-2022-24434',
  attack: async (port, during) => {
    await during();
    // The payload of the report, mscdex/dicer PR #22: the first (and only)
    // part's first header line starts with ' ' (a "folded" line with nothing
    // to fold into): HeaderParser dereferences this.header[undefined].
    return request(port, `/upload${ATTACKER}`, {
      method: 'POST',
      headers: multipartHeaders,
      body: `--${BOUNDARY}\r\n` + ` Content-Disposition: form-data; name="bildbeschreibung"\r\n\r\n\r\n` + `--${BOUNDARY}--`,
      timeoutMs: 3000,
    });
  },
  malicious: { kind: 'http', method: 'POST', url: `/upload${ATTACKER}`, crash: 'uncaughtException', error: 'TypeError', message: /./, stack: /dicer[\\/]lib[\\/]HeaderParser\.js/ },
  nodeDies: [/TypeError/, /dicer[\\/]lib[\\/]HeaderParser\.js/],
  released: { listeners: 1 }, // req.pipe(busboy): listeners on req and busboy
  benign: (port) => uploadSession(uploader(port, '/upload', 'file')),
  expectedState: busboyState,
};

/**
 * The same bug reached one part later: a valid file part arrives first and
 * the server stores it (files++, bytes +=, names.push, store.set); a benign
 * upload then completes and updates the same counters and list; only then
 * does the malicious part header arrive, in a later TCP segment. The faulty
 * request wrote shared state before it crashed, and others updated it after:
 * the oracle (benign traffic alone) has no trace of evil.txt but has carol's.
 */
const busboyStoredPartRow: Row = {
  ...busboyRow,
  name: 'busboy 0.3.1 / dicer 0.3.0, CVE-2022-24434: the same header after a stored file part (state written before the crash)',
  attack: (port, during) =>
    twoPartRequest(
      port,
      `/upload${ATTACKER}&variant=stored-part`,
      multipartHeaders,
      `--${BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="evil.txt"\r\n\r\nEVIL-PAYLOAD\r\n--${BOUNDARY}\r\n`,
      ` Content-Disposition: form-data; name="x"\r\n\r\n\r\n--${BOUNDARY}--`,
      during,
    ),
  malicious: { ...busboyRow.malicious, url: `/upload${ATTACKER}&variant=stored-part` },
  writesBeforeCrash: true,
};

// ws 8.17.0 -------------------------------------------------------------------------

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
 * very Node (the one that runs the examples), not guessed from the version.
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
      const { port } = server.address() as net.AddressInfo;
      const req = http.request({ host: '127.0.0.1', port, path: '/', headers: pocHeaders(), agent: false });
      req.on('error', () => {}); // the probe server cuts the connection either way
      req.on('response', (res) => res.resume());
      req.end();
    });
  });
}

const wsRow: Row = {
  name: 'ws 8.17.0, CVE-2024-37890: upgrade request with more than maxHeadersCount headers',
  example: 'ws-cve-2024-37890',
  attack: async (port, during) => {
    await during();
    return manyHeadersUpgrade(port);
  },
  malicious: { kind: 'upgrade', method: 'GET', url: `/${ATTACKER}`, crash: 'uncaughtException', error: 'TypeError', message: /toLowerCase/, stack: /ws[\\/]lib[\\/]websocket-server\.js/ },
  nodeDies: [/TypeError/, /ws[\\/]lib[\\/]websocket-server\.js/],
  released: { listeners: 1 }, // handleUpgrade's 'error' listener on the socket
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

// the socket.io chat examples --------------------------------------------------------

/**
 * alice stays connected across the attack; bob comes and goes before it,
 * carol while it is under way, dave after it.
 */
function chatSession(port: number): Session {
  const open: SioClient[] = [];
  let alice: SioClient | undefined;
  const connect = async (name: string) => {
    const c = await SioClient.connect(port, name);
    open.push(c);
    return c;
  };
  return {
    before: async () => {
      alice = await connect('alice');
      const bob = await connect('bob');
      await bob.chat('hi from bob');
      assert.equal(await alice.next(), 'bob: hi from bob');
      bob.close();
    },
    during: async () => {
      const carol = await connect('carol');
      await carol.chat('carol was here');
      assert.equal(await alice!.next(), 'carol: carol was here');
      carol.close();
    },
    after: async () => {
      const dave = await connect('dave');
      await dave.chat('after');
      assert.equal(await alice!.next(), 'dave: after');
      await alice!.chat('still here');
      assert.equal(await dave.next(), 'alice: still here');
      dave.close();
      alice!.close();
    },
    dispose: () => {
      for (const c of open) c.close();
    },
  };
}

const chatState = {
  connected: 0,
  connections: 4,
  messages: 4,
  history: ['bob: hi from bob', 'carol: carol was here', 'dave: after', 'alice: still here'],
  users: [],
};

const eioHandshake = (port: number) =>
  `GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n` +
  `Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n`;

const engineIoRsvRow: Row = {
  name: 'engine.io 6.1.0 (socket.io 4.8), CVE-2022-21676: WebSocket frame with RSV2/RSV3 set, sent with the handshake',
  example: 'engine.io-cve-2022-21676',
  attack: async (port, during) => {
    await during();
    // FIN + RSV2 + RSV3 + opcode 1 (text), masked, 1-byte payload "A" (mask 0).
    // It must arrive with the handshake, before engine.io's transport listens for errors.
    const frame = Buffer.from([0xb1, 0x81, 0, 0, 0, 0, 0x41]);
    return rawExchange(port, Buffer.concat([Buffer.from(eioHandshake(port)), frame]));
  },
  malicious: {
    kind: 'upgrade', method: 'GET', url: '/socket.io/?EIO=4&transport=websocket', crash: 'uncaughtException',
    error: 'RangeError', message: /RSV2 and RSV3 must be clear/, stack: /engine\.io-610[\\/]node_modules[\\/]ws[\\/]lib[\\/]receiver\.js/,
  },
  nodeDies: [/RangeError: Invalid WebSocket frame: RSV2 and RSV3 must be clear/, /Emitted 'error' event on WebSocket/],
  released: { listeners: 1 }, // ws's and engine.io's listeners on the upgraded socket
  benign: chatSession,
  expectedState: chatState,
};

const engineIoResetRow: Row = {
  name: 'engine.io 6.2.0 (socket.io 4.8), CVE-2022-41940: non-WebSocket upgrade request (h2c) reset by the client',
  example: 'engine.io-cve-2022-41940',
  attack: async (port, during) => {
    await during();
    // What `curl --http2 http://host/` sends, outside engine.io's path; then a TCP RST.
    const head =
      `GET / HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\n` +
      `HTTP2-Settings: AAMAAABkAAQCAAAAAAIAAAAA\r\n\r\n`;
    return requestThenReset(port, head, 100);
  },
  malicious: { kind: 'upgrade', method: 'GET', url: '/', crash: 'uncaughtException', error: 'Error', message: /read ECONNRESET/, stack: /onStreamRead/ },
  nodeDies: [/Error: read ECONNRESET/, /Emitted 'error' event on Socket/],
  released: { timers: 1 }, // engine.io's destroyUpgrade timer (1 s)
  benign: chatSession,
  expectedState: chatState,
};

/**
 * The faulty unit is the attacker's whole upgraded connection: what it did
 * since it connected is taken back, and the oracle has no attacker at all.
 * GET /state is the application's state; socket.io's and engine.io's own
 * bookkeeping (io.engine.clientsCount, io.of('/').sockets) is not compared:
 * after the recovery it keeps the dead client for good: release() removed the
 * listeners that would have told it the connection closed and cleared the
 * ping timer that would have reaped it.
 */
const socketIoParserRow: Row = {
  name: 'socket.io-parser 4.2.2 (socket.io 4.8), CVE-2023-32695: event packet whose event name is an object',
  example: 'socket.io-parser-cve-2023-32695',
  attack: async (port, during) => {
    // A regular member first: it joins (user list, counters) and chats
    // (history), while others come and go; only then the malicious packet.
    const mallory = await SioClient.connect(port, ATTACKER_NAME);
    try {
      await mallory.chat('hi, I am new here');
      await during();
      const gone = new Promise<string>((resolve) => mallory.socket.once('disconnect', (reason) => resolve(reason)));
      mallory.socket.io.engine.write('2[{"toString":"foo"}]'); // engine.io message 4 + socket.io EVENT packet
      return { error: `DISCONNECTED (${await within(gone, 3000, 'the attacker to be disconnected')})` };
    } catch (err) {
      return { error: err instanceof Error && /timed out/.test(err.message) ? 'TIMEOUT' : String(err) };
    } finally {
      mallory.close();
    }
  },
  malicious: { kind: 'upgrade', method: 'GET', url: '/socket.io/?EIO=4&transport=websocket', crash: 'uncaughtException', error: 'TypeError', message: /Cannot convert object to primitive value/, stack: /socket\.io[\\/]dist[\\/]socket\.js/ },
  nodeDies: [/TypeError: Cannot convert object to primitive value/],
  released: { listeners: 1 },
  writesBeforeCrash: true,
  benign: chatSession,
  expectedState: chatState,
};

// http-proxy-middleware 2.0.6 ----------------------------------------------------------

const proxyRow: Row = {
  name: 'http-proxy-middleware 2.0.6 (Express 4), CVE-2024-21536: request path //x@x',
  example: 'http-proxy-middleware-cve-2024-21536',
  attack: async (port, during) => {
    await during();
    return request(port, '//x@x', { timeoutMs: 3000 });
  },
  malicious: { kind: 'http', method: 'GET', url: '//x@x', crash: 'unhandledRejection', error: 'TypeError', message: /Expected input to be a string/, stack: /http-proxy-middleware[\\/]dist[\\/]context-matcher\.js/ },
  nodeDies: [/TypeError: Expected input to be a string/, /http-proxy-middleware[\\/]dist[\\/]context-matcher\.js/],
  released: {},
  writesBeforeCrash: true, // the gateway's request counters
  benign: (port) => {
    const call = async (method: string, body: unknown, status: number, expected: unknown) => {
      const reply = await request(port, '/api/items', {
        method,
        headers: body === undefined ? {} : { 'content-type': 'application/json' },
        body: body === undefined ? undefined : JSON.stringify(body),
        timeoutMs: 3000,
      });
      assert.equal(reply.status, status, `${method} /api/items: ${JSON.stringify(reply)}`);
      assert.deepEqual(JSON.parse(reply.body!), expected);
    };
    const widget = { sku: 'sku-1', name: 'widget', qty: 3 };
    const gadget = { sku: 'sku-2', name: 'gadget', qty: 1 };
    return {
      before: async () => {
        await call('POST', { name: 'widget', qty: 3 }, 201, widget);
        await call('GET', undefined, 200, [widget]);
      },
      during: () => call('POST', { name: 'gadget', qty: 1 }, 201, gadget),
      after: async () => {
        await call('GET', undefined, 200, [widget, gadget]);
        await call('POST', { name: 'gizmo', qty: 7 }, 201, { sku: 'sku-3', name: 'gizmo', qty: 7 });
      },
      dispose: () => {},
    };
  },
  expectedState: {
    requests: 6, // 5 proxied + GET /slow
    byMethod: { POST: 3, GET: 3 },
    proxied: 5,
    byStatus: { 200: 2, 201: 3 },
    inventory: [
      { sku: 'sku-1', name: 'widget', qty: 3 },
      { sku: 'sku-2', name: 'gadget', qty: 1 },
      { sku: 'sku-3', name: 'gizmo', qty: 7 },
    ],
  },
};

// multer 2.0.0 ----------------------------------------------------------------------------

/**
 * A valid document first, which the storage engine stores (documents.set,
 * counters, names.push); a benign upload completes meanwhile; then, in a
 * later TCP segment, the part with the empty field name.
 */
const multerRow: Row = {
  name: 'multer 2.0.0 (Express 5), CVE-2025-48997: file part with an empty field name, after a stored part',
  example: 'multer-cve-2025-48997',
  attack: (port, during) =>
    twoPartRequest(
      port,
      `/documents${ATTACKER}`,
      multipartHeaders,
      `--${BOUNDARY}\r\nContent-Disposition: form-data; name="document"; filename="evil.txt"\r\nContent-Type: text/plain\r\n\r\nEVIL-PAYLOAD\r\n--${BOUNDARY}\r\n`,
      `Content-Disposition: form-data; name=""; filename="x.txt"\r\nContent-Type: text/plain\r\n\r\nx\r\n--${BOUNDARY}--\r\n`,
      during,
    ),
  malicious: { kind: 'http', method: 'POST', url: `/documents${ATTACKER}`, crash: 'uncaughtException', error: 'TypeError', message: /reading 'length'/, stack: /multer[\\/]lib[\\/]make-middleware\.js/ },
  nodeDies: [/TypeError: Cannot read properties of undefined \(reading 'length'\)/, /multer[\\/]lib[\\/]make-middleware\.js/],
  released: { listeners: 1 }, // req.pipe(busboy), multer's listeners on req, busboy and the part stream
  writesBeforeCrash: true,
  benign: (port) => {
    const session = uploadSession(uploader(port, '/documents', 'document'));
    return {
      ...session,
      after: async () => {
        await session.after();
        // multer's own error path still works: a file in an unexpected field is refused, nothing stored.
        const reply = await request(port, '/documents?who=dave', { method: 'POST', headers: multipartHeaders, body: multipart('avatar', [{ name: 'dave.png', content: 'not really a png' }]), timeoutMs: 3000 });
        assert.equal(reply.status, 400, JSON.stringify(reply));
        assert.deepEqual(JSON.parse(reply.body!), { error: 'LIMIT_UNEXPECTED_FILE' });
      },
    };
  },
  expectedState: busboyState,
};

const rows: Row[] = [busboyRow, busboyStoredPartRow, wsRow, engineIoRsvRow, socketIoParserRow, proxyRow, multerRow, engineIoResetRow];

// --- the shared body ---------------------------------------------------------

const SLOW_MS = 1200;

/** The benign traffic alone, under plain node: the oracle for the shared state. */
async function oracleState(row: Row): Promise<unknown> {
  const server = await startServer({ mode: 'node', entry: example(row.example) });
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
    const server = await startServer({ mode: 'node', entry: example(row.example) });
    const session = row.benign(server.port);
    try {
      await session.before();
      const slow = request(server.port, `/slow?ms=${SLOW_MS}`, { timeoutMs: 5000 });
      await sleep(150);
      const attack = await row.attack(server.port, async () => {});
      const exit = await within(server.exited, 5000, 'the server to exit');
      t.diagnostic(`exit: ${JSON.stringify(exit)}; the attacker got ${attack.status ?? attack.error}`);
      assert.notEqual(exit.code, 0, `exit ${JSON.stringify(exit)}`);
      assert.ok(exit.code !== null || exit.signal !== null);
      const slowReply = await slow;
      assert.ok(slowReply.error !== undefined, `the request in flight should have failed: ${JSON.stringify(slowReply)}`);
      assert.notEqual(attack.status, 200);
      for (const re of row.nodeDies) assert.match(server.stderr(), re, 'the crash should come from the vulnerable library');
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

    const server = await startServer({ mode: 'srs', entry: example(row.example) });
    const session = row.benign(server.port);
    const recoveries = () => server.events().filter((e) => e.type === 'srs.recovery');
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
      t.diagnostic(`the attacker got: ${attack.status ?? attack.error}`);
      // Some crashes come a moment after the attacker is done (a reset is read, a packet dispatched on a later tick).
      await until(() => recoveries().length > 0 || !alive(server), 3000, `a recovery event\n${server.stderr()}`);

      // The faulty unit alone fails: a 500, or its connection closed (by the
      // server, or reset by the attacker itself) — not left hanging.
      const closed = attack.status === undefined && attack.error !== undefined && attack.error !== 'TIMEOUT';
      assert.ok(attack.status === 500 || closed, `malicious request: ${JSON.stringify(attack)}`);

      // The request in flight across the attack succeeds, after it.
      const slowReply = await slow;
      assert.equal(slowReply.status, 200, `request in flight: ${JSON.stringify(slowReply)}\n${server.stderr()}`);
      assert.equal(slowReply.body, 'slow done\n');
      assert.ok(slowDone > attackDone, 'the slow request should end after the attack');

      // Clients connected before the attack and benign traffic after it work, and the process is still up.
      await session.after();
      assert.ok(alive(server), `server exited\n${server.stderr()}`);

      // State as if the attack never happened.
      assert.deepEqual(await settledState(server.port, oracle), oracle);

      // Exactly one recovery, naming the faulty unit; nothing escalated.
      const events = server.events();
      assert.equal(recoveries().length, 1, `recovery events: ${JSON.stringify(events)}`);
      const event = recoveries()[0]!;
      assert.equal(event.request.kind, row.malicious.kind);
      assert.equal(event.request.method, row.malicious.method);
      assert.equal(event.request.url, row.malicious.url);
      assert.equal(event.crash, row.malicious.crash);
      assert.equal(event.error.name, row.malicious.error);
      assert.match(event.error.message, row.malicious.message);
      assert.match(event.error.stack, row.malicious.stack);
      t.diagnostic(`response: ${event.response}, released: ${JSON.stringify(event.released)}, state: ${JSON.stringify(event.state)}, journal: ${event.journal}`);
      for (const [kind, min] of Object.entries(row.released) as Array<[ReleasedKind, number]>) {
        assert.ok(event.released[kind] >= min, `released.${kind} >= ${min}: ${JSON.stringify(event.released)}`);
      }
      if (row.writesBeforeCrash) {
        // Its writes to shared state were taken back, and the event says so.
        assert.ok(event.state.restored + event.state.compensated >= 1, `state: ${JSON.stringify(event.state)}`);
        assert.equal(event.state.unresolved, 0, `state: ${JSON.stringify(event.state)}`);
      }
      const suppressed = events.filter((e) => e.type === 'srs.suppressed').length;
      if (suppressed > 0) t.diagnostic(`suppressed follow-up errors: ${suppressed}`);
      assert.equal(events.filter((e) => e.type === 'srs.escalation' || e.type === 'srs.exit').length, 0, JSON.stringify(events));
      assert.ok(alive(server));
    } finally {
      session.dispose();
      await server.stop();
    }
  });
}
