/** What the in-process tests of the runtime share: a request context without a server, and a full GC. */
import { RequestContext, type RequestInfo } from '../src/runtime/context';

/** A request context with no server behind it; `name` shows in its description. */
export class TestContext extends RequestContext {
  constructor(readonly name = 'test') {
    super();
  }
  describe(): RequestInfo {
    return { id: this.id, kind: 'test', url: this.name };
  }
  isolate(): string {
    return 'none';
  }
}

let gc: (() => void) | undefined;

/** A full garbage collection (tests run without --expose-gc). */
export function collectGarbage(): void {
  if (gc === undefined) {
    (require('node:v8') as typeof import('node:v8')).setFlagsFromString('--expose-gc');
    gc = (require('node:vm') as typeof import('node:vm')).runInNewContext('gc') as () => void;
  }
  gc();
}
