import { spawn, type ChildProcess } from 'node:child_process';
import http = require('node:http');
import path = require('node:path');

/**
 * A server started in a child process, under plain node or under srs, on
 * 127.0.0.1 with a port it picks and announces as "listening <port>" on
 * stdout. Used by `srs demo`, the tests and the benchmarks.
 */
export interface ServerProcess {
  child: ChildProcess;
  port: number;
  stdout(): string;
  stderr(): string;
  /** JSON lines SRS wrote on stderr. */
  events(): Array<Record<string, any>>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** SIGTERM, then SIGKILL after a grace period; resolves when it is gone. */
  stop(): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

export interface StartOptions {
  mode: 'node' | 'srs';
  entry: string;
  args?: string[];
  srsArgs?: string[];
  nodeArgs?: string[];
  env?: NodeJS.ProcessEnv;
  timeoutMs?: number;
  /** Another build's srs CLI (its dist/src/cli/main.js), for benchmarks comparing builds; default this one. */
  cli?: string;
}

export const srsCli = path.join(__dirname, 'main.js');

export function startServer(options: StartOptions): Promise<ServerProcess> {
  const argv =
    options.mode === 'srs'
      ? [...(options.nodeArgs ?? []), options.cli ?? srsCli, 'run', ...(options.srsArgs ?? []), options.entry, ...(options.args ?? [])]
      : [...(options.nodeArgs ?? []), options.entry, ...(options.args ?? [])];
  const child = spawn(process.execPath, argv, {
    env: { ...process.env, ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (err += d));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on('exit', (code, signal) => resolve({ code, signal })),
  );
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 3000);
      const result = await exited;
      clearTimeout(timer);
      return result;
    }
    return exited;
  };
  const events = () =>
    err
      .split('\n')
      .filter((line) => line.startsWith('{"type":"srs.'))
      .map((line) => JSON.parse(line) as Record<string, any>);
  return new Promise((resolve, reject) => {
    const timeout = setTimeout(() => {
      void stop();
      reject(new Error(`server did not announce its port within ${options.timeoutMs ?? 10000} ms\n${err}`));
    }, options.timeoutMs ?? 10000);
    const onData = () => {
      const m = /listening (\d+)/.exec(out);
      if (!m) return;
      clearTimeout(timeout);
      child.stdout!.off('data', onData);
      resolve({ child, port: Number(m[1]), stdout: () => out, stderr: () => err, events, exited, stop });
    };
    child.stdout!.on('data', onData);
    void exited.then(({ code, signal }) => {
      clearTimeout(timeout);
      reject(new Error(`server exited (code ${code}, signal ${signal}) before listening\n${err}`));
    });
  });
}

export interface Reply {
  status?: number;
  body?: string;
  headers?: http.IncomingHttpHeaders;
  /** Set when no complete response arrived: ECONNRESET, ECONNREFUSED, timeout… */
  error?: string;
}

/** One HTTP request on its own connection, bounded in time; never rejects. */
export function request(
  port: number,
  urlPath: string,
  options: { method?: string; body?: string | Buffer; headers?: http.OutgoingHttpHeaders; timeoutMs?: number } = {},
): Promise<Reply> {
  return new Promise((resolve) => {
    const req = http.request(
      { host: '127.0.0.1', port, path: urlPath, method: options.method ?? (options.body ? 'POST' : 'GET'), headers: options.headers, agent: false },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (body += d));
        res.on('end', () => resolve({ status: res.statusCode, body, headers: res.headers }));
        res.on('error', (e) => resolve({ status: res.statusCode, error: (e as NodeJS.ErrnoException).code ?? e.message }));
      },
    );
    req.setTimeout(options.timeoutMs ?? 5000, () => req.destroy(Object.assign(new Error('timeout'), { code: 'TIMEOUT' })));
    req.on('error', (e) => resolve({ error: (e as NodeJS.ErrnoException).code ?? e.message }));
    req.end(options.body);
  });
}
