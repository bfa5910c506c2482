import type MagicString from 'magic-string';
import { WriteKind } from '../runtime/journal';
import { analyzeScopes, children, FnScope, isFunction, Node, patternNames, Scope } from './scope';

/**
 * What to insert, by node kind: one small handler per kind of write, all per
 * file state in one class (after istanbul-lib-instrument's visitor). Each
 * rewrite keeps the original text on the path taken while a request is open
 * (so that errors there map to their exact column) and adds a fast path,
 * chosen by one load of `R.a`, that does what the original did.
 */

export const R = '__srs'; // the barrier, bound once per module
const scopeVar = (fn: FnScope) => `${R}_s${fn.id}`;

const MUTATORS = new Set([
  'push', 'pop', 'shift', 'unshift', 'splice', 'sort', 'reverse', 'fill', 'copyWithin',
  'set', 'add', 'delete', 'clear',
  'assign', 'defineProperty', 'defineProperties', 'deleteProperty',
]);

function assignmentKind(operator: string): WriteKind {
  if (operator === '=') return WriteKind.Assign;
  if (operator === '+=' || operator === '-=') return WriteKind.Delta;
  return WriteKind.Update;
}

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
    this.declareScopeObjects();
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
    // Post-order: inner rewrites are in place before an outer one copies their text.
    this.handlers[node.type]?.(node);
    if (scope) {
      if (scope.fn.node === node) this.fnStack.pop();
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

  private text(node: Node): string {
    return this.ms.slice(node.start, node.end);
  }

  /** `o.k op= v` -> `(R.a ? R.j(o, "k", K) : o).k op= v`; computed keys go through R.jc and R.k. */
  private member(m: Node, kind: WriteKind): void {
    const { object, property } = m;
    if (object.type === 'Super' || property.type === 'PrivateIdentifier' || m.optional || this.chainDepth > 0) return;
    if (this.isFreshBase(object)) return;
    const objText = this.text(object);
    this.writes++;
    this.prefixed.add(object.start);
    if (!m.computed) {
      this.ms.prependRight(object.start, `(${R}.a ? ${R}.j(`);
      this.ms.appendLeft(object.end, `, ${JSON.stringify(property.name)}, ${kind}) : ${objText})`);
      return;
    }
    const keyText = this.text(property);
    this.ms.prependRight(object.start, `(${R}.a ? ${R}.jc(`);
    this.ms.overwrite(object.end, property.start, ', ');
    this.ms.overwrite(property.end, m.end, `, ${kind}) : ${objText})[${R}.a ? ${R}.k : ${keyText}]`);
  }

  /** A variable some other function declared (module scope or captured): journal it by scope and name. */
  private trackedVariable(name: string): string | undefined {
    const b = this.scope.resolve(name);
    if (!b || b.kind === 'const' || b.kind === 'import' || b.fn === this.fn) return undefined;
    b.fn.needsScopeObject = true;
    const scope = `(${scopeVar(b.fn)} ??= ${R}.sc0())`;
    return `${scope}, ${JSON.stringify(b.id)}, () => ${name}, ($) => { ${name} = $; }`;
  }

  private variables(node: Node, names: string[], kind: WriteKind): void {
    const calls = names.flatMap((name) => {
      const args = this.trackedVariable(name);
      return args ? [`${R}.jv(${args}, ${kind})`] : [];
    });
    if (calls.length === 0) return;
    this.writes += calls.length;
    this.prefixed.add(node.start);
    this.ms.prependRight(node.start, `(${R}.a && ${calls.length === 1 ? calls[0] : `(${calls.join(', ')})`}, `);
    this.ms.appendLeft(node.end, ')');
  }

  private assignment(n: Node): void {
    const kind = assignmentKind(n.operator);
    if (n.left.type === 'MemberExpression') this.member(n.left, kind);
    else if (n.left.type === 'Identifier') this.variables(n, [n.left.name], kind);
    else this.variables(n, patternNames(n.left), WriteKind.Assign);
  }

  private update(n: Node): void {
    if (n.argument.type === 'MemberExpression') this.member(n.argument, WriteKind.Delta);
    else if (n.argument.type === 'Identifier') this.variables(n, [n.argument.name], WriteKind.Delta);
  }

  /** `o.push(a)` -> `(R.a ? R.call(o, "push", "o.push", a) : o.push(a))`: built-in mutators are journaled by identity. */
  private call(n: Node): void {
    const callee = n.callee;
    if (callee.type !== 'MemberExpression' || callee.computed || callee.optional || n.optional || this.chainDepth > 0) return;
    if (callee.object.type === 'Super' || callee.property.type !== 'Identifier' || !MUTATORS.has(callee.property.name)) return;
    if (this.isFreshBase(callee.object)) return;
    const original = this.text(n);
    const calleeText = this.source.slice(callee.start, callee.end);
    const args = n.arguments.length ? `, ${this.ms.slice(n.arguments[0].start, n.arguments[n.arguments.length - 1].end)}` : '';
    const objText = this.text(callee.object);
    this.writes++;
    this.prefixed.add(n.start);
    this.ms.overwrite(
      n.start,
      n.end,
      `(${R}.a ? ${R}.call(${objText}, ${JSON.stringify(callee.property.name)}, ${JSON.stringify(calleeText.length > 80 ? callee.property.name : calleeText)}${args}) : ${original})`,
    );
  }

  /** `var R_sN = …` at the top of every function whose variables inner functions write. */
  private declareScopeObjects(): void {
    const fns = new Set([...this.scopes.values()].map((s) => s.fn));
    for (const fn of fns) {
      const node = fn.node;
      // The program's is declared by the instrumenter's prologue.
      if (!fn.needsScopeObject || node.type === 'Program') continue;
      const decl = `var ${scopeVar(fn)} = ${R}.a ? ${R}.sc() : null;`;
      if (isFunction(node) && node.body.type !== 'BlockStatement') {
        this.ms.prependLeft(node.body.start, `{ ${decl} return (`);
        this.ms.appendLeft(node.body.end, '); }');
      } else if (isFunction(node) || node.type === 'StaticBlock') {
        const body: Node[] = node.type === 'StaticBlock' ? node.body : node.body.body;
        const at = afterDirectives(body) ?? (node.type === 'StaticBlock' ? this.source.indexOf('{', node.start) + 1 : node.body.start + 1);
        this.ms.appendLeft(at, decl);
      }
    }
  }

  /** Whether the program's own variables need a scope object (the prologue declares it). */
  programNeedsScope(): boolean {
    return this.scopes.get(this.program)!.fn.needsScopeObject;
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
