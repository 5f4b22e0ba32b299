/**
 * A Step Functions execution of the deploy state machine, in virtual time: advance →
 * Wait `waitSeconds` → advance …, with the Advance task's Retry and Catch as
 * `lambda/deploy/contract.ts` describes, plus faults Step Functions can produce (a Lambda
 * that times out after its side effect and is retried on the same step).
 */
import { ADVANCE_FATAL_ERRORS, ADVANCE_RETRY } from '../../lambda/deploy/contract';
import { isDeployState, type DeployState } from '../../lambda/deploy/state';
import type { FakeCloud } from './fake-cloud';

/** Step Functions' payload limit. */
export const MAX_STATE_BYTES = 256 * 1024;

export interface DriverFaults {
  /** Steps (or `all`) whose advance call "times out after its side effect": Step Functions calls it again with the same state. */
  readonly retryAfterSideEffect?: readonly string[] | 'all';
}

export interface ExecutionResult {
  /** Final state (absent when the execution failed before producing one). */
  readonly state?: DeployState;
  /** Error that failed the execution (`DeployLockedError` …). */
  readonly error?: { readonly name: string; readonly message: string };
  readonly advanceCalls: number;
  /** Largest state seen, bytes of JSON. */
  readonly maxStateBytes: number;
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
}

function errorOf(err: unknown): { name: string; message: string } {
  return err instanceof Error ? { name: err.name, message: err.message } : { name: 'Error', message: String(err) };
}

export async function runExecution(input: unknown, options: DriverOptions): Promise<ExecutionResult> {
  const { cloud, handle } = options;
  const callSeconds = options.callSeconds ?? 1;
  const maxCalls = options.maxCalls ?? 20_000;
  const retryAll = options.faults?.retryAfterSideEffect === 'all';
  const retrySteps = new Set(Array.isArray(options.faults?.retryAfterSideEffect) ? options.faults.retryAfterSideEffect : []);
  let event: unknown = input;
  let calls = 0;
  let maxStateBytes = 0;
  let last: DeployState | undefined;

  const invoke = async (payload: unknown): Promise<DeployState> => {
    calls += 1;
    if (calls > maxCalls) throw new Error(`execution did not finish within ${maxCalls} advance calls`);
    const result = await handle(JSON.parse(JSON.stringify(payload)) as unknown);
    cloud.advance(callSeconds);
    return result;
  };

  for (;;) {
    let result: DeployState | undefined;
    let failure: { name: string; message: string } | undefined;
    for (let attempt = 0; attempt < ADVANCE_RETRY.maxAttempts; attempt++) {
      try {
        if (isDeployState(event) && (retryAll || retrySteps.has(event.step))) {
          // The call does its work, then the Lambda times out: its result is lost.
          await invoke(event);
          cloud.advance(ADVANCE_RETRY.intervalSeconds);
        }
        result = await invoke(event);
        failure = undefined;
        break;
      } catch (err) {
        failure = errorOf(err);
        if ((ADVANCE_FATAL_ERRORS as readonly string[]).includes(failure.name) || failure.message.startsWith('execution did not finish')) {
          return { ...(last ? { state: last } : {}), error: failure, advanceCalls: calls, maxStateBytes };
        }
        cloud.advance(ADVANCE_RETRY.intervalSeconds * ADVANCE_RETRY.backoffRate ** attempt);
      }
    }
    if (!result) {
      // Retries exhausted: the Catch hands the state back with the error.
      if (!isDeployState(event) || !failure) return { error: failure ?? { name: 'Error', message: 'no result' }, advanceCalls: calls, maxStateBytes };
      event = { ...event, lambdaError: { Error: failure.name, Cause: failure.message } };
      continue;
    }
    const bytes = Buffer.byteLength(JSON.stringify(result), 'utf8');
    maxStateBytes = Math.max(maxStateBytes, bytes);
    if (bytes > MAX_STATE_BYTES) throw new Error(`state of ${bytes} bytes exceeds the Step Functions payload limit`);
    last = result;
    await options.onState?.(result);
    if (result.done) return { state: result, advanceCalls: calls, maxStateBytes };
    cloud.advance(result.waitSeconds);
    event = result;
  }
}
