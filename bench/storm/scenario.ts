/**
 * What a crash-storm scenario is: a corpus server with a published bug, the
 * benign traffic it serves, the attack (and its harmless twin), and the
 * oracle that judges its final state. bench/storm.ts runs any of them under
 * every setup; upload.ts and gateway.ts are the two there are.
 */
import type { ClientRequest } from 'node:http';

/** The slice of autocannon's request options a scenario builds (autocannon has no bundled types). */
export interface CannonContext {
  /** Id of the request this connection built last (with pipelining 1: the one in flight). */
  cur?: string;
}
export interface CannonRequest {
  method?: string;
  path?: string;
  headers?: Record<string, string>;
  body?: string | Buffer;
  setupRequest?: (req: CannonRequest, context: CannonContext) => CannonRequest;
  onResponse?: (status: number, body: string, context: CannonContext) => void;
}

/**
 * What the client knows about every benign request of one server's life:
 * which were answered (and which of those with a 2xx), which are
 * unanswered. Ids are the scenario's: they say what each request was.
 */
export class BenignLedger {
  private seq = 0;
  /** Sent (built by autocannon, which writes every request it builds), not answered yet. */
  readonly pending = new Set<string>();
  /** Answered with any status. */
  readonly answered = new Set<string>();
  /** Answered 2xx. */
  readonly succeeded = new Set<string>();
  /** Requests whose outcome the client never learned (lost, or in flight at a stop): may or may not be in the state. */
  readonly unknown = new Set<string>();

  /** A new request: `make` turns a fresh sequence number into its id. */
  next(make: (seq: number) => string): string {
    const id = make(++this.seq);
    this.pending.add(id);
    return id;
  }

  answer(id: string, status: number): void {
    this.pending.delete(id);
    this.answered.add(id);
    if (status >= 200 && status < 300) this.succeeded.add(id);
  }
}

export interface Attack {
  /** ms since t0 when the crashing part was sent (or the attempt failed). */
  t: number;
  outcome: string;
}

export interface Verdict {
  equal: boolean;
  /** In a word: equal; lost (acknowledged benign effects gone); corrupted (attacker writes kept); differs. */
  short: 'equal' | 'lost' | 'corrupted' | 'differs' | 'n/a';
  /** 'yes', or what differs. */
  text: string;
}

export interface AttackOptions {
  port: number;
  /** The attack's number in the run (names what it stores). */
  n: number;
  /** Between a multi-part attack's first part and its crashing part. */
  gapMs: number;
  /** performance.now() of the run's start. */
  t0: number;
  /** Send the harmless twin instead: the same traffic without the crash. */
  harmless: boolean;
  /** A twin is a benign request of the attacker's client: it records its outcome here. */
  ledger: BenignLedger;
}

export interface ScenarioText {
  /** The server and its bug, for the report's first paragraph. */
  server: string;
  /** The benign load on each connection. */
  load: string;
  /** One attack, after "Attacks (advisory): <rate>; ". */
  attack: string;
  /** What the twin is. */
  twin: string;
  /** What "state = oracle" means here. */
  oracle: string;
  /** What the state holds over a run (for the RSS column). */
  growth: string;
}

export interface Scenario {
  key: string;
  /** The server's entry (prints "listening <port>", honours PORT). */
  app: string;
  /** Advisory id, for the report. */
  advisory: string;
  /** The benign requests each connection cycles through, every one tracked in the ledger. */
  benignRequests(ledger: BenignLedger, readsEvery: number): CannonRequest[];
  attackOnce(o: AttackOptions): Promise<Attack>;
  /** The full state of each process (GET /state?full=1 or the like). */
  statePath: string;
  /** Compares the states of all processes (added up) with the oracle. */
  judge(states: unknown[], ledger: BenignLedger, restarts: number): Verdict;
  text(o: { readsEvery: number; gapMs: number }): ScenarioText;
}

/**
 * Reports how one attacker request ended, once: its status code, a socket
 * error's code, or no answer within timeoutMs (the request is then
 * destroyed).
 */
export function settleRequest(req: ClientRequest, timeoutMs: number, done: (outcome: string) => void, timeoutLabel = `no answer (${timeoutMs / 1000} s)`): void {
  let settled = false;
  const finish = (outcome: string) => {
    if (settled) return;
    settled = true;
    clearTimeout(timer);
    done(outcome);
  };
  const timer = setTimeout(() => {
    req.destroy();
    finish(timeoutLabel);
  }, timeoutMs);
  req.on('response', (res) => {
    res.resume();
    res.on('end', () => finish(String(res.statusCode)));
    res.on('error', (e: NodeJS.ErrnoException) => finish(e.code ?? e.message));
  });
  req.on('error', (e: NodeJS.ErrnoException) => finish(e.code ?? e.message));
}

/** "1,234" */
export const count = (n: number) => n.toLocaleString('en-US');
