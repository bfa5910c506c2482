/**
 * The built-in demo: a small profile service with a real crash bug. Looking
 * up a user whose record has no name throws a TypeError inside the database
 * callback, detached from the request handler, where no framework catches it:
 * under plain node the whole process dies.
 */
import http = require('node:http');

interface User { id: string; name?: string }
const db: Record<string, User> = {
  ada: { id: 'ada', name: 'Ada Lovelace' },
  alan: { id: 'alan', name: 'Alan Turing' },
  ghost: { id: 'ghost' }, // imported from an old system without a name: the bug
};

// Long-lived, in-memory state that a restart would lose.
const stats = { served: 0, lookups: 0, profilesRendered: 0 };
const cache = new Map<string, string>();
const recentLookups: string[] = [];

function findUser(id: string, callback: (user: User | undefined) => void): void {
  setTimeout(() => callback(db[id]), 5); // a database round trip
}

const server = http.createServer((req, res) => {
  const url = new URL(req.url ?? '/', 'http://localhost');
  const match = /^\/users\/([a-z]+)$/.exec(url.pathname);
  if (match) {
    findUser(match[1]!, (user) => {
      if (!user) {
        res.writeHead(404).end('no such user\n');
        return;
      }
      stats.lookups++;
      recentLookups.push(user.id);
      if (recentLookups.length > 5) recentLookups.shift();
      // BUG: user.name is undefined for imported users.
      const profile = cached(user.id, () => `<h1>${user.name!.toUpperCase()}</h1>\n`);
      stats.served++;
      res.writeHead(200, { 'content-type': 'text/html' }).end(profile);
    });
  } else if (url.pathname === '/slow') {
    setTimeout(() => {
      stats.served++;
      res.end('slow report done\n');
    }, Number(url.searchParams.get('ms') ?? 300));
  } else if (url.pathname === '/stats') {
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ ...stats, cached: cache.size, recent: recentLookups }));
  } else {
    res.writeHead(404).end('not found\n');
  }
});

function cached(key: string, render: () => string): string {
  let value = cache.get(key);
  if (value === undefined) {
    value = render();
    stats.profilesRendered++;
    cache.set(key, value);
  }
  return value;
}

server.listen(Number(process.env.PORT ?? 0), '127.0.0.1', () => {
  const address = server.address();
  process.stdout.write(`listening ${typeof address === 'object' && address ? address.port : address}\n`);
});
