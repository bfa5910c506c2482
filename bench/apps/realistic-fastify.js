'use strict';
// Fastify 5 "realistic" app: routes with params, a JSON body parsed by
// Fastify's content-type parser, and the shared state of realistic-shared.js
// (LRU cache, counters, sessions). Prints "listening <port>".
const fastify = require('fastify')({ logger: false, bodyLimit: 16 * 1024 });
const shared = require('./realistic-shared');

// With REALISTIC_WAIT_MS, each handler waits for a "database" before it answers.
const getUser = shared.withDatabase((request) => shared.getUser(request.params.id, request.headers));
const getProduct = shared.withDatabase((request) => shared.getProduct(request.params.category, request.params.id, request.headers));
const postEvent = shared.withDatabase((request) => shared.postEvent(request.params.id, request.body ?? null, request.headers));
const getStats = shared.withDatabase((request) => shared.getStats(request.headers));

fastify.get('/users/:id', async (request) => getUser(request));

fastify.get('/products/:category/:id', async (request) => getProduct(request));

fastify.post('/users/:id/events', async (request, reply) => {
  const [status, body] = await postEvent(request);
  reply.code(status);
  return body;
});

fastify.get('/stats', async (request) => getStats(request));

fastify.listen({ port: 0, host: '127.0.0.1' }).then(() => {
  process.stdout.write(`listening ${fastify.server.address().port}\n`);
}, (err) => {
  process.stderr.write(`${err.stack}\n`);
  process.exit(1);
});
