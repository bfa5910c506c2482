/**
 * process.nextTick keeps its fast path under SRS. Node builds each tick object
 * with a computed-key literal, whose V8 feedback turns generic for good when
 * the tick objects' hidden class is collected (see src/register/tick-shape.ts);
 * a full collection while no tick object is alive does it (plain node too;
 * seen at startup under `--instrument all` on Node 24: every nextTick went
 * through the runtime afterwards). The fixture prints nextTick's feedback with
 * %DebugPrint. (Under SRS on Node 20, where AsyncLocalStorage runs on async
 * hooks, this fixture's class survived either way: the test guards Node 24.)
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path = require('node:path');
import { test } from 'node:test';
import { packageRoot, registerPath } from './run-helpers';

const fixture = path.join(packageRoot, 'test', 'fixtures', 'tick-shape-app.js');

test('nextTick keeps monomorphic tick-object feedback across full collections while an instrumented Fastify idles, then serves', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'srs-tick-shape-'));
  try {
    // V8 prints through C stdio: into a pipe (non-blocking under Node) the
    // end of it can be lost at exit, so the child writes to a file.
    const outPath = path.join(dir, 'stdout.txt');
    const out = openSync(outPath, 'w');
    const env: NodeJS.ProcessEnv = {};
    for (const [key, value] of Object.entries(process.env)) if (!key.startsWith('SRS_')) env[key] = value;
    const run = spawnSync(process.execPath, ['--allow-natives-syntax', '--expose-gc', '-r', registerPath, fixture], {
      cwd: packageRoot,
      env: { ...env, SRS_INSTRUMENT: 'all', SRS_CACHE_DIR: path.join(dir, 'cache') },
      stdio: ['ignore', out, 'pipe'],
      timeout: 60_000,
      encoding: 'utf8',
    });
    closeSync(out);
    assert.equal(run.status, 0, `exit ${run.status} ${run.signal ?? ''}: ${run.stderr}`);
    const stdout = readFileSync(outPath, 'utf8');
    assert.match(stdout, /SharedFunctionInfo nextTick>/, 'the print is of process.nextTick');
    const states = [...stdout.matchAll(/DefineKeyedOwnPropertyInLiteral (\w+)/g)].map((m) => m[1]);
    // async_id, trigger_async_id, (Node 24: the context frame,) callback, args
    assert.ok(states.length >= 4, `expected the tick-object literal's feedback, got ${states.length} slots`);
    assert.deepEqual(states.filter((s) => s !== 'MONOMORPHIC'), [], `tick-object literal feedback: ${states.join(', ')}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
