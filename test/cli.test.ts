/**
 * The command line: `srs run` and `node -r/--import srs/register` must be a
 * drop-in for `node <entry>` (argv, stdio, exit code, signals, startup errors,
 * CJS and ESM, cluster workers), and bad input to srs must be one coded line
 * on stderr with exit code 2.
 */
import assert = require('node:assert/strict');
import { execFileSync } from 'node:child_process';
import fs = require('node:fs');
import path = require('node:path');
import { describe, test } from 'node:test';
import { optionSpecs } from '../src/runtime/config';
import { EXIT_USAGE, exitCodes } from '../src/runtime/errors';
import { fixture, request, startServer } from './helpers';
import { packageRoot, registerPath, runNode, srsCli, waitFor, within } from './run-helpers';

const { version } = JSON.parse(fs.readFileSync(path.join(packageRoot, 'package.json'), 'utf8')) as { version: string };
const srs = (...args: string[]) => runNode([srsCli, ...args]);

// --- bad input ---------------------------------------------------------------

interface BadInput {
  name: string;
  args: string[];
  env?: Record<string, string>;
  code: string;
  /** The message must name this (the flag or variable at fault). */
  mentions?: string;
}

const echo = fixture('cli-echo.js');

const badInputs: BadInput[] = [
  { name: 'run without an entry', args: ['run'], code: 'SRS_ERR_NO_ENTRY' },
  { name: 'run with options but no entry', args: ['run', '--budget', '3'], code: 'SRS_ERR_NO_ENTRY' },
  { name: 'run with only --', args: ['run', '--'], code: 'SRS_ERR_NO_ENTRY' },
  { name: 'missing entry file', args: ['run', 'test/fixtures/no-such-app.js'], code: 'SRS_ERR_ENTRY_NOT_FOUND', mentions: 'no-such-app.js' },
  { name: 'missing entry, no extension', args: ['run', 'test/fixtures/no-such-app'], code: 'SRS_ERR_ENTRY_NOT_FOUND', mentions: 'no-such-app' },
  { name: 'unknown flag after run', args: ['run', '--bogus', echo], code: 'SRS_ERR_UNKNOWN_OPTION', mentions: '--bogus' },
  { name: 'unknown flag with a value', args: ['run', '--bogus=1', echo], code: 'SRS_ERR_UNKNOWN_OPTION', mentions: '--bogus' },
  { name: 'unknown short flag', args: ['run', '-x', echo], code: 'SRS_ERR_UNKNOWN_OPTION', mentions: '-x' },
  { name: 'unknown top-level flag', args: ['--bogus'], code: 'SRS_ERR_UNKNOWN_OPTION', mentions: '--bogus' },
  { name: 'unknown command', args: ['frobnicate', echo], code: 'SRS_ERR_UNKNOWN_COMMAND', mentions: 'frobnicate' },
  { name: 'entry given without run', args: [echo], code: 'SRS_ERR_UNKNOWN_COMMAND' },
  { name: 'demo with an argument', args: ['demo', 'extra'], code: 'SRS_ERR_USAGE' },
  { name: '--events to an unwritable file', args: ['run', '--events', '/nonexistent-dir/events.log', echo], code: 'SRS_ERR_EVENTS_FILE', mentions: '/nonexistent-dir/events.log' },
];

// Every option that takes a value, without one.
for (const spec of optionSpecs) {
  if (spec.value === null) continue;
  badInputs.push({ name: `${spec.flag} without a value`, args: ['run', spec.flag], code: 'SRS_ERR_MISSING_VALUE', mentions: spec.flag });
}

