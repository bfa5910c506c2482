/**
 * When a request's journal is dropped (src/runtime/lifecycle.ts): once its
 * response is over and nothing it scheduled can still call back, and then
 * the barrier's flag goes off again when no request is left (DESIGN.md
 * guarantee 2: no journal work at all while no request is active), with
 * and without more traffic. Nothing else tested the lifecycle's commit: a
 * commit that never came would only have shown as memory that grows and a
 * barrier that never returns to its fast path.
 */
import assert = require('node:assert/strict');
import { describe, it } from 'node:test';
import { barrier } from '../src/runtime/barrier';
import { storage } from '../src/runtime/context';
import { journalsOpen, journalSize, WriteKind } from '../src/runtime/journal';
import { contextEnded, contextOpened } from '../src/runtime/lifecycle';
import { installResourceTracking } from '../src/runtime/resources';
import { TestContext } from './contexts';

installResourceTracking();

const shared = { hits: 0 };

/** A request that counts a hit in the shared object, runs `more` in its context, and ends. */
function request(more: () => void = () => {}): TestContext {
  const ctx = new TestContext();
  contextOpened();
  storage.run(ctx, () => {
    barrier.j(shared, 'hits', WriteKind.Delta).hits++;
    more();
  });
  contextEnded(ctx);
  return ctx;
}

const turn = () => new Promise<void>((resolve) => setImmediate(resolve));

async function turns(n: number): Promise<void> {
  for (let i = 0; i < n; i++) await turn();
}

describe('lifecycle: journals of requests that ended normally', () => {
  it('a lone request is committed within a few turns, and the barrier goes back to its fast path', async () => {
    const ctx = request();
    assert.equal(journalSize(ctx), 1, 'its write was journaled');
    assert.equal(journalsOpen(), 1);
    await turns(4);
    assert.equal(journalsOpen(), 0, 'its journal was dropped with no request after it');
    assert.equal(barrier.a, false, 'no request is active: writes take the fast path');
  });

  it('under steady traffic every request is committed, none is left behind', async () => {
    const ended: TestContext[] = [];
    for (let t = 0; t < 20; t++) {
      for (let r = 0; r < 3; r++) ended.push(request());
      await turn();
      assert.ok(journalsOpen() <= 12, `journals of earlier turns were committed (${journalsOpen()} open)`);
    }
    await turns(4);
    assert.equal(journalsOpen(), 0);
    assert.ok(ended.every((ctx) => journalSize(ctx) === 0));
    assert.equal(barrier.a, false);
  });

  it('a request whose timer is still pending keeps its journal until the timer has run', async () => {
    let fired = false;
    const ctx = request(() => {
      setTimeout(() => {
        fired = true;
      }, 40);
    });
    await turns(4);
    assert.equal(fired, false);
    assert.equal(journalSize(ctx), 1, 'still open: its timer may yet write, or crash');
    assert.equal(barrier.a, true);
    const deadline = Date.now() + 5000;
    while (journalsOpen() !== 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10));
    assert.equal(fired, true);
    assert.equal(journalsOpen(), 0, 'committed once its timer had run');
    assert.equal(barrier.a, false);
  });
});
