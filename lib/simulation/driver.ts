/**
 * A Step Functions execution of the deploy state machine, in virtual time: advance →
 * Wait `waitSeconds` → advance …, with the Advance task's Retry and Catch as
 * `lambda/deploy/contract.ts` describes, plus faults Step Functions can produce (a Lambda
 * that times out after its side effect and is retried on the same step).
 *
 * It keeps Step Functions' accounts and limits: history events recorded per state type as a
 * Standard workflow records them (`HISTORY_EVENTS`), the execution failing at the history
 * limit or timing out at the state machine's timeout without any Catch running, as AWS
 * does, and an execution stopped by hand (`faults.abortAtStep`).
 */
import { ADVANCE_FATAL_ERRORS, ADVANCE_RETRY, OUTCOME_ERRORS, SUCCEEDING_OUTCOMES } from '../../lambda/deploy/contract';
import { HISTORY_EVENTS, STEP_FUNCTIONS_HISTORY_LIMIT, stateMachineTimeoutSeconds } from '../../lambda/deploy/budget';
import type { DeployConfig } from '../config/types';
import { isDeployState, type DeployState } from '../../lambda/deploy/state';
import type { FakeCloud } from './fake-cloud';

/** Step Functions' payload limit. */
export const MAX_STATE_BYTES = 256 * 1024;

/** Seconds the state machine waits after the advance Lambda failed for good (`BackoffAfterError`). */
export const BACKOFF_AFTER_ERROR_SECONDS = 30;

export interface DriverFaults {
  /** Steps (or `all`) whose advance call "times out after its side effect": Step Functions calls it again with the same state. */
  readonly retryAfterSideEffect?: readonly string[] | 'all';
  /** An operator stops the execution (StopExecution) when it reaches this step. */
  readonly abortAtStep?: string;
  /**
   * The advance Lambda fails (Lambda.ServiceException) on every call from the first time the
   * execution reaches `fromStep`, for `forSeconds` of virtual time (Infinity: for good).
   */
  readonly lambdaDown?: { readonly fromStep: string; readonly forSeconds: number };
  /**
   * Someone calls StopExecution (`herd abort`, the console): asked before each task is
   * entered; an error (the StopExecution's error and cause) ends the execution ABORTED there.
   */
  readonly stop?: () => { readonly name: string; readonly message: string } | undefined;
}

/** How an execution ended, as DescribeExecution says. */
export type ExecutionStatus = 'SUCCEEDED' | 'FAILED' | 'TIMED_OUT' | 'ABORTED';

export interface ExecutionResult {
  readonly status: ExecutionStatus;
  /** Final state (absent when the execution failed before producing one). */
  readonly state?: DeployState;
  /**
   * The newest state in the execution's history: the input of the last task entered, or the
   * output of the last one that returned, whichever came later (what the reaper reads).
   */
  readonly lastAdvanced?: DeployState;
  /** Error that failed the execution (`DeployLockedError`, `States.Timeout`, …). */
  readonly error?: { readonly name: string; readonly message: string };
  readonly advanceCalls: number;
  /** Largest state seen, bytes of JSON. */
  readonly maxStateBytes: number;
  /** History events the execution recorded. */
  readonly historyEvents: number;
  /** Virtual seconds from start to end. */
  readonly seconds: number;
}

export interface DriverOptions {
  readonly cloud: FakeCloud;
  /** The Lambda handler (or `handle` bound to a context). */
  readonly handle: (event: unknown) => Promise<DeployState>;
  readonly faults?: DriverFaults;
  /** Called with each state the Lambda returned. */
  readonly onState?: (state: DeployState) => Promise<void> | void;
  /** Virtual seconds one advance call takes. */
  readonly callSeconds?: number;
  readonly maxCalls?: number;
  /** History events at which the execution fails (Step Functions: 25,000). */
  readonly historyLimit?: number;
  /** The state machine's TimeoutSeconds; default: the CDK stack's, from `deploy`. */
  readonly timeoutSeconds?: number;
  /** The environment's deploy settings (the default timeout follows them). */
  readonly deploy?: DeployConfig;
}

/** The execution ended, by Step Functions' own limits or an operator: no Catch runs. */
class ExecutionEnded extends Error {
  constructor(readonly status: ExecutionStatus, readonly error: { name: string; message: string }) {
    super(error.message);
  }
}

function errorOf(err: unknown): { name: string; message: string } {
  return err instanceof Error ? { name: err.name, message: err.message } : { name: 'Error', message: String(err) };
}