// Bad values for every numeric, fraction and boolean option, via the flag
// (both spellings) and via its SRS_* variable.
const badValues: Record<string, string[]> = {
  '--budget': ['0', '-1', '1.5', 'abc', '', '1e3', '99999999999999999999'],
  '--budget-window-ms': ['0', '-5', '2.5', 'ten', ''],
  '--drain-timeout-ms': ['0', '-300', '0.5', '300ms', ''],
  '--heap-limit': ['0', '-0.5', '1.5', '2', 'abc', '', 'NaN', 'Infinity'],
  '--expose-errors': ['maybe', '2', 'enabled'],
  '--events': [''],
  '--instrument': ['some', 'APP', ''],
  '--cache-dir': [''],
};
// An option added later without a row here still gets the values its own parser rejects.
const fallbackBadValues = ['', '-1', '0', '1.5', 'not-a-valid-value'];
const rejects = (parse: (raw: string, name: string) => unknown, value: string) => {
  try {
    parse(value, 'x');
    return false;
  } catch {
    return true;
  }
};
for (const spec of optionSpecs) {
  const parse = spec.parse as (raw: string, name: string) => unknown;
  const values = badValues[spec.flag] ?? fallbackBadValues.filter((v) => rejects(parse, v));
  values.forEach((value, i) => {
    badInputs.push({ name: `${spec.flag}=${JSON.stringify(value)}`, args: ['run', `${spec.flag}=${value}`, echo], code: 'SRS_ERR_BAD_OPTION', mentions: spec.flag });
    // A switch takes no separate value: the next word is the entry.
    if (i === 0 && spec.value !== null) {
      badInputs.push({ name: `${spec.flag} ${JSON.stringify(value)}`, args: ['run', spec.flag, value, echo], code: 'SRS_ERR_BAD_OPTION', mentions: spec.flag });
    }
    badInputs.push({ name: `${spec.env}=${JSON.stringify(value)}`, args: ['run', echo], env: { [spec.env]: value }, code: 'SRS_ERR_BAD_OPTION', mentions: spec.env });
  });
}

function assertUsageError(r: { code: number | null; signal: string | null; stdout: string; stderr: string }, c: { code: string; mentions?: string }) {
  const lines = r.stderr.split('\n').filter((l) => l !== '');
  assert.equal(lines.length, 1, `exactly one line on stderr, got:\n${r.stderr}`);
  assert.match(lines[0]!, new RegExp(`^srs: ${c.code}: \\S`));
  assert.ok(r.stderr.endsWith('\n'));
  assert.doesNotMatch(r.stderr, /^\s+at /m, 'no stack trace');
  if (c.mentions !== undefined) assert.ok(lines[0]!.includes(c.mentions), `"${lines[0]}" names ${c.mentions}`);
  assert.equal(r.code, EXIT_USAGE);
  assert.equal(r.signal, null);
  assert.equal(r.stdout, '', 'the entry did not run');
}

describe('srs: bad input is one coded line on stderr and exit code 2', { concurrency: 4, timeout: 240_000 }, () => {
  for (const c of badInputs) {
    test(c.name, { timeout: 10_000 }, async () => {
      assertUsageError(await runNode([srsCli, ...c.args], { env: c.env }), c);
    });
  }
});

describe('srs/register: a bad SRS_* variable is one coded line on stderr and exit code 2', { concurrency: 4, timeout: 120_000 }, () => {
  // One bad value per variable: the parsing itself is the CLI's, tested above.
  const cases = optionSpecs.map((spec) => badInputs.find((c) => c.env !== undefined && spec.env in c.env)!);
  for (const loader of ['-r', '--import']) {
    for (const c of cases) {
      test(`node ${loader} srs/register with ${c.name}`, { timeout: 10_000 }, async () => {
        assertUsageError(await runNode([loader, registerPath, echo], { env: c.env }), c);
      });
    }
  }
  test('an unwritable SRS_EVENTS file', { timeout: 10_000 }, async () => {
    const c = { code: 'SRS_ERR_EVENTS_FILE', mentions: '/nonexistent-dir/events.log' };
    assertUsageError(await runNode(['-r', registerPath, echo], { env: { SRS_EVENTS: '/nonexistent-dir/events.log' } }), c);
  });
});

// --- help and version ----------------------------------------------------------

