import MagicString from 'magic-string';
import { parseModule, parseScript } from 'meriyah';
import { BARRIER_KEY } from '../runtime/barrier';
import type { Node } from './scope';
import { afterDirectives, FileInstrumenter, R, T } from './visitor';

export interface Instrumented {
  code: string;
  /** Write sites rewritten. */
  writes: number;
}

/**
 * Parses one file (meriyah), lets the visitor rewrite its writes
 * (magic-string), and appends an inline source map so that stack traces
 * keep pointing at the original file, line and column.
 */
export function instrument(source: string, filename: string, isModule: boolean): Instrumented {
  // A hashbang is only valid as the first characters: blank it for the parser, keep it in the output.
  const hashbang = source.startsWith('#!') ? source.indexOf('\n') : -1;
  const parsable = hashbang === -1 ? source : ' '.repeat(hashbang) + source.slice(hashbang);
  const options = { ranges: true, next: true, webcompat: true, globalReturn: !isModule, impliedStrict: false } as const;
  const program = (isModule ? parseModule(parsable, options) : parseScript(parsable, options)) as unknown as Node;
  const ms = new MagicString(source);
  const visitor = new FileInstrumenter(ms, source, program);
  visitor.run();
  if (visitor.writes === 0) return { code: source, writes: 0 };
  // The module may declare its own `Symbol` (`var Symbol = root.Symbol` in lodash's
  // packages) or even `globalThis`: reach the global object by a name it does not shadow.
  const global = ['globalThis', 'global'].find((name) => !visitor.programDeclares(name)) ?? '(function () {}).constructor("return this")()';
  const prologue =
    `;var ${R} = ${global}[${global}.Symbol.for(${JSON.stringify(BARRIER_KEY.description)})], ${T};` +
    (visitor.programNeedsScope() ? `var ${visitor.programScopeVar()} = ${R}.sc0();` : '');
  const at = afterDirectives(program.body as Node[]) ?? (hashbang === -1 ? 0 : hashbang);
  ms.prependRight(at, prologue); // before any rewrite that starts at the same position
  const map = ms.generateMap({ source: filename, hires: 'boundary', includeContent: false });
  const code = `${ms.toString()}\n//# sourceMappingURL=data:application/json;charset=utf-8;base64,${Buffer.from(map.toString()).toString('base64')}\n`;
  return { code, writes: visitor.writes };
}
