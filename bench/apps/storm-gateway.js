'use strict';
/**
 * The crash-storm benchmark's second server: an API gateway on Express 4
 * that counts the traffic it sees and forwards /api/** to an inventory
 * service with http-proxy-middleware 2.0.6, where CVE-2024-21536
 * (GHSA-c7qv-q95q-8v27) is reachable by any client. A copy, owned by the
 * benchmark, of the real-bug server of the test corpus
 * (examples/http-proxy-middleware-cve-2024-21536/server.js), adapted to a
 * storm: a fixed catalogue (responses do not grow with the run), stock
 * updates that commute, counters per client, and the full state on demand.
 *
 * Trigger: `GET //x@x`. The middleware is an async function whose context
 * filter runs `url.parse('//x@x').pathname` (null) through micromatch, which
 * throws "Expected input to be a string" outside the middleware's try/catch:
 * the promise rejects, Express 4 ignores it, and Node exits on the unhandled
 * rejection. Before that, the gateway's counting middleware has counted the
 * request (requests, byMethod, byClient): the faulty request has written
 * shared state that benign requests keep updating at the same time.
 *
 *   POST /api/stock/:sku   {"n": <int>}: proxied; the inventory adds n to the item's qty
 *   GET  /api/items        proxied; the catalogue (16 items)
 *   GET  /state            JSON: pid, the gateway's counters, the inventory
 *
 * Clients name themselves in `x-client` (the benchmark: "bench", the
 * attacker: "attacker"). Prints "listening <port>" once it listens (port 0
 * unless PORT is set).
 */
const http = require('node:http');
const express = require('express4'); // express@4 (an npm alias in package.json)
const { createProxyMiddleware } = require('http-proxy-middleware');

// --- the upstream: an inventory service ---------------------------------------

const SKUS = 16;
const inventory = new Map(); // sku -> { sku, qty }
for (let i = 1; i <= SKUS; i++) inventory.set(`sku-${i}`, { sku: `sku-${i}`, qty: 0 });

function sendJson(res, status, value) {
  const body = JSON.stringify(value);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

const upstream = http.createServer((req, res) => {
  if (req.method === 'GET' && req.url === '/api/items') {
    sendJson(res, 200, [...inventory.values()]);
    return;
  }
  const stock = req.method === 'POST' && /^\/api\/stock\/([\w-]+)$/.exec(req.url || '');
  if (!stock) {
    sendJson(res, 404, { error: 'not found' });
    return;
  }
  let body = '';
  req.setEncoding('utf8');
  req.on('data', (d) => (body += d));
  req.on('end', () => {
    const item = inventory.get(stock[1]);
    let n;
    try {
      n = JSON.parse(body).n;
    } catch {
      return sendJson(res, 400, { error: 'invalid JSON' });
    }
    if (!item) return sendJson(res, 404, { error: 'unknown sku' });
    if (!Number.isInteger(n)) return sendJson(res, 400, { error: 'n must be an integer' });
    item.qty += n;
    sendJson(res, 200, item);
  });
});

// --- the gateway ----------------------------------------------------------------

const stats = { requests: 0, byMethod: {}, byClient: {}, proxied: 0, byStatus: {} };
const app = express();
app.set('etag', false);

app.get('/state', (req, res) => {
  res.json({ pid: process.pid, ...stats, inventory: [...inventory.values()] });
});

app.use((req, res, next) => {
  const client = String(req.headers['x-client'] || 'anonymous');
  stats.requests++;
  stats.byMethod[req.method] = (stats.byMethod[req.method] || 0) + 1;
  stats.byClient[client] = (stats.byClient[client] || 0) + 1;
  next();
});

// Exclusive: under node:cluster each worker keeps its own upstream instead of
// sharing one port (and so one another's inventories) through the primary.
upstream.listen({ port: 0, host: '127.0.0.1', exclusive: true }, () => {
  app.use(
    createProxyMiddleware('/api/**', {
      target: `http://127.0.0.1:${upstream.address().port}`,
      logLevel: 'warn',
      // One pooled connection set to the upstream, as a gateway would keep.
      agent: new http.Agent({ keepAlive: true, maxSockets: 64 }),
      onProxyRes(proxyRes) {
        stats.proxied++;
        stats.byStatus[proxyRes.statusCode] = (stats.byStatus[proxyRes.statusCode] || 0) + 1;
      },
    }),
  );
  app.use((req, res) => res.status(404).type('text/plain').send('not found\n'));
  const server = app.listen(Number(process.env.PORT) || 0, '127.0.0.1', () => {
    process.stdout.write(`listening ${server.address().port}\n`);
  });
});