describe('srs --help and --version', { timeout: 30_000 }, () => {
  for (const args of [['--help'], ['-h'], ['help'], [], ['run', '--help']]) {
    test(`srs ${args.join(' ') || '(no arguments)'} lists every option, its variable and the exit codes`, async () => {
      const r = await srs(...args);
      assert.equal(r.code, 0);
      assert.equal(r.stderr, '');
      const help = r.stdout;
      assert.match(help, /srs run \[options\] <entry> \[args\.\.\.\]/);
      assert.match(help, /node -r srs\/register/);
      assert.match(help, /node --import srs\/register/);
      // The options srs has had from the start, so that dropping one from the table is noticed too.
      const flags = optionSpecs.map((s) => s.flag);
      for (const flag of ['--budget', '--budget-window-ms', '--drain-timeout-ms', '--events', '--expose-errors', '--heap-limit']) {
        assert.ok(flags.includes(flag), `${flag} is still an option`);
      }
      for (const spec of optionSpecs) {
        const line = help.split('\n').findIndex((l) => l.trimStart().startsWith(spec.flag + (spec.value ? ` ${spec.value}` : '')));
        assert.ok(line >= 0, `help lists ${spec.flag}`);
        // The variable is named right under its option.
        assert.equal(help.split('\n')[line + 1]!.trim(), `env: ${spec.env}`, `help names ${spec.env} for ${spec.flag}`);
      }
      assert.match(help, /^\s+2\s+bad input to srs$/m);
      for (const [reason, code] of Object.entries(exitCodes)) {
        assert.match(help, new RegExp(`^\\s+${code}\\s+${reason}$`, 'm'), `help lists exit code ${code} (${reason})`);
      }
    });
  }

  // npx and npm's bin links run the file itself: `npm ci` leaves its mode to the build.
  test('the srs bin runs as a command (executable, with its shebang)', () => {
    const pathWithNode = `${path.dirname(process.execPath)}${path.delimiter}${process.env.PATH ?? ''}`;
    const out = execFileSync(srsCli, ['--version'], { encoding: 'utf8', env: { ...process.env, PATH: pathWithNode } });
    assert.match(out, /\d+\.\d+\.\d+/);
  });

  // Only run and demo read SRS_*: a bad variable must not lock a user out of --help.
  test('srs --help and --version work whatever SRS_* says', async () => {
    for (const flag of ['--help', '--version']) {
      const r = await runNode([srsCli, flag], { env: { SRS_BUDGET: '0' } });
      assert.equal(r.code, 0, `${flag}: ${r.stderr}`);
    }
  });

  test('a flag where a value is expected is a missing value, not the value', async () => {
    const r = await runNode([srsCli, 'run', '--events', '--budget', '2', 'app.js']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /^srs: SRS_ERR_MISSING_VALUE: option --events needs a value\n$/);
  });

  for (const flag of ['--version', '-v']) {
    test(`srs ${flag} prints package.json's version`, async () => {
      const r = await srs(flag);
      assert.deepEqual({ code: r.code, stdout: r.stdout, stderr: r.stderr }, { code: 0, stdout: `${version}\n`, stderr: '' });
    });
  }
});

// --- srs run is a drop-in for node ---------------------------------------------

interface Launch {
  name: string;
  /** node's arguments up to and including the entry. */
  argv: string[];
  srs: boolean;
  cwd?: string;
}

const launches: Launch[] = [
  { name: 'plain node, CJS', argv: [fixture('cli-echo.js')], srs: false },
  { name: 'plain node, ESM', argv: [fixture('cli-echo.mjs')], srs: false },
  { name: 'srs run, CJS', argv: [srsCli, 'run', fixture('cli-echo.js')], srs: true },
  { name: 'srs run, ESM .mjs', argv: [srsCli, 'run', fixture('cli-echo.mjs')], srs: true },
  { name: 'srs run, entry without extension', argv: [srsCli, 'run', path.join('test', 'fixtures', 'cli-echo')], srs: true },
  { name: 'srs run, relative entry from its directory', argv: [srsCli, 'run', 'cli-echo.js'], srs: true, cwd: path.join(packageRoot, 'test', 'fixtures') },
  { name: 'srs run with options, then --', argv: [srsCli, 'run', '--budget', '5', '--expose-errors', '--', fixture('cli-echo.js')], srs: true },
  { name: 'node -r srs/register, CJS', argv: ['-r', 'srs/register', fixture('cli-echo.js')], srs: true },
  { name: 'node -r srs/register, ESM', argv: ['-r', 'srs/register', fixture('cli-echo.mjs')], srs: true },
  { name: 'node --import srs/register, ESM', argv: ['--import', 'srs/register', fixture('cli-echo.mjs')], srs: true },
  { name: 'node -r <dist register>, CJS', argv: ['-r', registerPath, fixture('cli-echo.js')], srs: true },
  { name: 'node --import <dist register>, CJS', argv: ['--import', registerPath, fixture('cli-echo.js')], srs: true },
  { name: 'node --import <dist register>, ESM', argv: ['--import', registerPath, fixture('cli-echo.mjs')], srs: true },
];

