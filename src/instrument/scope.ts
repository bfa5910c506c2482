/**
 * Just enough scope analysis for the write barrier: which function declares
 * each variable, whether it is constant, and whether it provably holds an
 * object created by its own function invocation.
 */

export type Node = { type: string; start: number; end: number; [key: string]: any };

/** A function-like boundary: a function, the program, a class static block or field initializer. */
export class FnScope {
  /** Some inner function writes one of its variables: it needs a scope object. */
  needsScopeObject = false;
  constructor(
    readonly id: number,
    readonly node: Node,
    readonly isConstructor: boolean,
    /**
     * An ordinary function (not arrow, method, async or generator): it may be
     * called with `new`, and then (new.target defined) its `this` is an
     * object the call itself created.
     */
    readonly constructible: boolean,
  ) {}
}

export interface Binding {
  kind: 'var' | 'let' | 'const' | 'param' | 'function' | 'class' | 'catch' | 'import';
  fn: FnScope;
  /**
   * Bound to an object/array literal or a `new` expression and never
   * assigned or declared again anywhere in the file (see markWrites): it
   * holds an object its own function invocation created.
   */
  fresh: boolean;
  /** Unique among the file's bindings, so that shadowing variables are distinct locations. */
  id: string;
}

export class Scope {
  readonly bindings = new Map<string, Binding>();
  constructor(
    readonly parent: Scope | undefined,
    readonly fn: FnScope,
  ) {}
  resolve(name: string): Binding | undefined {
    for (let s: Scope | undefined = this; s; s = s.parent) {
      const b = s.bindings.get(name);
      if (b) return b;
    }
    return undefined;
  }
}

const FUNCTION_TYPES = new Set(['FunctionDeclaration', 'FunctionExpression', 'ArrowFunctionExpression']);
export const isFunction = (n: Node) => FUNCTION_TYPES.has(n.type);

/** Children of a node, in source order. */
export function children(node: Node): Node[] {
  const out: Node[] = [];
  for (const key in node) {
    if (key === 'type' || key === 'start' || key === 'end' || key === 'loc' || key === 'range') continue;
    const value = node[key];
    if (Array.isArray(value)) {
      for (const v of value) if (v && typeof v.type === 'string') out.push(v);
    } else if (value && typeof value.type === 'string') out.push(value);
  }
  return out;
}

/** Identifiers a binding pattern declares. */
export function patternNames(pattern: Node | null, out: string[] = []): string[] {
  if (!pattern) return out;
  switch (pattern.type) {
    case 'Identifier': out.push(pattern.name); break;
    case 'ObjectPattern': for (const p of pattern.properties) patternNames(p.type === 'RestElement' ? p.argument : p.value, out); break;
    case 'ArrayPattern': for (const e of pattern.elements) patternNames(e, out); break;
    case 'RestElement': patternNames(pattern.argument, out); break;
    case 'AssignmentPattern': patternNames(pattern.left, out); break;
  }
  return out;
}

const isFreshInit = (init: Node | null | undefined): boolean =>
  !!init &&
  (init.type === 'ObjectExpression' ||
    init.type === 'ArrayExpression' ||
    init.type === 'NewExpression' ||
    (init.type === 'ConditionalExpression' && isFreshInit(init.consequent) && isFreshInit(init.alternate)));

/**
 * Builds the scopes of a program: scope-creating nodes get their Scope in the
 * returned map; var and function declarations are hoisted to their function.
 */
