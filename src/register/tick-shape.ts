import { executionAsyncResource } from 'node:async_hooks';

/**
 * One of Node's tick objects (what `process.nextTick` queues), kept for the
 * life of the process so that V8 never drops their hidden class.
 *
 * Why: `process.nextTick` builds each tick object with a literal whose keys
 * are computed (`{ [async_id_symbol]: …, … }`). V8 remembers one hidden class
 * per computed key there, weakly, and turns the site generic for good as soon
 * as it sees another. When a few full garbage collections run while no tick
 * object is alive, the class is collected and the next tick object gets a new
 * one: from then on every `nextTick` defines its keys through the runtime,
 * tens of thousands of instructions per request on a framework that ticks a
 * dozen times a request. Loading an instrumented dependency tree (`--instrument
 * all`) runs exactly such collections at startup; plain node rarely does. One
 * live tick object keeps the class and the whole chain of its transitions.
 */
let kept: object | undefined;

export function keepTickObjectShape(): void {
  if (kept !== undefined) return;
  // Inside a tick callback the tick object is the executing async resource.
  process.nextTick(() => {
    kept = executionAsyncResource();
  });
}

