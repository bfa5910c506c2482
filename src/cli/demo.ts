import path = require('node:path');
import { request, startServer, type Reply } from './server-process';

/**
 * `srs demo`: the built-in profile server (src/demo/server.ts) with a real
 * crash bug, driven with the same traffic under plain node and under srs,
 * so that a newcomer sees in one command what SRS changes.
 */

const demoServer = path.join(__dirname, '..', 'demo', 'server.js');

interface Outcome {
  faulty: Reply;
  slow: Reply;
  benignOk: number;
  benignTotal: number;
  alive: boolean;
  exitCode: number | null;
  stats?: string;
  recovery?: Record<string, any>;
}

const describe = (r: Reply) => (r.error ? `failed (${r.error})` : `${r.status} ${r.body?.trim().slice(0, 24) ?? ''}`);

async function drive(mode: 'node' | 'srs', env: Record<string, string>): Promise<Outcome> {
  const server = await startServer({ mode, entry: demoServer, env });
  try {
    const benign = ['/users/ada', '/users/alan'];
    const slow = request(server.port, '/slow?ms=400');
    let benignOk = 0;
    const send = async (n: number) => {
      for (let i = 0; i < n; i++) {
        const r = await request(server.port, benign[i % benign.length]!, { timeoutMs: 2000 });
        if (r.status === 200) benignOk++;
      }
    };
    await send(10);
    const faulty = await request(server.port, '/users/ghost', { timeoutMs: 2000 });
    await send(10);
    const slowReply = await slow;
    const statsReply = await request(server.port, '/stats', { timeoutMs: 2000 });
    const alive = server.child.exitCode === null && server.child.signalCode === null;
    return {
      faulty,
      slow: slowReply,
      benignOk,
      benignTotal: 20,
      alive,
      exitCode: server.child.exitCode,
      stats: statsReply.status === 200 ? statsReply.body : undefined,
      recovery: server.events().find((e) => e.type === 'srs.recovery'),
    };
  } finally {
    await server.stop();
  }
}

export async function runDemo(env: Record<string, string>): Promise<number> {
  const log = (s = '') => process.stdout.write(s + '\n');
  log('SRS demo: a profile server whose GET /users/:id crashes (TypeError in a database callback)');
  log('for a user without a name. Traffic: one slow request in flight, 10 benign requests,');
  log('GET /users/ghost (the crash), 10 more benign requests, then GET /stats.\n');
  const plain = await drive('node', env);
  const srs = await drive('srs', { SRS_EVENTS: 'stderr', ...env });
  const rows: Array<[string, string, string]> = [
    ['faulty request', describe(plain.faulty), describe(srs.faulty)],
    ['slow request in flight', describe(plain.slow), describe(srs.slow)],
    ['benign requests answered', `${plain.benignOk}/${plain.benignTotal}`, `${srs.benignOk}/${srs.benignTotal}`],
    ['server afterwards', plain.alive ? 'up' : `exited (code ${plain.exitCode})`, srs.alive ? 'up' : `exited (code ${srs.exitCode})`],
    ['in-memory state', plain.stats ?? 'lost', srs.stats ?? 'lost'],
  ];
  const w0 = Math.max(...rows.map((r) => r[0].length));
  const w1 = Math.max(12, ...rows.map((r) => r[1].length));
  log(`${''.padEnd(w0)}  ${'plain node'.padEnd(w1)}  srs run`);
  for (const [a, b, c] of rows) log(`${a.padEnd(w0)}  ${b.padEnd(w1)}  ${c}`);
  if (srs.recovery) {
    const r = srs.recovery;
    log(`\nSRS recovery event: request #${r.request.id} ${r.request.method} ${r.request.url}, ${r.error.name}: ${r.error.message}`);
    log(`  response: ${r.response}; shared state it had written: ${JSON.stringify(r.state)}; took ${r.durationUs} µs`);
    log('  (its lookup count and its entry in the recent-lookups list were taken back: compare "lookups" with the benign count)');
  }
  const ok = srs.alive && srs.faulty.status === 500 && srs.slow.status === 200 && srs.benignOk === srs.benignTotal;
  log(ok ? '\nOnly the faulty request failed under srs.' : '\nUnexpected: SRS did not contain the crash (see above).');
  return ok ? 0 : 1;
}
