/**
 * The benches' command lines: `--name value`, `--name=value` and switches.
 * `--help` prints the usage and exits; anything else unknown is a usage error.
 */
export function parseFlags(
  argv: string[],
  valued: ReadonlySet<string>,
  switches: ReadonlySet<string>,
  usage: string,
  fail: (message: string) => never,
): Map<string, string | true> {
  const flags = new Map<string, string | true>();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--help' || arg === '-h') {
      process.stdout.write(usage);
      process.exit(0);
    }
    const eq = arg.indexOf('=');
    const name = eq > 0 ? arg.slice(0, eq) : arg;
    if (valued.has(name)) {
      const value = eq > 0 ? arg.slice(eq + 1) : argv[++i];
      if (value === undefined) fail(`${name} expects a value`);
      flags.set(name, value);
    } else if (switches.has(name)) {
      flags.set(name, true);
    } else {
      fail(`unknown argument "${arg}"`);
    }
  }
  return flags;
}
