import Module = require('node:module');
import { pathToFileURL } from 'node:url';
import { MessageChannel, type MessagePort } from 'node:worker_threads';
import { emitEvent } from '../telemetry/events';
import { instrumentCached, transformStats } from './cache';
import { initialize, transformModule } from './esm-hooks';
import { InstrumentMode, shouldInstrument } from './filter';
import { installStackTraces, listenToLoader, registerRewritten } from './stack-traces';

/**
 * Routes every module the application loads through the instrumenter:
 * CommonJS by wrapping Module.prototype._compile (all Node versions), ES
 * modules by module.registerHooks where it exists (22.15+, 24) and by
 * module.register's loader thread on Node 20.
 */

type Compile = (this: unknown, content: string, filename: string, ...rest: unknown[]) => unknown;

function warnSkipped(filename: string, err: unknown): void {
  transformStats.skipped++;
  emitEvent('srs.instrument-skipped', { file: filename, reason: err instanceof Error ? err.message : String(err) });
}

export function installInstrumentation(mode: InstrumentMode, cacheDir: string | null): void {
  if (mode === 'off') return;
  // Stack traces of instrumented code map back to the original positions.
  installStackTraces();

  const mod = Module as unknown as {
    registerHooks?: (hooks: { load: (url: string, context: object, next: (url: string, context: object) => any) => any }) => void;
    register?: (specifier: string, parentURL: string, options: { data: unknown; transferList?: MessagePort[] }) => void;
  };
  const proto = Module.prototype as unknown as { _compile: Compile };
  const compileOrig = proto._compile;
  proto._compile = function _compile(content, filename, ...rest) {
    // `require()` of an ES module (Node 20.19+, 22.12+) compiles it here with format
    // 'module'; where registerHooks exists, its load hook has already rewritten it.
    const isModule = rest[0] === 'module';
    if (shouldInstrument(filename, mode) && !(isModule && typeof mod.registerHooks === 'function')) {
      try {
        const code = instrumentCached(content, filename, isModule, cacheDir);
        if (code !== content) registerRewritten(filename, code);
        content = code;
      } catch (err) {
        warnSkipped(filename, err);
      }
    }
    return compileOrig.call(this, content, filename, ...rest);
  };

  if (typeof mod.registerHooks === 'function') {
    initialize({ mode, cacheDir, onRewritten: registerRewritten });
    mod.registerHooks({ load: (url, context, nextLoad) => transformModule(url, nextLoad(url, context)) });
  } else if (typeof mod.register === 'function') {
    // The loader thread reports what it rewrote, for stack traces (stack-traces.ts).
    const { port1, port2 } = new MessageChannel();
    listenToLoader(port1);
    mod.register(pathToFileURL(require.resolve('./esm-hooks')).href, pathToFileURL(__filename).href, {
      data: { mode, cacheDir, port: port2 },
      transferList: [port2],
    });
  }
}
