import { optionSpecs } from '../runtime/config';
import { exitCodes } from '../runtime/errors';

export function helpText(version: string): string {
  const width = Math.max(...optionSpecs.map((s) => (s.flag + (s.value ? ` ${s.value}` : '')).length));
  const options = optionSpecs
    .map((s) => {
      const left = (s.flag + (s.value ? ` ${s.value}` : '')).padEnd(width);
      return `  ${left}  ${s.help}\n  ${' '.repeat(width)}  env: ${s.env}`;
    })
    .join('\n');
  const codes = Object.entries(exitCodes)
    .map(([reason, code]) => `  ${code}  ${reason}`)
    .join('\n');
  return `srs ${version}: self-recovery for Node.js servers

Usage:
  srs run [options] <entry> [args...]   run a server with SRS (instead of: node <entry> [args...])
  srs demo [options]                    run the built-in demo: a buggy server under node, then under srs
  srs --help | --version

Without the CLI:
  node -r srs/register app.js           CommonJS or ESM entry
  node --import srs/register app.mjs

Options (each also read from its environment variable):
${options}

Exit codes: the application's own, or
  2   bad input to srs
${codes}
`;
}
