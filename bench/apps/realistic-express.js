'use strict';
// Express 5 "realistic" app: routes with params, a JSON body parsed by
// express.json(), and the shared state of realistic-shared.js (LRU cache,
// counters, sessions). Prints "listening <port>".
const express = require('express');
const shared = require('./realistic-shared');

const app = express();
app.disable('x-powered-by');
app.disable('etag');
app.use(express.json({ limit: '16kb' }));

app.get('/users/:id', (req, res) => {
  res.json(shared.getUser(req.params.id, req.headers));
});

app.get('/products/:category/:id', (req, res) => {
  res.json(shared.getProduct(req.params.category, req.params.id, req.headers));
});

app.post('/users/:id/events', (req, res) => {
  const [status, body] = shared.postEvent(req.params.id, req.body ?? null, req.headers);
  res.status(status).json(body);
});

app.get('/stats', (req, res) => {
  res.json(shared.getStats(req.headers));
});

const server = app.listen(0, '127.0.0.1', () => {
  process.stdout.write(`listening ${server.address().port}\n`);
});
