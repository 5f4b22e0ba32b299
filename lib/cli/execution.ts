/**
 * A deploy as Step Functions runs it: its status, and its `DeployState` (each advance
 * Lambda returns the whole state; the last one in the execution history is the newest).
 */
import {
  DescribeExecutionCommand,
  GetExecutionHistoryCommand,
  type ExecutionStatus,
  type HistoryEvent,
} from '@aws-sdk/client-sfn';
import { ADVANCE_FATAL_ERRORS, DEPLOY_END_ERRORS } from '../../lambda/deploy/contract';
import { MAX_RESUMES, resumeExecutionName } from '../../lambda/deploy/reaper';
import { isDeployState, type DeployState } from '../../lambda/deploy/state';
import type { AwsClients } from './deps';

/** ARN of the execution named `deployId` of `stateMachineArn`. */
export function executionArnOf(stateMachineArn: string, deployId: string): string {
  return `${stateMachineArn.replace(':stateMachine:', ':execution:')}:${deployId}`;
}

export interface ExecutionView {
  readonly status: ExecutionStatus | 'UNKNOWN';
  /** The newest state the advance Lambda returned (or the execution's output). */
  readonly state?: DeployState;
  /** Error and cause of a failed execution. */
  readonly error?: string;
  readonly cause?: string;
  readonly startedAt?: number;
  readonly stoppedAt?: number;
}

function parseState(json: string | undefined): DeployState | undefined {
  if (!json) return undefined;
  try {
    const value: unknown = JSON.parse(json);
    if (isDeployState(value)) return value;
    // A Lambda task's result without payloadResponseOnly: { Payload: state }.
    if (typeof value === 'object' && value !== null && 'Payload' in value) {
      const payload = (value as { Payload: unknown }).Payload;
      return isDeployState(payload) ? payload : undefined;
    }
  } catch {
    return undefined;
  }
  return undefined;
}

function stateOfEvent(e: HistoryEvent): DeployState | undefined {
  return parseState(e.lambdaFunctionSucceededEventDetails?.output ?? e.taskSucceededEventDetails?.output ?? e.stateExitedEventDetails?.output);
}

/** Status and newest state of an execution. */
export async function readExecution(clients: Pick<AwsClients, 'sfn'>, executionArn: string): Promise<ExecutionView> {
  const d = await clients.sfn.send(new DescribeExecutionCommand({ executionArn }));
  let state = parseState(d.output);
  if (!state) {
    const h = await clients.sfn.send(new GetExecutionHistoryCommand({ executionArn, reverseOrder: true, maxResults: 30 }));
    for (const e of h.events ?? []) {
      state = stateOfEvent(e);
      if (state) break;
    }
  }
  return {
    status: d.status ?? 'UNKNOWN',
    ...(state ? { state } : {}),
    ...(d.error ? { error: d.error } : {}),
    ...(d.cause ? { cause: d.cause } : {}),
    ...(d.startDate ? { startedAt: d.startDate.getTime() } : {}),
    ...(d.stopDate ? { stoppedAt: d.stopDate.getTime() } : {}),
  };
}

/**
 * Seconds after a deploy started (the CLI's StartExecution, or the lock's `since`) during
 * which Step Functions may not know the execution yet: DescribeExecution is eventually
 * consistent ("results are best effort and may not reflect very recent updates").
 */
export const EXECUTION_VISIBILITY_SECONDS = 30;

/** Whether an execution ended abnormally, so the reaper resumes it (not a deploy that failed and rolled back, nor a refusal). */
export function endedAbnormally(view: ExecutionView): boolean {
  if (view.status === 'TIMED_OUT' || view.status === 'ABORTED') return true;
  return view.status === 'FAILED' && !DEPLOY_END_ERRORS.includes(view.error ?? '') && !(ADVANCE_FATAL_ERRORS as readonly string[]).includes(view.error ?? '');
}

export interface DeployExecution {
  /** The execution that carries the deploy now: its own, or the reaper's latest resume. */
  readonly executionArn: string;
  readonly view: ExecutionView;
  /** Executions of this deploy that ended abnormally before `executionArn`, oldest first. */
  readonly died: readonly { readonly executionArn: string; readonly view: ExecutionView }[];
}

/**
 * The execution that carries deploy `deployId` now, starting from `from` (the execution the
 * lock names, or one the CLI started; default the deploy's own). An execution that died
 * (stopped, timed out, out of history) is resumed by the reaper in `<deployId>-resume-<n>`,
 * started after it died: this follows them to the newest. Undefined when Step Functions
 * does not know the starting execution.
 */
export async function readDeployExecution(
  clients: Pick<AwsClients, 'sfn'>,
  stateMachineArn: string,
  deployId: string,
  from: string = deployId,
): Promise<DeployExecution | undefined> {
  let executionArn = executionArnOf(stateMachineArn, from);
  let view: ExecutionView;
  try {
    view = await readExecution(clients, executionArn);
  } catch (err) {
    if (isNoSuchExecution(err)) return undefined;
    throw err;
  }
  const died: { executionArn: string; view: ExecutionView }[] = [];
  const seen = new Set([executionArn]);
  while (endedAbnormally(view)) {
    let resumed: { executionArn: string; view: ExecutionView } | undefined;
    for (let n = 1; n <= MAX_RESUMES && !resumed; n++) {
      const next = executionArnOf(stateMachineArn, resumeExecutionName(deployId, n));
      if (seen.has(next)) continue;
      try {
        const v = await readExecution(clients, next);
        if ((v.startedAt ?? 0) >= (view.stoppedAt ?? 0)) resumed = { executionArn: next, view: v };
      } catch (err) {
        if (!isNoSuchExecution(err)) throw err;
      }
    }
    if (!resumed) break;
    died.push({ executionArn, view });
    seen.add(resumed.executionArn);
    ({ executionArn, view } = resumed);
  }
  return { executionArn, view, died };
}

export function isNoSuchExecution(err: unknown): boolean {
  return err instanceof Error && err.name === 'ExecutionDoesNotExist';
}
