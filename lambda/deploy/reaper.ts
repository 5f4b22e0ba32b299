/**
 * The reaper: what happens when a deploy's execution itself dies. Step Functions ends an
 * execution without running any Catch when it is stopped by hand, reaches its timeout or
 * its 25,000-event history, and a deploy also ends abnormally when its advance Lambda kept
 * failing so long that its own compensation could not finish. Each of these can leave a
 * maintenance page, a doubled fleet, a builder or runner, a held lock and a `running`
 * history item behind.
 *
 * An EventBridge rule on the state machine's "Execution Status Change" events (FAILED,
 * TIMED_OUT, ABORTED) invokes the reaper with the execution that ended. It reads the last
 * state the execution was advancing and, if the deploy is not finished (its lock still held,
 * or its history item still `running`), starts a new execution of the same state machine
 * from that state, marked `abandoned`: the advance logic then finishes the bookkeeping of a
 * release that already serves, or compensates what the deploy did (`resumeAbandoned` in
 * `advance.ts`). A normal failure (the `RolledBack` Fail state) or a refusal leaves nothing
 * to do. The reaper gives up after `MAX_RESUMES` executions, recording why.
 */
import { GetCommand } from '@aws-sdk/lib-dynamodb';
import { DEPLOY_END_ERRORS } from './contract';
import type { DeployClients } from './clients';
import type { DeployEnvironment } from './environment';
import { historyItem, historyKey, readLock, updateLock, writeHistory } from './lock';
import { notifyDeploy } from './notify';
import type { DeployState } from './state';

/** Executions the reaper starts for one deploy before it gives up. */
export const MAX_RESUMES = 3;

/** Execution statuses the reaper acts on (its EventBridge rule's filter). */
export const ABNORMAL_STATUSES = ['FAILED', 'TIMED_OUT', 'ABORTED'] as const;

/** What EventBridge says of the execution that ended. */
export interface ExecutionEnd {
  readonly executionArn: string;
  readonly status: string;
  readonly error?: string;
  readonly cause?: string;
}

export interface ReaperDeps {
  readonly clients: Pick<DeployClients, 'dynamodb' | 'sns' | 'eventBridge'>;
  readonly env: DeployEnvironment;
  /** Epoch milliseconds. */
  now(): number;
  /** The state the execution was last advancing (undefined: it never produced one). */
  lastState(executionArn: string): Promise<DeployState | undefined>;
  /** Starts a new execution of the deploy state machine with `input`. */
  startExecution(name: string, input: DeployState): Promise<void>;
}

export type ReapOutcome =
  | { readonly action: 'nothing'; readonly why: string }
  | { readonly action: 'resumed'; readonly execution: string }
  | { readonly action: 'gave-up'; readonly why: string };

/** Name of the `n`th execution the reaper starts for a deploy (unique, ≤ 80 characters). */
export function resumeExecutionName(deployId: string, n: number): string {
  return `${deployId}-resume-${n}`;
}

async function historyStatus(deps: ReaperDeps, state: DeployState): Promise<string | undefined> {
  const res = await deps.clients.dynamodb.send(new GetCommand({ TableName: deps.env.tableName, Key: historyKey(state), ConsistentRead: true }));
  const status = res.Item?.status;
  return typeof status === 'string' ? status : undefined;
}

export async function reap(end: ExecutionEnd, deps: ReaperDeps): Promise<ReapOutcome> {
  if (!(ABNORMAL_STATUSES as readonly string[]).includes(end.status)) return { action: 'nothing', why: `execution ended ${end.status}` };
  // The deploy's own ends (rolled back, needs attention, aborted) are not deaths: nothing to resume.
  if (end.error && DEPLOY_END_ERRORS.includes(end.error)) return { action: 'nothing', why: `the deploy ended ${end.error}` };
  const state = await deps.lastState(end.executionArn);
  if (!state) return { action: 'nothing', why: 'the execution never started a deploy (refused, or stopped before its first step)' };
  const lock = await readLock(deps.clients, deps.env.tableName);
  const holdsLock = lock?.deployId === state.deployId;
  const recorded = await historyStatus(deps, state);
  const open = recorded === 'running';
  if (!holdsLock && !open) return { action: 'nothing', why: `deploy ${state.deployId} is finished (history ${recorded ?? 'absent'}, lock not held)` };
  // Step Functions gives an error (and cause) for FAILED and TIMED_OUT; a StopExecution may give none.
  const cause = end.error ? `${end.error}${end.cause ? `: ${end.cause}` : ''}`.slice(0, 500) : undefined;
  const endedHow = `execution ended ${end.status}${cause ? ` (${cause})` : ''}`;
  if (lock && !holdsLock) {
    // Someone broke the dead deploy's lock and another deploy runs: compensating now would fight it.
    await writeHistory(deps.clients, deps.env.tableName, {
      ...historyItem(state, deps.now(), 'failed'),
      error: `${endedHow}; not compensated: deploy ${lock.deployId} holds the environment now`,
    });
    return { action: 'nothing', why: `deploy ${lock.deployId} holds the lock now` };
  }
  const resumes = state.resumes ?? 0;
  if (resumes >= MAX_RESUMES) {
    const reason =
      `${endedHow}; the reaper resumed deploy ${state.deployId} ${resumes} times and gives up. ` +
      `Check the environment (\`herd status ${deps.env.env}\`), then run \`herd repair ${deps.env.env}\` to compensate again, ` +
      `or, if you put it right by hand, \`herd unlock ${deps.env.env} --deploy ${state.deployId}\``;
    const ended: DeployState = { ...state, outcome: 'needs-attention', failure: { phase: 'compensate', step: state.step, cause: reason, at: deps.now() } };
    const unsent = await notifyDeploy(deps.clients, deps.env, ended, 'needs-attention', deps.now());
    await writeHistory(deps.clients, deps.env.tableName, { ...historyItem({ ...state, warnings: unsent ? [...state.warnings, unsent] : state.warnings }, deps.now(), 'needs-attention'), error: reason });
    await updateLock(deps.clients, deps.env.tableName, state.deployId, { needsAttention: reason });
    return { action: 'gave-up', why: `resumed ${resumes} times already` };
  }
  const name = resumeExecutionName(state.deployId, resumes + 1);
  const abortedBy = lock?.abortedBy;
  await deps.startExecution(name, { ...state, abandoned: { executionArn: end.executionArn, status: end.status, ...(cause ? { cause } : {}), ...(abortedBy ? { abortedBy } : {}) } });
  // The CLI follows the deploy through the lock: name the execution that carries it now.
  await updateLock(deps.clients, deps.env.tableName, state.deployId, { execution: name });
  return { action: 'resumed', execution: name };
}
