/**
 * The servers a benchmark started: tracked so that their CPU time counts as
 * the benchmark's own (not as "other load") and so that every one of them is
 * stopped on exit, on error and on SIGINT/SIGTERM.
 */
import type { ServerProcess } from '../../src/cli/server-process';

export const live = new Set<ServerProcess>();

export async function stopAll(): Promise<void> {
  const servers = [...live];
  live.clear();
  await Promise.all(servers.map((s) => s.stop()));
}

/** Stops every live server and exits 130 on SIGINT/SIGTERM; `name` prefixes the message. */
export function stopOnSignals(name: string): void {
  const onSignal = (signal: NodeJS.Signals): void => {
    process.stderr.write(`\n${name}: ${signal}, stopping servers\n`);
    void stopAll().finally(() => process.exit(130));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
}

/** Runs a benchmark's main: a failure prints one message, stops every server and exits 1. */
export function runBenchmark(name: string, main: () => Promise<void>): void {
  main().catch((err: unknown) => {
    process.stderr.write(`${name}: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    void stopAll().finally(() => process.exit(1));
  });
}
