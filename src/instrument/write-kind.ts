import { WriteKind } from '../runtime/journal';
import { children, isFunction, type Node } from './scope';

/**
 * What kind of write an assignment is, for the journal's replay (see
 * journal.ts rollbackValue). `x += n` and `x++` say it themselves; the same
 * update is also written out as an assignment that reads its own target,
 * which is how most code keeps a counter it creates on first use:
 *
 *   o.n = o.n + 1                 -> Delta       (a number added: compensable)
 *   o[k] = (o[k] || 0) + 1        -> CountDelta  (the same, from 0 where missing)
 *   m.set(k, (m.get(k) ?? 0) - 1) -> CountDelta
 *   o.x = o.x * 2, o.x = f(o.x)   -> Update      (read-modify-write: propagates)
 *   o.x = y                       -> Assign      (overwrites: cleanses)
 *
 * Taken as an Assign, a benign request's read-modify-write after a faulty
 * one would count as cleansing the location and keep the faulty request's
 * increment. "Its own target" is decided on the text of side-effect-free
 * paths (names, `this`, literals, member accesses of those), compared as
 * locations: `o.a` and `o["a"]` are the same.
 */

/** A canonical text for a path with no side effects but its reads, or undefined. */
export function pathKey(node: Node): string | undefined {
  switch (node.type) {
    case 'Identifier':
      return node.name;
    case 'ThisExpression':
      return 'this';
    case 'MemberExpression': {
      if (node.optional || node.object.type === 'Super') return undefined;
      const object = pathKey(node.object);
      if (object === undefined) return undefined;
      if (!node.computed) return node.property.type === 'Identifier' ? `${object}[${JSON.stringify(node.property.name)}]` : undefined;
      const key = node.property;
      if (key.type === 'Literal' && (typeof key.value === 'string' || typeof key.value === 'number')) return `${object}[${JSON.stringify(String(key.value))}]`;
      if (key.type === 'Identifier') return `${object}[#${key.name}]`;
      return undefined;
    }
    default:
      return undefined;
  }
}

/** `m.get(k)` where m and k are the given paths. */
function isMapGet(node: Node, map: string, key: string): boolean {
  if (node.type !== 'CallExpression' || node.optional || node.arguments.length !== 1) return false;
  const callee = node.callee;
  if (callee.type !== 'MemberExpression' || callee.computed || callee.optional) return false;
  if (callee.property.type !== 'Identifier' || callee.property.name !== 'get') return false;
  return pathKey(callee.object) === map && pathKey(node.arguments[0]) === key;
}

type IsSelf = (node: Node) => boolean;

/** Whether node reads the target, outside functions it defines (those read later, if ever). */
function readsSelf(node: Node, isSelf: IsSelf): boolean {
  if (isSelf(node)) return true;
  if (isFunction(node)) return false;
  return children(node).some((child) => readsSelf(child, isSelf));
}

/** `(target || 0)` / `(target ?? 0)`. */
function isSelfOrZero(node: Node, isSelf: IsSelf): boolean {
  return (
    node.type === 'LogicalExpression' &&
    (node.operator === '||' || node.operator === '??') &&
    isSelf(node.left) &&
    node.right.type === 'Literal' &&
    node.right.value === 0
  );
}

/** The kind of writing `value` to a target that isSelf recognizes. */
function kindOfValue(value: Node, isSelf: IsSelf): WriteKind {
  if (value.type === 'BinaryExpression' && (value.operator === '+' || value.operator === '-')) {
    const { left, right } = value;
    const selfSide = value.operator === '+' && !isSelf(left) && !isSelfOrZero(left, isSelf) ? right : left;
    const other = selfSide === left ? right : left;
    if (!readsSelf(other, isSelf)) {
      if (isSelf(selfSide)) return WriteKind.Delta;
      if (isSelfOrZero(selfSide, isSelf)) return WriteKind.CountDelta;
    }
  }
  return readsSelf(value, isSelf) ? WriteKind.Update : WriteKind.Assign;
}

/** An assignment expression's kind. */
export function assignmentKind(n: Node): WriteKind {
  const { operator } = n;
  if (operator === '+=' || operator === '-=') return WriteKind.Delta;
  if (operator !== '=') return WriteKind.Update;
  const target = pathKey(n.left);
  if (target === undefined) return WriteKind.Assign;
  return kindOfValue(n.right, (node) => pathKey(node) === target);
}

/** The kind of `m.set(k, value)`: whether value is computed from `m.get(k)`. */
export function mapSetKind(call: Node): WriteKind {
  if (call.arguments.length < 2 || call.arguments[1].type === 'SpreadElement') return WriteKind.Assign;
  const map = pathKey(call.callee.object);
  const key = pathKey(call.arguments[0]);
  if (map === undefined || key === undefined) return WriteKind.Assign;
  return kindOfValue(call.arguments[1], (node) => isMapGet(node, map, key));
}
