#!/usr/bin/env node
import { configFromEnv } from '../runtime/config';
import { EXIT_USAGE, SrsUsageError } from '../runtime/errors';
import { parseArgs, type ParsedArgs } from './args';
import { runDemo } from './demo';
import { helpText } from './help';
import { resolveEntry, runEntry } from './run';

const { version } = require('../../../package.json') as { version: string };

function main(args: ParsedArgs): void {
  switch (args.command) {
    case 'help':
      process.stdout.write(helpText(version));
      return;
    case 'version':
      process.stdout.write(`${version}\n`);
      return;
    case 'run':
      // Outside any try block: a startup error of the app must surface exactly as under node.
      runEntry(resolveEntry(args.entry!), args.entryArgs, args.env);
      return;
    case 'demo':
      runDemo(args.env).then(
        (code) => { process.exitCode = code; },
        (err) => { process.stderr.write(`srs demo: ${(err as Error).message}\n`); process.exitCode = 1; },
      );
      return;
  }
}

function parseOrExit(): ParsedArgs {
  try {
    const args = parseArgs(process.argv.slice(2));
    // Bad SRS_* variables in the environment fail here, before the app starts.
    if (args.command === 'run' || args.command === 'demo') configFromEnv({ ...process.env, ...args.env });
    if (args.command === 'run') resolveEntry(args.entry!);
    return args;
  } catch (err) {
    if (!(err instanceof SrsUsageError)) throw err;
    process.stderr.write(`srs: ${err.code}: ${err.message}\n`);
    process.exit(EXIT_USAGE);
  }
}

main(parseOrExit());
