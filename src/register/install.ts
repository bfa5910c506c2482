import { installHttpAdapter } from '../adapters/http';
import { defaultCacheDir } from '../instrument/cache';
import { installInstrumentation } from '../instrument/hooks';
import { configFromEnv, type Config } from '../runtime/config';
import { EXIT_USAGE, SrsUsageError } from '../runtime/errors';
import { setDrainTimeout } from '../runtime/escalate';
import { installResourceTracking } from '../runtime/resources';
import { openEventSink } from '../telemetry/events';
import { keepTickObjectShape } from './tick-shape';

let active: Config | undefined;

/**
 * Reads the SRS_* configuration and installs the runtime. Crash handlers are
 * installed later, when the first server listens: until then there is no
 * request to recover, and a startup error must behave exactly as under node.
 */
export function install(): Config {
  if (active !== undefined) return active;
  try {
    const config = configFromEnv(process.env);
    keepTickObjectShape(); // before instrumenting modules runs its collections
    openEventSink(config.events);
    setDrainTimeout(config.drainTimeoutMs);
    installResourceTracking();
    installHttpAdapter(config);
    installInstrumentation(config.instrument, config.cacheDir === 'off' ? null : config.cacheDir || defaultCacheDir());
    active = config;
    return config;
  } catch (err) {
    if (err instanceof SrsUsageError) {
      process.stderr.write(`srs: ${err.code}: ${err.message}\n`);
      process.exit(EXIT_USAGE);
    }
    throw err;
  }
}
