/**
 * How the instrumenter classifies an assignment for the journal's replay
 * (src/instrument/write-kind.ts): a counter written out as `x = x + n` or
 * `x = (x || 0) + n` must be compensable like `x += n`, a read-modify-write
 * of another shape must say it propagates, and only a plain overwrite may
 * count as cleansing. test/oracle.test.ts checks the outcome end to end.
 */
import assert = require('node:assert/strict');
import { describe, it } from 'node:test';
import { parseScript } from 'meriyah';
import { WriteKind } from '../src/runtime/journal';
import type { Node } from '../src/instrument/scope';
import { assignmentKind, mapSetKind } from '../src/instrument/write-kind';

function expression(code: string): Node {
  const program = parseScript(code, { ranges: true, next: true }) as unknown as Node;
  return program.body[0].expression as Node;
}

const cases: Array<[string, WriteKind]> = [
  ['o.n = o.n + 1', WriteKind.Delta],
  ['o.n = 1 + o.n', WriteKind.Delta],
  ['o.n = o.n - step', WriteKind.Delta],
  ['o["n"] = o.n + 1', WriteKind.Delta],
  ['o[0] = o["0"] + 1', WriteKind.Delta],
  ['this.n = this.n + 1', WriteKind.Delta],
  ['n = n + 1', WriteKind.Delta],
  ['o[k] = (o[k] || 0) + 1', WriteKind.CountDelta],
  ['o.a.b[k] = (o.a.b[k] ?? 0) - 2', WriteKind.CountDelta],
  ['o.n = o.n * 2', WriteKind.Update],
  ['o.n = step - o.n', WriteKind.Update],
  ['o.n = o.n + o.n', WriteKind.Update],
  ['o.n = (o.n || 1) + 1', WriteKind.Update],
  ['o.list = o.list.concat(x)', WriteKind.Update],
  ['o.n = o.m + 1', WriteKind.Assign],
  ['o[k] = o[j] + 1', WriteKind.Assign],
  ['o[f()] = o[f()] + 1', WriteKind.Assign],
  ['o.n = () => o.n + 1', WriteKind.Assign],
  ['o.n = 5', WriteKind.Assign],
  ['o.n += 1', WriteKind.Delta],
  ['o.n *= 2', WriteKind.Update],
];

const mapCases: Array<[string, WriteKind]> = [
  ['m.set(k, m.get(k) + 1)', WriteKind.Delta],
  ['m.set(k, (m.get(k) || 0) + 1)', WriteKind.CountDelta],
  ['this.m.set(k, (this.m.get(k) ?? 0) - n)', WriteKind.CountDelta],
  ['m.set(k, m.get(k) * 2)', WriteKind.Update],
  ['m.set(k, [...m.get(k), x])', WriteKind.Update],
  ['m.set(k, m.get(j) + 1)', WriteKind.Assign],
  ['m.set(k, other.get(k) + 1)', WriteKind.Assign],
  ['m.set(k, v)', WriteKind.Assign],
  ['m.set(f(), m.get(f()) + 1)', WriteKind.Assign],
];

describe('write kinds of assignments', () => {
  for (const [code, kind] of cases) {
    it(code, () => assert.equal(assignmentKind(expression(code)), kind));
  }
  for (const [code, kind] of mapCases) {
    it(code, () => assert.equal(mapSetKind(expression(code)), kind));
  }
});
