/**
 * The reaper Lambda: EventBridge sends it the deploy state machine's "Step Functions
 * Execution Status Change" events for FAILED, TIMED_OUT and ABORTED executions
 * (`reaper.ts` says what it does with them).
 */
import { GetExecutionHistoryCommand, SFNClient, StartExecutionCommand, type HistoryEvent } from '@aws-sdk/client-sfn';
import { createDeployClients, systemClock } from './clients';
import { parseDeployEnvironment, type DeployEnvironment } from './environment';
import { reap, type ExecutionEnd, type ReapOutcome } from './reaper';
import { isDeployState, type DeployState } from './state';

const settings = { retryMode: 'adaptive', maxAttempts: 6 } as const;
const clients = createDeployClients(settings);
const sfn = new SFNClient(settings);
let environment: DeployEnvironment | undefined;

interface StatusChangeEvent {
  readonly detail: { readonly executionArn: string; readonly stateMachineArn: string; readonly status: string; readonly error?: string | null; readonly cause?: string | null };
}

function isStatusChange(e: unknown): e is StatusChangeEvent {
  const d = (e as { detail?: Record<string, unknown> } | null)?.detail;
  return typeof d === 'object' && d !== null && typeof d.executionArn === 'string' && typeof d.status === 'string' && typeof d.stateMachineArn === 'string';
}

/**
 * The newest state in an execution's history (events newest first): the input of a state
 * entered or the output of a state exited, whichever is newer. A task that died while
 * running left its input: its step is idempotent, and compensation checks the world, not
 * only what the state says was done.
 */
export function lastAdvancedState(events: readonly HistoryEvent[]): DeployState | undefined {
  for (const e of events) {
    const data = e.stateEnteredEventDetails?.input ?? e.stateExitedEventDetails?.output;
    if (!data) continue;
    try {
      const parsed: unknown = JSON.parse(data);
      if (isDeployState(parsed)) return parsed;
    } catch {
      // not JSON: keep looking
    }
  }
  return undefined;
}

export async function handler(event: unknown): Promise<ReapOutcome> {
  if (!isStatusChange(event)) throw new Error(`not a Step Functions execution status change: ${JSON.stringify(event).slice(0, 500)}`);
  environment ??= parseDeployEnvironment(process.env.DEPLOY_ENVIRONMENT);
  const stateMachineArn = process.env.STATE_MACHINE_ARN;
  if (event.detail.stateMachineArn !== stateMachineArn) throw new Error(`execution of ${event.detail.stateMachineArn}, not of this environment's state machine ${stateMachineArn}`);
  const end: ExecutionEnd = {
    executionArn: event.detail.executionArn,
    status: event.detail.status,
    ...(event.detail.error ? { error: event.detail.error } : {}),
    ...(event.detail.cause ? { cause: event.detail.cause } : {}),
  };
  const outcome = await reap(end, {
    clients,
    env: environment,
    now: () => systemClock.now(),
    lastState: async (executionArn) => {
      // Newest first: the last task entered is on the first page.
      const res = await sfn.send(new GetExecutionHistoryCommand({ executionArn, reverseOrder: true, maxResults: 100, includeExecutionData: true }));
      return lastAdvancedState(res.events ?? []);
    },
    startExecution: async (name, input) => {
      await sfn.send(new StartExecutionCommand({ stateMachineArn, name, input: JSON.stringify(input) }));
    },
  });
  console.log(JSON.stringify({ execution: end.executionArn, status: end.status, ...outcome }));
  return outcome;
}
