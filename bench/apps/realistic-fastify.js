'use strict';
// Fastify 5 "realistic" app: routes with params, a JSON body parsed by
// Fastify's content-type parser, and the shared state of realistic-shared.js
// (LRU cache, counters, sessions). Prints "listening <port>".
const fastify = require('fastify')({ logger: false, bodyLimit: 16 * 1024 });
const shared = require('./realistic-shared');

fastify.get('/users/:id', async (request) => shared.getUser(request.params.id, request.headers));

fastify.get('/products/:category/:id', async (request) =>
  shared.getProduct(request.params.category, request.params.id, request.headers));

fastify.post('/users/:id/events', async (request, reply) => {
  const [status, body] = shared.postEvent(request.params.id, request.body ?? null, request.headers);
  reply.code(status);
  return body;
});

fastify.get('/stats', async (request) => shared.getStats(request.headers));

fastify.listen({ port: 0, host: '127.0.0.1' }).then(() => {
  process.stdout.write(`listening ${fastify.server.address().port}\n`);
}, (err) => {
  process.stderr.write(`${err.stack}\n`);
  process.exit(1);
});
