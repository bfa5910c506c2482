import path = require('node:path');

export { request, startServer, type Reply, type ServerProcess } from '../src/cli/server-process';

/** Test fixtures are plain JavaScript servers, as users write them; tests run from dist/test. */
export function fixture(name: string): string {
  return path.join(__dirname, '..', '..', 'test', 'fixtures', name);
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