describe('srs run passes argv, stdin, stdout and the exit code through', { concurrency: 2, timeout: 180_000 }, () => {
  // Flags after the entry belong to the application, srs's own included.
  const appArgs = ['two words', '--flag', '-x', '--help', '--budget', '0', '--', 'last'];
  const input = 'first line\nsecond line, no newline at the end';
  for (const launch of launches) {
    for (const exit3 of [false, true]) {
      test(`${launch.name}${exit3 ? ', process.exit(3)' : ''}`, async () => {
        const args = exit3 ? [...appArgs, '--exit3'] : appArgs;
        const r = await runNode([...launch.argv, ...args], { input, cwd: launch.cwd });
        assert.equal(r.stderr, '');
        assert.equal(r.code, exit3 ? 3 : 0);
        assert.equal(r.signal, null);
        const lines = r.stdout.split('\n');
        assert.equal(lines.length, 2, `one line of output, then nothing: ${JSON.stringify(r.stdout)}`);
        assert.deepEqual(JSON.parse(lines[0]!), { argv: args, main: true, stdin: input, srsLoaded: launch.srs });
      });
    }
  }
});

// Node's frames (node:internal/...) and srs's own between them differ; the
// message, the source excerpt and the application's frames must not.
function normalizeStartupError(stderr: string, entry: string): string {
  return stderr
    .split('\n')
    .filter((line) => !/^\s+at /.test(line) || line.includes(path.basename(entry)))
    .join('\n');
}

