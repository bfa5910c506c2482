// Every error SRS reports about its own input or state has a code users can
// search for, in the style of Fastify's FST_ERR_* catalog.

export const codes = {
  SRS_ERR_USAGE: 'usage: %s',
  SRS_ERR_UNKNOWN_OPTION: 'unknown option %s (see srs --help)',
  SRS_ERR_BAD_OPTION: '%s',
  SRS_ERR_MISSING_VALUE: 'option %s needs a value',
  SRS_ERR_NO_ENTRY: 'no entry file given: srs run [options] <entry> [args...]',
  SRS_ERR_ENTRY_NOT_FOUND: 'entry file not found: %s',
  SRS_ERR_EVENTS_FILE: 'cannot open the events file %s: %s',
  SRS_ERR_UNKNOWN_COMMAND: 'unknown command %s (see srs --help)',
} as const;

export type ErrorCode = keyof typeof codes;

/** An error in what the user gave SRS: reported as one line, exit code 2. */
export class SrsUsageError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, ...args: string[]) {
    let i = 0;
    super(codes[code].replace(/%s/g, () => args[i++] ?? ''));
    this.name = 'SrsUsageError';
    this.code = code;
  }
}

export const EXIT_USAGE = 2;

/**
 * Exit codes of an escalation. Distinct from Node's own (1, 7, 12, 13, 134…)
 * so that a supervisor or a log query can tell why SRS gave up.
 */
export const exitCodes = {
  'unowned-crash': 81,
  'internal-fault': 82,
  'budget-exceeded': 83,
  'memory-exhausted': 84,
} as const;

export type EscalationReason = keyof typeof exitCodes;
