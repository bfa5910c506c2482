'use strict';
// Express 5: the same JSON route through the router and res.json().
// Prints "listening <port>".
const express = require('express');

const app = express();
app.disable('x-powered-by');

app.get('/users/:id', (req, res) => {
  const { id } = req.params;
  res.json({ id, name: `user ${id}`, active: true, roles: ['reader'] });
});

const server = app.listen(0, '127.0.0.1', () => {
  process.stdout.write(`listening ${server.address().port}\n`);
});