describe('a startup error of the entry looks as under node', { concurrency: 2, timeout: 60_000 }, () => {
  const cases = [
    { name: 'CJS throw at top level', entry: fixture('cli-startup-throw.js'), message: 'startup failed: no port configured' },
    { name: 'ESM rejected top-level await', entry: fixture('cli-tla-reject.mjs'), message: 'startup failed: config could not be loaded' },
  ];
  // Compared with plain node given the same preload flag: --import alone moves the caret of a CJS entry's excerpt.
  const noop = fixture('cli-noop-preload.js');
  const launches = [
    { name: 'srs run', srs: [srsCli, 'run'], node: [] },
    { name: 'node -r srs/register', srs: ['-r', registerPath], node: ['-r', noop] },
    { name: 'node --import srs/register', srs: ['--import', registerPath], node: ['--import', noop] },
  ];
  for (const c of cases) {
    for (const launch of launches) {
      test(`${c.name}: ${launch.name}`, async () => {
        const [plain, underSrs] = await Promise.all([runNode([...launch.node, c.entry]), runNode([...launch.srs, c.entry])]);
        assert.equal(plain.code, 1, plain.stderr);
        assert.equal(underSrs.code, plain.code);
        assert.equal(underSrs.signal, null);
        assert.equal(underSrs.stdout, plain.stdout);
        assert.ok(underSrs.stderr.includes(`Error: ${c.message}\n    at `), underSrs.stderr);
        assert.equal(normalizeStartupError(underSrs.stderr, c.entry), normalizeStartupError(plain.stderr, c.entry));
        assert.doesNotMatch(underSrs.stderr, /"type":"srs\./, 'no SRS event: there is nothing to recover at startup');
      });
    }
  }
});

// --- servers: signals, recovery in every launch mode, cluster ---------------------

type ServerLaunch = { name: string; mode: 'node' | 'srs'; nodeArgs?: string[]; entry: string };

const serverLaunches: ServerLaunch[] = [
  { name: 'srs run, CJS', mode: 'srs', entry: fixture('cli-server.js') },
  { name: 'srs run, ESM', mode: 'srs', entry: fixture('cli-server.mjs') },
  { name: 'node -r srs/register, CJS', mode: 'node', nodeArgs: ['-r', registerPath], entry: fixture('cli-server.js') },
  { name: 'node -r srs/register, ESM', mode: 'node', nodeArgs: ['-r', registerPath], entry: fixture('cli-server.mjs') },
  { name: 'node --import srs/register, CJS', mode: 'node', nodeArgs: ['--import', registerPath], entry: fixture('cli-server.js') },
  { name: 'node --import srs/register, ESM', mode: 'node', nodeArgs: ['--import', registerPath], entry: fixture('cli-server.mjs') },
];

describe('every launch mode recovers a request crash', { concurrency: 2, timeout: 60_000 }, () => {
  for (const launch of serverLaunches) {
    test(launch.name, async () => {
      const server = await startServer(launch);
      try {
        const crash = await request(server.port, '/crash');
        assert.equal(crash.status, 500);
        const ok = await request(server.port, '/');
        assert.deepEqual({ status: ok.status, body: ok.body }, { status: 200, body: 'ok' });
        const recovery = await waitFor(() => server.events().find((e) => e.type === 'srs.recovery'), 'the recovery event');
        assert.equal(recovery.request.url, '/crash');
        assert.equal(recovery.error.name, 'TypeError');
        assert.equal(server.child.exitCode, null, 'still up');
      } finally {
        await server.stop();
      }
    });
  }
});

describe('signals reach the application as under node', { concurrency: 2, timeout: 60_000 }, () => {
  const plainOutcome = async (entry: string) => {
    const server = await startServer({ mode: 'node', entry });
    return { ...(await within(server.stop(), 5000, 'exit after SIGTERM')), stdout: server.stdout() };
  };
  const cases = [
    { entry: 'cli-server.js', expected: { code: null, signal: 'SIGTERM' } },
    { entry: 'cli-server.mjs', expected: { code: null, signal: 'SIGTERM' } },
    // Its SIGTERM handler closes the server and exits 0.
    { entry: 'cli-graceful.js', expected: { code: 0, signal: null } },
  ];
  for (const c of cases) {
    const launches = serverLaunches.filter((l) => path.extname(l.entry) === path.extname(c.entry));
    test(`SIGTERM to ${c.entry}: ${launches.map((l) => l.name.replace(/, (CJS|ESM)$/, '')).join(', ')}`, async () => {
      const plain = await plainOutcome(fixture(c.entry));
      assert.deepEqual({ code: plain.code, signal: plain.signal }, c.expected);
      for (const launch of launches) {
        const server = await startServer({ ...launch, entry: fixture(c.entry) });
        const outcome = await within(server.stop(), 5000, `${launch.name}: exit after SIGTERM`);
        assert.deepEqual(outcome, { code: plain.code, signal: plain.signal }, launch.name);
        const port = (out: string) => out.replace(/^listening \d+$/m, 'listening <port>');
        assert.equal(port(server.stdout()), port(plain.stdout), `${launch.name}: same output`);
      }
    });
  }
});

describe('cluster: workers forked by an app under srs run have SRS too', { timeout: 30_000 }, () => {
  test('a worker recovers a request crash and stays up', async () => {
    const server = await startServer({ mode: 'srs', entry: fixture('cli-cluster.js') });
    try {
      const workerPids = new Set<string>();
      for (let i = 0; i < 4; i++) workerPids.add((await request(server.port, '/')).body!);
      assert.equal(workerPids.size, 2, 'two workers answer');
      assert.ok(!workerPids.has(String(server.child.pid)), 'the primary does not serve');

      const crash = await request(server.port, '/crash');
      assert.equal(crash.status, 500, JSON.stringify(crash));
      const recovery = await waitFor(() => server.events().find((e) => e.type === 'srs.recovery'), 'the recovery event');
      assert.ok(workerPids.has(String(recovery.pid)), 'recovered inside a worker');
      assert.equal(recovery.error.name, 'TypeError');

      // Both workers, the one that crashed included, keep serving.
      const after = new Set<string>();
      for (let i = 0; i < 6; i++) {
        const r = await request(server.port, '/');
        assert.equal(r.status, 200);
        after.add(r.body!);
      }
      assert.deepEqual([...after].sort(), [...workerPids].sort());
      assert.doesNotMatch(server.stdout(), /worker-exit/);
      assert.equal(server.events().filter((e) => e.type === 'srs.escalation').length, 0);
    } finally {
      await server.stop();
    }
  });
});
