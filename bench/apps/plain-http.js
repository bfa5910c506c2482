'use strict';
// Bare node:http: a small JSON API route with a path parameter, as a
// framework-free service would write it. Prints "listening <port>".
const http = require('node:http');

const userRoute = /^\/users\/([^/?#]+)$/;

const server = http.createServer((req, res) => {
  const match = req.method === 'GET' ? userRoute.exec(req.url) : null;
  if (match === null) {
    res.statusCode = 404;
    res.setHeader('content-type', 'application/json; charset=utf-8');
    res.end('{"error":"not found"}');
    return;
  }
  const id = decodeURIComponent(match[1]);
  const body = JSON.stringify({ id, name: `user ${id}`, active: true, roles: ['reader'] });
  res.writeHead(200, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(body),
  });
  res.end(body);
});

server.listen(0, '127.0.0.1', () => {
  process.stdout.write(`listening ${server.address().port}\n`);
});
