'use strict';
/**
 * The crash-storm benchmark's server: a file-upload service on node:http +
 * busboy 0.3.1 (multipart parsing by dicer 0.3.0), with CVE-2022-24434
 * (GHSA-wm7h-9275-46v2) reachable by any client. A copy, owned by the
 * benchmark, of the real-bug server of the test corpus
 * (examples/busboy-cve-2022-24434/server.js), so that the benchmark does not
 * depend on where the corpus lives; only the state report is adapted to a
 * storm (compact counters, the full lists on demand).
 *
 * Trigger: a multipart part whose first header line starts with a space
 * (` Content-Disposition: ...`): dicer's HeaderParser dereferences
 * `this.header[undefined]`, a TypeError thrown inside `req.pipe(busboy)`
 * where no handler of the application can catch it (on Node 24 pipe()
 * catches it and busboy emits 'error', which has no listener, as in busboy
 * 0.3's README: still an uncaught exception).
 *
 * Like the test corpus's third row, the attack first uploads a valid file
 * part (the server stores it: store.set, files++, bytes +=, names.push) and
 * only then sends the malicious part: the faulty request has written shared
 * state before it crashes, while benign uploads update the same counters and
 * list. The state the benign uploads alone produce has no trace of it.
 *
 *   POST /upload         multipart/form-data; every file part is stored
 *   GET  /state          JSON: pid, uploads, files, bytes, names (count), stored (count)
 *   GET  /state?full=1   the same plus the lists: nameList (names pushed), storedList ([name, size] pairs)
 *
 * Prints "listening <port>" once it listens (port 0 unless PORT is set).
 */
const http = require('node:http');
const Busboy = require('busboy');

const state = { uploads: 0, files: 0, bytes: 0, names: [] };
const store = new Map(); // file name -> Buffer

function sendJson(res, status, value) {
  const body = JSON.stringify(value);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

function upload(req, res) {
  let busboy;
  try {
    busboy = new Busboy({ headers: req.headers, limits: { fileSize: 1 << 20, files: 10 } });
  } catch (err) {
    sendJson(res, 400, { error: err.message });
    return;
  }
  const stored = [];
  busboy.on('file', (field, file, filename) => {
    const chunks = [];
    file.on('data', (chunk) => chunks.push(chunk));
    file.on('end', () => {
      const data = Buffer.concat(chunks);
      const name = filename || field;
      store.set(name, data);
      state.files++;
      state.bytes += data.length;
      state.names.push(name);
      stored.push({ name, size: data.length });
    });
  });
  busboy.on('finish', () => {
    state.uploads++;
    sendJson(res, 201, { stored });
  });
  req.pipe(busboy);
}

function report(full) {
  const summary = { pid: process.pid, uploads: state.uploads, files: state.files, bytes: state.bytes, names: state.names.length, stored: store.size };
  if (!full) return summary;
  return { ...summary, nameList: [...state.names], storedList: [...store].map(([name, data]) => [name, data.length]) };
}

const server = http.createServer((req, res) => {
  const url = new URL(req.url || '/', 'http://localhost');
  if (req.method === 'POST' && url.pathname === '/upload') {
    upload(req, res);
  } else if (req.method === 'GET' && url.pathname === '/state') {
    sendJson(res, 200, report(url.searchParams.get('full') === '1'));
  } else {
    res.writeHead(404, { 'content-type': 'text/plain' });
    res.end('not found\n');
  }
});

server.listen(Number(process.env.PORT) || 0, '127.0.0.1', () => {
  process.stdout.write(`listening ${server.address().port}\n`);
});
