import type MagicString from 'magic-string';
import { WriteKind } from '../runtime/journal';
import { assignmentKind, mapSetKind } from './write-kind';
import { analyzeScopes, children, FnScope, isFunction, Node, patternNames, Scope } from './scope';

/**
 * What to insert, by node kind: one small handler per kind of write, all per
 * file state in one class (after istanbul-lib-instrument's visitor). Each
 * rewrite only inserts text around the original, which stays in place and is
 * evaluated once, on both paths (so that errors and functions in it keep
 * their exact position in the source map, and nested rewrites never copy each
 * other): a test of `R.a` before the receiver chooses between journaling the
 * write and doing nothing more. The only copies are of identifiers and of
 * "pure" computed keys (see isPureKey).
 */

export const R = '__srs'; // the barrier, bound once per module
/** Holds a receiver between its evaluation and the barrier's test (declared by the prologue). */
export const T = `${R}_t`;
const scopeVar = (fn: FnScope) => `${R}_s${fn.id}`;

const MUTATORS = new Set([
  'push', 'pop', 'shift', 'unshift', 'splice', 'sort', 'reverse', 'fill', 'copyWithin',
  'set', 'add', 'delete', 'clear',
  'assign', 'defineProperty', 'defineProperties', 'deleteProperty',
]);


export class FileInstrumenter {
  writes = 0;
  private readonly scopes: Map<Node, Scope>;
  private scope!: Scope;
  private fnStack: FnScope[] = [];
  private chainDepth = 0;
  /** Positions where a rewrite put text before the original start of an expression. */
  private readonly prefixed = new Set<number>();

  constructor(
    private readonly ms: MagicString,
    private readonly source: string,
    private readonly program: Node,
  ) {
    this.scopes = analyzeScopes(program);
  }

  private readonly handlers: Record<string, (node: Node) => void> = {
    AssignmentExpression: (n) => this.assignment(n),
    UpdateExpression: (n) => this.update(n),
    UnaryExpression: (n) => n.operator === 'delete' && n.argument.type === 'MemberExpression' && this.member(n.argument, WriteKind.Delete),
    CallExpression: (n) => this.call(n),
  };

  run(): void {
    this.walk(this.program);
    this.guardStatementStarts(this.program);
  }

  /**
   * A rewritten expression statement now starts with "(": after a line without
   * a semicolon it would call the previous expression. Statements in a list
   * get a ";" first (not single-statement bodies, where a ";" would be the body).
   */
  private guardStatementStarts(node: Node): void {
    const lists = [node.body, node.consequent].filter(Array.isArray) as Node[][];
    for (const list of lists) {
      for (const stmt of list) {
        if (stmt.type === 'ExpressionStatement' && this.prefixed.has(stmt.start)) this.ms.prependRight(stmt.start, ';');
      }
    }
    for (const child of children(node)) this.guardStatementStarts(child);
  }

  private walk(node: Node): void {
    const scope = this.scopes.get(node);
    const saved = this.scope;
    if (scope) {
      this.scope = scope;
      if (scope.fn.node === node) this.fnStack.push(scope.fn);
    }
    if (node.type === 'ChainExpression') this.chainDepth++;
    for (const child of children(node)) this.walk(child);
    if (node.type === 'ChainExpression') this.chainDepth--;
    // Post-order: inner rewrites are in place before an outer one wraps them.
    this.handlers[node.type]?.(node);
    if (scope) {
      if (scope.fn.node === node) {
        // Now, not after the walk: text a wrapped arrow body appends at its end
        // must go inside whatever an enclosing rewrite appends at the same spot.
        this.declareScopeObject(scope.fn);
        this.fnStack.pop();
      }
      this.scope = saved;
    }
  }

  private get fn(): FnScope {
    return this.fnStack[this.fnStack.length - 1]!;
  }

  /** Writes to `this` in a class constructor, or to a const the same invocation created, touch only fresh objects. */
  private isFreshBase(object: Node): boolean {
    if (object.type === 'ThisExpression') return this.fn.isConstructor;
    if (object.type === 'ObjectExpression' || object.type === 'ArrayExpression') return true;
    if (object.type !== 'Identifier') return false;
    const b = this.scope.resolve(object.name);
    return !!b && b.fresh && b.fn === this.fn;
  }

