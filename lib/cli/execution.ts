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
  };
}
