'use strict';
/**
 * The node:cluster setup of the crash-storm benchmark:
 *
 *   node cluster.js app.js [args...]
 *
 * The primary forks WORKERS (default 2) workers running app.js, re-forks one
 * at once whenever a worker exits (the usual "keep N alive" supervisor), and
 * announces the shared port once as "listening <port>" on stdout, as the app
 * itself would. The port is fixed for the life of the primary, as in
 * production (PORT, or a free port picked at start and handed to the workers
 * in PORT): with port 0, the workers forked after all of them had died would
 * listen on a new random port. Every worker exit is logged on stderr as
 * "cluster: worker <pid> exited (code <c>, signal <s>); restart #<n>".
 * SIGTERM/SIGINT: stop re-forking, kill the workers, exit.
 */
const cluster = require('node:cluster');
const net = require('node:net');
const path = require('node:path');

const [entry, ...args] = process.argv.slice(2);
if (!entry) {
  process.stderr.write('usage: node cluster.js app.js [args...]\n');
  process.exit(2);
}
const count = Number(process.env.WORKERS) || 2;

// The workers' stdout is not inherited (each would announce the port); their
// stderr is (crash traces).
cluster.setupPrimary({ exec: path.resolve(entry), args, silent: true });

let stopping = false;
let restarts = 0;
let announced = false;

let port = Number(process.env.PORT) || 0;

function fork() {
  const worker = cluster.fork({ PORT: String(port) });
  worker.process.stderr.pipe(process.stderr, { end: false });
  worker.process.stdout.resume();
}

cluster.on('listening', (_worker, address) => {
  // The app's own port, not another server a worker may start (an in-process upstream).
  if (announced || address.port !== port) return;
  announced = true;
  process.stdout.write(`listening ${address.port}\n`);
});

cluster.on('exit', (worker, code, signal) => {
  if (stopping) return;
  restarts++;
  process.stderr.write(`cluster: worker ${worker.process.pid} exited (code ${code}, signal ${signal}); restart #${restarts}\n`);
  fork();
});

function stop() {
  if (stopping) return;
  stopping = true;
  const workers = Object.values(cluster.workers ?? {});
  let left = workers.length;
  if (left === 0) process.exit(0);
  for (const worker of workers) {
    worker.process.once('exit', () => {
      if (--left === 0) process.exit(0);
    });
    worker.process.kill('SIGTERM');
  }
  setTimeout(() => {
    for (const worker of workers) worker.process.kill('SIGKILL');
    process.exit(0);
  }, 2000).unref();
}
process.on('SIGTERM', stop);
process.on('SIGINT', stop);

function freePort() {
  return new Promise((resolve, reject) => {
    const probe = net.createServer();
    probe.on('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port: free } = probe.address();
      probe.close(() => resolve(free));
    });
  });
}

(async () => {
  if (port === 0) port = await freePort();
  for (let i = 0; i < count; i++) fork();
})();
