import { optionSpecs } from '../runtime/config';
import { SrsUsageError } from '../runtime/errors';

export interface ParsedArgs {
  command: 'run' | 'demo' | 'help' | 'version';
  /** SRS options as the SRS_* environment variables they set. */
  env: Record<string, string>;
  entry?: string;
  entryArgs: string[];
}

/**
 * `srs [--help|--version] <command> [options] [<entry> [args...]]`. SRS's
 * options end at the entry: everything after it belongs to the application,
 * flags included, exactly as `node [options] entry [args]`.
 */
export function parseArgs(argv: string[]): ParsedArgs {
  const env: Record<string, string> = {};
  const [first, ...rest] = argv;
  if (first === undefined || first === '--help' || first === '-h' || first === 'help') return { command: 'help', env, entryArgs: [] };
  if (first === '--version' || first === '-v') return { command: 'version', env, entryArgs: [] };
  if (first !== 'run' && first !== 'demo') {
    throw first.startsWith('-')
      ? new SrsUsageError('SRS_ERR_UNKNOWN_OPTION', first)
      : new SrsUsageError('SRS_ERR_UNKNOWN_COMMAND', first);
  }
  for (let i = 0; i < rest.length; i++) {
    const arg = rest[i]!;
    if (arg === '--help' || arg === '-h') return { command: 'help', env, entryArgs: [] };
    if (arg === '--') {
      return finish(first, env, rest.slice(i + 1));
    }
    if (!arg.startsWith('-') || arg === '-') return finish(first, env, rest.slice(i));
    const eq = arg.indexOf('=');
    const flag = eq === -1 ? arg : arg.slice(0, eq);
    const spec = optionSpecs.find((s) => s.flag === flag);
    if (spec === undefined) throw new SrsUsageError('SRS_ERR_UNKNOWN_OPTION', flag);
    let value: string;
    if (eq !== -1) value = arg.slice(eq + 1);
    else if (spec.value === null) value = '1';
    else {
      const next = rest[++i];
      // `--events --budget 2`: the value is missing, not "--budget".
      if (next === undefined || (next.startsWith('--') && optionSpecs.some((s) => next.split('=')[0] === s.flag))) {
        throw new SrsUsageError('SRS_ERR_MISSING_VALUE', flag);
      }
      value = next;
    }
    // Validate now so that a bad value is reported against the flag's name.
    (spec.parse as (raw: string, name: string) => unknown)(value, flag);
    env[spec.env] = value;
  }
  return finish(first, env, []);
}

function finish(command: 'run' | 'demo', env: Record<string, string>, positional: string[]): ParsedArgs {
  if (command === 'demo') {
    if (positional.length > 0) throw new SrsUsageError('SRS_ERR_USAGE', `srs demo takes no arguments, got "${positional[0]}"`);
    return { command, env, entryArgs: [] };
  }
  const [entry, ...entryArgs] = positional;
  if (entry === undefined) throw new SrsUsageError('SRS_ERR_NO_ENTRY');
  return { command, env, entry, entryArgs };
}