export function analyzeScopes(program: Node): Map<Node, Scope> {
  const scopes = new Map<Node, Scope>();
  let nextFn = 0;
  let nextBinding = 0;
  const declare = (scope: Scope, name: string, kind: Binding['kind'], fresh = false) => {
    const existing = scope.bindings.get(name);
    // Declared again (var x = {}; … var x = y; or a function x): it may hold anything.
    if (existing) existing.fresh = false;
    else scope.bindings.set(name, { kind, fn: scope.fn, fresh, id: `${name}#${nextBinding++}` });
  };
  const fnScopeOf = (scope: Scope) => {
    let s = scope;
    while (s.parent && s.parent.fn === s.fn) s = s.parent;
    return s;
  };

  const visit = (node: Node, scope: Scope, parent: Node | undefined): void => {
    let inner = scope;
    if (node.type === 'Program') {
      inner = new Scope(undefined, new FnScope(nextFn++, node, false, false));
      scopes.set(node, inner);
    } else if (isFunction(node) || node.type === 'StaticBlock' || (parent?.type === 'PropertyDefinition' && parent.value === node)) {
      const isCtor = parent?.type === 'MethodDefinition' && parent.kind === 'constructor';
      const isMethod = parent?.type === 'MethodDefinition' || (parent?.type === 'Property' && (parent.method || parent.kind !== 'init'));
      const constructible =
        (node.type === 'FunctionDeclaration' || node.type === 'FunctionExpression') && !node.async && !node.generator && !isMethod;
      inner = new Scope(scope, new FnScope(nextFn++, node, isCtor, constructible));
      scopes.set(node, inner);
      if (node.type === 'FunctionExpression' && node.id) declare(inner, node.id.name, 'function');
      for (const p of node.params ?? []) for (const n of patternNames(p)) declare(inner, n, 'param');
      if (!isFunction(node) && node.type !== 'StaticBlock') {
        // a field initializer: an expression evaluated as if in its own function
        visitChildren(node, inner);
        return;
      }
    } else if (
      (node.type === 'BlockStatement' && !(parent && isFunction(parent) && parent.body === node)) ||
      node.type === 'ForStatement' || node.type === 'ForInStatement' || node.type === 'ForOfStatement' ||
      node.type === 'SwitchStatement' || node.type === 'CatchClause' || node.type === 'ClassExpression' || node.type === 'ClassDeclaration'
    ) {
      inner = new Scope(scope, scope.fn);
      scopes.set(node, inner);
    }
    switch (node.type) {
      case 'VariableDeclaration': {
        const target = node.kind === 'var' ? fnScopeOf(scope) : scope;
        for (const d of node.declarations) {
          const fresh = d.id.type === 'Identifier' && isFreshInit(d.init);
          for (const n of patternNames(d.id)) declare(target, n, node.kind, fresh);
        }
        break;
      }
      case 'FunctionDeclaration':
        if (node.id) declare(scope, node.id.name, 'function');
        break;
      case 'ClassDeclaration':
        if (node.id) declare(scope, node.id.name, 'class');
        break;
      case 'ClassExpression':
        if (node.id) declare(inner, node.id.name, 'const');
        break;
      case 'CatchClause':
        for (const n of patternNames(node.param)) declare(inner, n, 'catch');
        break;
      case 'ImportDeclaration':
        for (const s of node.specifiers) declare(scope, s.local.name, 'import');
        break;
    }
    visitChildren(node, inner);
  };
  const visitChildren = (node: Node, scope: Scope) => {
    for (const child of children(node)) visit(child, scope, node);
  };
  visit(program, undefined as unknown as Scope, undefined);
  markWrites(program, scopes);
  return scopes;
}

/**
 * A let or var is fresh only if nothing assigns it but its initializer:
 * every other write to it, anywhere in the file (closures included), takes
 * its freshness away, and so does any direct eval or with statement in the
 * file (either can assign a variable that no write site names).
 */
function markWrites(program: Node, scopes: Map<Node, Scope>): void {
  const written: Binding[] = [];
  let dynamic = false;
  const wrote = (scope: Scope, names: string[]) => {
    for (const name of names) {
      const b = scope.resolve(name);
      if (b) written.push(b);
    }
  };
  const visit = (node: Node, scope: Scope): void => {
    const inner = scopes.get(node) ?? scope;
    switch (node.type) {
      case 'AssignmentExpression':
        wrote(inner, node.left.type === 'MemberExpression' ? [] : patternNames(node.left));
        break;
      case 'UpdateExpression':
        if (node.argument.type === 'Identifier') wrote(inner, [node.argument.name]);
        break;
      case 'ForInStatement':
      case 'ForOfStatement':
        if (node.left.type !== 'VariableDeclaration' && node.left.type !== 'MemberExpression') wrote(inner, patternNames(node.left));
        break;
      case 'CallExpression':
        if (node.callee.type === 'Identifier' && node.callee.name === 'eval') dynamic = true;
        break;
      case 'WithStatement':
        dynamic = true;
        break;
    }
    for (const child of children(node)) visit(child, inner);
  };
  visit(program, scopes.get(program)!);
  for (const b of written) b.fresh = false;
  if (dynamic) {
    for (const scope of scopes.values()) for (const b of scope.bindings.values()) if (b.kind !== 'const') b.fresh = false;
  }
}