  /**
   * Puts the barrier's test before a receiver, evaluating the receiver once
   * and keeping its text in place (errors in it keep their exact position):
   *   o          -> (R.a ? R.fn(o, …tail) : o)           (an identifier or this: no side effects to repeat)
   *   <complex>  -> (T = <complex>, R.a ? R.fn(T, …tail) : T)
   */
  private guardReceiver(object: Node, fn: string, tail: string, active = `${R}.a`): void {
    this.prefixed.add(object.start);
    if (object.type === 'Identifier' || object.type === 'ThisExpression') {
      this.ms.prependRight(object.start, `(${active} ? ${R}.${fn}(`);
      this.ms.appendLeft(object.end, `${tail}) : ${this.source.slice(object.start, object.end)})`);
      return;
    }
    const seq = object.type === 'SequenceExpression';
    this.ms.prependRight(object.start, `(${T} = ${seq ? '(' : ''}`);
    this.ms.appendLeft(object.end, `${seq ? ')' : ''}, ${active} ? ${R}.${fn}(${T}${tail}) : ${T})`);
  }

  /**
   * `o.k op= v`  -> `(R.a ? R.j(o, "k", K) : o).k op= v`
   * `o[k] op= v` -> `(R.a ? R.jc(o, k, K) : o)[R.a ? R.k : k] op= v`   (k pure: names, literals, operators)
   * `o[e] op= v` -> `R.kf(o, e, K)[R.k] op= v`                          (any other key: evaluated once)
   * The key stays unconverted until the engine converts it, as the original does.
   */
  private member(m: Node, kind: WriteKind): void {
    const { object, property } = m;
    if (object.type === 'Super' || property.type === 'PrivateIdentifier' || m.optional || this.chainDepth > 0) return;
    if (this.isFreshBase(object)) return;
    this.writes++;
    // `this` of a function called with new is the object that call created:
    // fresh, decided at run time (a class constructor's is decided here).
    const active = object.type === 'ThisExpression' && this.fn.constructible ? `${R}.a && new.target === void 0` : `${R}.a`;
    if (!m.computed) {
      this.guardReceiver(object, 'j', `, ${JSON.stringify(property.name)}, ${kind}`, active);
      return;
    }
    if (isPureKey(property)) {
      this.guardReceiver(object, 'jc', `, ${this.source.slice(property.start, property.end)}, ${kind}`, active);
      this.ms.prependRight(property.start, `${active} ? ${R}.k : `);
      return;
    }
    // The object with its parentheses runs from the member's start to its "[".
    const open = this.bracketAfter(object.end);
    this.prefixed.add(m.start);
    this.ms.prependRight(m.start, `${R}.kf(`);
    this.ms.overwrite(open, open + 1, ', ');
    this.ms.overwrite(m.end - 1, m.end, `, ${kind})[${R}.k]`);
  }

  /** Position of the "[" of a computed member, after its object's closing parentheses and comments. */
  private bracketAfter(from: number): number {
    const src = this.source;
    let i = from;
    while (i < src.length) {
      const c = src[i];
      if (c === '[') return i;
      if (c === '/' && src[i + 1] === '*') i = src.indexOf('*/', i + 2) + 2;
      else if (c === '/' && src[i + 1] === '/') i = src.indexOf('\n', i + 2) + 1;
      else i++;
    }
    throw new Error('computed member without "["');
  }

  /**
   * A variable some other function declared (module scope or captured):
   * journaled by scope and name, unless its scope is the current request's
   * own (`vs`), tested before the getter and setter closures are made.
   */
  private trackedVariable(name: string, at: number, kind: WriteKind): string | undefined {
    const b = this.scope.resolve(name);
    if (!b || b.kind === 'const' || b.kind === 'import' || b.fn === this.fn) return undefined;
    // A closure in a parameter default cannot see the scope object its function's body declares.
    const params: Node[] | undefined = b.fn.node.params;
    if (params?.length && at >= params[0]!.start && at < params[params.length - 1]!.end) return undefined;
    b.fn.needsScopeObject = true;
    const scope = `(${scopeVar(b.fn)} ??= ${R}.sc0())`;
    return `${R}.vs(${scope}) && ${R}.jv(${scope}, ${JSON.stringify(b.id)}, () => ${name}, ($) => { ${name} = $; }, ${kind})`;
  }

