'use strict';
// Fastify 5: the same JSON route, with a response schema (fast-json-stringify)
// as Fastify apps usually declare. Prints "listening <port>".
const fastify = require('fastify')({ logger: false });

fastify.get('/users/:id', {
  schema: {
    response: {
      200: {
        type: 'object',
        properties: {
          id: { type: 'string' },
          name: { type: 'string' },
          active: { type: 'boolean' },
          roles: { type: 'array', items: { type: 'string' } },
        },
      },
    },
  },
}, async (request) => {
  const { id } = request.params;
  return { id, name: `user ${id}`, active: true, roles: ['reader'] };
});

fastify.listen({ port: 0, host: '127.0.0.1' }).then(() => {
  process.stdout.write(`listening ${fastify.server.address().port}\n`);
}, (err) => {
  process.stderr.write(`${err.stack}\n`);
  process.exit(1);
});