export async function runExecution(input: unknown, options: DriverOptions): Promise<ExecutionResult> {
  const { cloud, handle } = options;
  const callSeconds = options.callSeconds ?? 1;
  const maxCalls = options.maxCalls ?? 20_000;
  const historyLimit = options.historyLimit ?? STEP_FUNCTIONS_HISTORY_LIMIT;
  const timeoutSeconds = options.timeoutSeconds ?? (options.deploy ? stateMachineTimeoutSeconds(options.deploy) : Infinity);
  const retryAll = options.faults?.retryAfterSideEffect === 'all';
  const retrySteps = new Set(Array.isArray(options.faults?.retryAfterSideEffect) ? options.faults.retryAfterSideEffect : []);
  const startedAt = cloud.now();
  let event: unknown = input;
  let calls = 0;
  let maxStateBytes = 0;
  let history = 0;
  let last: DeployState | undefined;
  let lambdaDownUntil: number | undefined;

  const record = (events: number) => {
    history += events;
    if (history > historyLimit) {
      throw new ExecutionEnded('FAILED', { name: 'States.Runtime', message: `The execution reached the maximum number of history events (${historyLimit}).` });
    }
  };
  const pass = (seconds: number) => {
    const left = timeoutSeconds - (cloud.now() - startedAt) / 1000;
    if (seconds >= left) {
      cloud.advance(Math.max(0, left));
      throw new ExecutionEnded('TIMED_OUT', { name: 'States.Timeout', message: `The execution timed out after ${timeoutSeconds} seconds.` });
    }
    cloud.advance(seconds);
  };
  const invoke = async (payload: unknown): Promise<DeployState> => {
    calls += 1;
    if (calls > maxCalls) throw new Error(`execution did not finish within ${maxCalls} advance calls`);
    const down = options.faults?.lambdaDown;
    if (down && isDeployState(payload) && lambdaDownUntil === undefined && payload.step === down.fromStep) lambdaDownUntil = cloud.now() + down.forSeconds * 1000;
    if (lambdaDownUntil !== undefined && cloud.now() < lambdaDownUntil) {
      pass(callSeconds);
      throw Object.assign(new Error('Lambda is unable to serve the request'), { name: 'Lambda.ServiceException' });
    }
    const result = await handle(JSON.parse(JSON.stringify(payload)) as unknown);
    pass(callSeconds);
    return result;
  };
  let lastAdvanced: DeployState | undefined;
  const end = (status: ExecutionStatus, extra: { state?: DeployState; error?: { name: string; message: string } }): ExecutionResult => ({
    status,
    ...(lastAdvanced ? { lastAdvanced } : {}),
    ...(extra.state ?? last ? { state: extra.state ?? last } : {}),
    ...(extra.error ? { error: extra.error } : {}),
    advanceCalls: calls,
    maxStateBytes,
    historyEvents: history,
    seconds: Math.round((cloud.now() - startedAt) / 1000),
  });

  try {
    record(1); // ExecutionStarted
    for (;;) {
      if (isDeployState(event) && options.faults?.abortAtStep === event.step) {
        throw new ExecutionEnded('ABORTED', { name: 'ExecutionAborted', message: `stopped by an operator at ${event.step}` });
      }
      const stopped = options.faults?.stop?.();
      if (stopped) throw new ExecutionEnded('ABORTED', stopped);
      let result: DeployState | undefined;
      let failure: { name: string; message: string } | undefined;
      record(1); // TaskStateEntered
      if (isDeployState(event)) lastAdvanced = event;
      for (let attempt = 0; attempt < ADVANCE_RETRY.maxAttempts; attempt++) {
        try {
          if (isDeployState(event) && (retryAll || retrySteps.has(event.step))) {
            // The call does its work, then the Lambda times out: its result is lost.
            record(HISTORY_EVENTS.failedAttempt);
            await invoke(event);
            pass(ADVANCE_RETRY.intervalSeconds);
          }
          record(HISTORY_EVENTS.failedAttempt); // scheduled, started, succeeded or failed
          result = await invoke(event);
          failure = undefined;
          break;
        } catch (err) {
          if (err instanceof ExecutionEnded) throw err;
          failure = errorOf(err);
          // Refusals are not retried (a MaxAttempts 0 retrier comes first): they go to the Refused state.
          if ((ADVANCE_FATAL_ERRORS as readonly string[]).includes(failure.name) || failure.message.startsWith('execution did not finish')) {
            record(1 + 1 + 1); // TaskStateExited, FailStateEntered, ExecutionFailed
            return end('FAILED', { error: failure });
          }
          if (attempt + 1 < ADVANCE_RETRY.maxAttempts) pass(ADVANCE_RETRY.intervalSeconds * ADVANCE_RETRY.backoffRate ** attempt);
        }
      }
      record(1); // TaskStateExited
      if (!result) {
        // Retries exhausted: the Catch hands the state back with the error, after a pause.
        if (!isDeployState(event) || !failure) {
          record(2);
          return end('FAILED', { error: failure ?? { name: 'Error', message: 'no result' } });
        }
        record(HISTORY_EVENTS.wait);
        pass(BACKOFF_AFTER_ERROR_SECONDS);
        event = { ...event, lambdaError: { Error: failure.name, Cause: failure.message } };
        continue;
      }
      const bytes = Buffer.byteLength(JSON.stringify(result), 'utf8');
      maxStateBytes = Math.max(maxStateBytes, bytes);
      if (bytes > MAX_STATE_BYTES) throw new Error(`state of ${bytes} bytes exceeds the Step Functions payload limit`);
      last = result;
      lastAdvanced = result;
      await options.onState?.(result);
      record(HISTORY_EVENTS.choice);
      if (result.done) {
        // Serving (Succeed: entered, exited, ExecutionSucceeded) or RolledBack (Fail: entered, ExecutionFailed).
        if ((SUCCEEDING_OUTCOMES as readonly string[]).includes(result.outcome ?? '')) {
          record(HISTORY_EVENTS.end);
          return end('SUCCEEDED', { state: result });
        }
        record(2);
        const name = OUTCOME_ERRORS[(result.outcome ?? 'failed') as keyof typeof OUTCOME_ERRORS] ?? OUTCOME_ERRORS.failed;
        return end('FAILED', { state: result, error: { name, message: result.failure?.cause ?? 'the deploy failed' } });
      }
      if (result.waitSeconds > 0) {
        record(HISTORY_EVENTS.wait);
        pass(result.waitSeconds);
      }
      event = result;
    }
  } catch (err) {
    if (err instanceof ExecutionEnded) {
      record0(); // the end event itself is not limited
      return end(err.status, { error: err.error });
    }
    throw err;
  }

  function record0(): void {
    history += 1;
  }
}