  private variables(node: Node, names: string[], kind: WriteKind): void {
    const calls = names.flatMap((name) => {
      const call = this.trackedVariable(name, node.start, kind);
      return call ? [call] : [];
    });
    if (calls.length === 0) return;
    this.writes += calls.length;
    this.prefixed.add(node.start);
    this.ms.prependRight(node.start, `(${R}.a && ${calls.length === 1 ? calls[0] : `(${calls.join(', ')})`}, `);
    this.ms.appendLeft(node.end, ')');
  }

  private assignment(n: Node): void {
    const kind = assignmentKind(n);
    if (n.left.type === 'MemberExpression') this.member(n.left, kind);
    else if (n.left.type === 'Identifier') this.variables(n, [n.left.name], kind);
    else this.variables(n, patternNames(n.left), WriteKind.Assign);
  }

  private update(n: Node): void {
    if (n.argument.type === 'MemberExpression') this.member(n.argument, WriteKind.Delta);
    else if (n.argument.type === 'Identifier') this.variables(n, [n.argument.name], WriteKind.Delta);
  }

  /**
   * `o.push(a)` -> `(R.a ? R.m(o, "push", "o.push") : o).push(a)`: the call
   * stays where it was, with its arguments evaluated once, in place. While a
   * request is open R.m reads the method once and hands back a receiver whose
   * method journals a built-in mutator (by identity) before calling it.
   */
  private call(n: Node): void {
    const callee = n.callee;
    if (callee.type !== 'MemberExpression' || callee.computed || callee.optional || n.optional || this.chainDepth > 0) return;
    if (callee.object.type === 'Super' || callee.property.type !== 'Identifier' || !MUTATORS.has(callee.property.name)) return;
    if (this.isFreshBase(callee.object)) return;
    this.writes++;
    // Map#set's value computed from the same entry (a counter): said to the journal.
    const kind = callee.property.name === 'set' ? mapSetKind(n) : WriteKind.Assign;
    const tail = `, ${JSON.stringify(callee.property.name)}, ${JSON.stringify(calleeText(callee))}${kind === WriteKind.Assign ? '' : `, ${kind}`}`;
    this.guardReceiver(callee.object, 'm', tail);
  }

  /** `var R_sN = …` at the top of a function whose variables inner functions write. */
  private declareScopeObject(fn: FnScope): void {
    const node = fn.node;
    // The program's is declared by the instrumenter's prologue.
    if (!fn.needsScopeObject || node.type === 'Program') return;
    const decl = `var ${scopeVar(fn)} = ${R}.a ? ${R}.sc() : null;`;
    if (isFunction(node) && node.body.type !== 'BlockStatement') {
      // An expression body, parenthesized or not: wrap everything between "=>" and the arrow's end.
      const arrow = this.arrowEnd(node);
      this.ms.appendLeft(arrow, ` { ${decl} return (`);
      this.ms.appendLeft(node.end, '); }');
    } else if (isFunction(node) || node.type === 'StaticBlock') {
      const body: Node[] = node.type === 'StaticBlock' ? node.body : node.body.body;
      const directives = afterDirectives(body);
      const at = directives ?? (node.type === 'StaticBlock' ? this.source.indexOf('{', node.start) + 1 : node.body.start + 1);
      // A directive may end without its semicolon ("use strict"\n let x …).
      this.ms.appendLeft(at, directives === undefined ? decl : `;${decl}`);
    }
  }

  /** Position just after the "=>" of an arrow function. */
  private arrowEnd(node: Node): number {
    const src = this.source;
    const params: Node[] = node.params;
    let i = params.length ? params[params.length - 1]!.end : node.start;
    while (i < node.body.start) {
      if (src[i] === '=' && src[i + 1] === '>') return i + 2;
      if (src[i] === '/' && src[i + 1] === '*') i = src.indexOf('*/', i + 2) + 2;
      else if (src[i] === '/' && src[i + 1] === '/') i = src.indexOf('\n', i + 2) + 1;
      else i++;
    }
    throw new Error('arrow function without "=>"');
  }

  /** Whether the program's own variables need a scope object (the prologue declares it). */
  programNeedsScope(): boolean {
    return this.scopes.get(this.program)!.fn.needsScopeObject;
  }

  /** Whether the program declares this name at its top level. */
  programDeclares(name: string): boolean {
    return this.scopes.get(this.program)!.bindings.has(name);
  }

  programScopeVar(): string {
    return scopeVar(this.scopes.get(this.program)!.fn);
  }
}

