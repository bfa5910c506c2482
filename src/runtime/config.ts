import { SrsUsageError } from './errors';

/**
 * Every option, once: its flag, its environment variable, how to parse it and
 * its help line. The CLI turns flags into the environment variables, so that
 * `srs run`, `node -r srs/register` and processes the app forks all read the
 * same configuration from one place.
 */
export interface Config {
  events: string;
  budget: number;
  budgetWindowMs: number;
  drainTimeoutMs: number;
  exposeErrors: boolean;
  heapLimit: number;
  instrument: 'app' | 'all' | 'off';
  cacheDir: string;
}

type Parser<T> = (raw: string, name: string) => T;

interface OptionSpec<K extends keyof Config> {
  key: K;
  flag: string;
  env: string;
  value: string | null; // placeholder in help; null for a boolean switch
  default: Config[K];
  help: string;
  parse: Parser<Config[K]>;
}

const positiveInt: Parser<number> = (raw, name) => {
  if (!/^[0-9]+$/.test(raw) || Number(raw) < 1 || !Number.isSafeInteger(Number(raw))) {
    throw new SrsUsageError('SRS_ERR_BAD_OPTION', `${name} expects a positive integer, got "${raw}"`);
  }
  return Number(raw);
};

const fraction: Parser<number> = (raw, name) => {
  const n = Number(raw);
  if (raw.trim() === '' || !Number.isFinite(n) || n <= 0 || n > 1) {
    throw new SrsUsageError('SRS_ERR_BAD_OPTION', `${name} expects a number in (0, 1], got "${raw}"`);
  }
  return n;
};

const bool: Parser<boolean> = (raw, name) => {
  if (/^(1|true|yes|on)$/i.test(raw)) return true;
  if (/^(0|false|no|off|)$/i.test(raw)) return false;
  throw new SrsUsageError('SRS_ERR_BAD_OPTION', `${name} expects 1/0, true/false, yes/no or on/off, got "${raw}"`);
};

const instrumentMode: Parser<'app' | 'all' | 'off'> = (raw, name) => {
  if (raw === 'app' || raw === 'all' || raw === 'off') return raw;
  throw new SrsUsageError('SRS_ERR_BAD_OPTION', `${name} expects app, all or off, got "${raw}"`);
};

const text: Parser<string> = (raw, name) => {
  if (raw === '') throw new SrsUsageError('SRS_ERR_BAD_OPTION', `${name} expects a value`);
  return raw;
};

function spec<K extends keyof Config>(s: OptionSpec<K>): OptionSpec<K> {
  return s;
}

export const optionSpecs = [
  spec({ key: 'events', flag: '--events', env: 'SRS_EVENTS', value: 'FILE', default: 'stderr', parse: text,
    help: 'append recovery/escalation events (JSON lines) to FILE; "stderr" (default) or "off"' }),
  spec({ key: 'budget', flag: '--budget', env: 'SRS_BUDGET', value: 'N', default: 1000, parse: positiveInt,
    help: 'escalate when more than N recoveries happen within the budget window (default 1000)' }),
  spec({ key: 'budgetWindowMs', flag: '--budget-window-ms', env: 'SRS_BUDGET_WINDOW_MS', value: 'MS', default: 60_000, parse: positiveInt,
    help: 'length of the budget window in milliseconds (default 60000)' }),
  spec({ key: 'drainTimeoutMs', flag: '--drain-timeout-ms', env: 'SRS_DRAIN_TIMEOUT_MS', value: 'MS', default: 10_000, parse: positiveInt,
    help: 'on escalation, how long in-flight requests may take to finish before exit (default 10000)' }),
  spec({ key: 'exposeErrors', flag: '--expose-errors', env: 'SRS_EXPOSE_ERRORS', value: null, default: false, parse: bool,
    help: 'put the error and stack in the 500 body of a faulty request (for development only)' }),
  spec({ key: 'heapLimit', flag: '--heap-limit', env: 'SRS_HEAP_LIMIT', value: 'FRACTION', default: 0.9, parse: fraction,
    help: 'escalate when, after a recovery, the heap uses more than FRACTION of its limit (default 0.9)' }),
  spec({ key: 'instrument', flag: '--instrument', env: 'SRS_INSTRUMENT', value: 'app|all|off', default: 'app', parse: instrumentMode,
    help: 'which code journals its writes to shared state for restoration: the app (default), all (node_modules too), or off' }),
  spec({ key: 'cacheDir', flag: '--cache-dir', env: 'SRS_CACHE_DIR', value: 'DIR', default: '', parse: text,
    help: 'where instrumented modules are cached (default ~/.cache/srs/instrumented); "off" disables the cache' }),
] as const;

/** Reads the configuration from SRS_* variables; throws SrsUsageError on a bad value. */
export function configFromEnv(env: NodeJS.ProcessEnv): Config {
  const config = {} as Record<keyof Config, unknown>;
  for (const s of optionSpecs) {
    const raw = env[s.env];
    config[s.key] = raw === undefined ? s.default : (s.parse as Parser<unknown>)(raw, s.env);
  }
  return config as unknown as Config;
}
