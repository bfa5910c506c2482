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

// With REALISTIC_WAIT_MS, each handler waits for a "database" before it answers.
const getUser = shared.withDatabase((req) => shared.getUser(req.params.id, req.headers));
const getProduct = shared.withDatabase((req) => shared.getProduct(req.params.category, req.params.id, req.headers));
const postEvent = shared.withDatabase((req) => shared.postEvent(req.params.id, req.body ?? null, req.headers));
const getStats = shared.withDatabase((req) => shared.getStats(req.headers));
// A handler without the wait answers synchronously, as before.
const reply = (res, body, status) => (status === undefined ? res.json(body) : res.status(status).json(body));
const answer = (handler, send) => (req, res, next) => {
  const result = handler(req);
  if (result instanceof Promise) result.then((value) => send(res, value)).catch(next);
  else send(res, result);
};

app.get('/users/:id', answer(getUser, reply));
app.get('/products/:category/:id', answer(getProduct, reply));
app.post('/users/:id/events', answer(postEvent, (res, [status, body]) => reply(res, body, status)));
app.get('/stats', answer(getStats, reply));

const server = app.listen(0, '127.0.0.1', () => {
  process.stdout.write(`listening ${server.address().port}\n`);
});