/** Position after a directive prologue ("use strict"), where a declaration may go. */
export function afterDirectives(body: Node[]): number | undefined {
  let at: number | undefined;
  for (const stmt of body) {
    if (stmt.type === 'ExpressionStatement' && stmt.directive !== undefined) at = stmt.end;
    else break;
  }
  return at;
}

/**
 * A key that can be written twice (once per path, one runs): names, literals
 * and operators on them, as in `arr[i + 1]`. It has no call, write, function,
 * await or yield, so evaluating the copy is the same as the original and
 * copies never nest. Its only errors are a name in its TDZ or an operator's
 * TypeError (BigInt mixing), reported on the request path at the receiver.
 */
function isPureKey(n: Node): boolean {
  switch (n.type) {
    case 'Identifier':
    case 'ThisExpression':
      return true;
    case 'Literal':
      return !n.regex;
    case 'UnaryExpression':
      return n.operator !== 'delete' && isPureKey(n.argument);
    case 'BinaryExpression':
    case 'LogicalExpression':
      return n.left.type !== 'PrivateIdentifier' && isPureKey(n.left) && isPureKey(n.right);
    case 'ConditionalExpression':
      return isPureKey(n.test) && isPureKey(n.consequent) && isPureKey(n.alternate);
    case 'TemplateLiteral':
      return n.expressions.every(isPureKey);
    default:
      return false;
  }
}

const IV = '(intermediate value)';

/**
 * How V8 names a callee in "… is not a function" (its CallPrinter), so that
 * the barrier's own error for a mutator-named call that is not a function
 * reads exactly as the engine's would: `o.list.push`, `f(...).set`,
 * `(a || b).add`, `this[#x].push`, `(intermediate value).push`.
 */
export function calleeText(node: Node): string {
  const find = (n: Node): string => print(n) || IV;
  const print = (n: Node): string => {
    switch (n.type) {
      case 'Identifier':
        return n.name;
      case 'ThisExpression':
        return 'this';
      case 'Super':
        return 'super';
      case 'Literal':
        if (n.regex) return `/${n.regex.pattern}/${n.regex.flags}`;
        if (typeof n.value === 'string') return `"${n.value}"`;
        if (typeof n.value === 'number' || typeof n.value === 'boolean' || n.value === null) return String(n.value);
        return '';
      case 'TemplateLiteral':
        return n.expressions.length === 0 ? `"${n.quasis[0].value.cooked}"` : n.expressions.map(find).join('');
      case 'MemberExpression': {
        const obj = find(n.object);
        if (n.property.type === 'PrivateIdentifier') return `${obj}[#${n.property.name}]`;
        if (!n.computed) return `${obj}${n.optional ? '?' : ''}.${n.property.name}`;
        if (n.property.type === 'Literal' && typeof n.property.value === 'string') return `${obj}${n.optional ? '?' : ''}.${n.property.value}`;
        return `${obj}${n.optional ? '?.' : ''}[${find(n.property)}]`;
      }
      case 'CallExpression':
        return `${find(n.callee)}(...)`;
      case 'TaggedTemplateExpression':
        return `${find(n.tag)}(...)`;
      case 'ArrayExpression':
        return `[${n.elements.map((e: Node | null) => (e ? find(e) : '')).join(',')}]`;
      case 'ObjectExpression':
        return `{${n.properties.map(() => IV).join('')}}`;
      case 'SequenceExpression':
        return `(${n.expressions.map(find).join(' , ')})`;
      case 'BinaryExpression':
      case 'LogicalExpression': {
        // A left-nested chain of one operator is one n-ary operation in V8.
        const operands: Node[] = [];
        let left: Node = n;
        while ((left.type === 'BinaryExpression' || left.type === 'LogicalExpression') && left.operator === n.operator) {
          operands.unshift(left.right);
          left = left.left;
        }
        operands.unshift(left);
        return `(${operands.map(find).join(` ${n.operator} `)})`;
      }
      case 'UnaryExpression': {
        const space = n.operator === 'typeof' || n.operator === 'void' || n.operator === 'delete' ? ' ' : '';
        return `(${n.operator}${space}${find(n.argument)})`;
      }
      case 'UpdateExpression':
        return n.prefix ? `(${n.operator}${find(n.argument)})` : `(${find(n.argument)}${n.operator})`;
      case 'AssignmentExpression':
        return find(n.left);
      case 'ConditionalExpression':
        return IV + IV + IV;
      default:
        return ''; // new, functions, classes, await, yield, chains: V8 prints "(intermediate value)"
    }
  };
  return find(node);
}
