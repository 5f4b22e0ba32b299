/**
 * What a successful rotation of a credential the fleets hold does: a rolling restart of web
 * and worker (the deploy step's `restart` mode, actor `rotation`), so every server loads the
 * new credentials. Alternating users keep the previous credentials valid until the next
 * rotation, so a restart that cannot start now (a deploy holds the lock, nothing serves yet)
 * is harmless, but it is said on the environment's topic, with what to do.
 */
import { GetParameterCommand, type SSMClient } from '@aws-sdk/client-ssm';
import { StartExecutionCommand, type SFNClient } from '@aws-sdk/client-sfn';
import { PublishCommand, type SNSClient } from '@aws-sdk/client-sns';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { NO_RELEASE } from '../../lib/names';
import { newDeployId } from '../deploy/advance';
import { lockedMessage, readLock } from '../deploy/lock';
import type { DeployInput } from '../deploy/state';

export interface RotationRestartSettings {
  readonly env: string;
  readonly stateMachineArn: string;
  readonly tableName: string;
  readonly topicArn: string;
  readonly currentReleaseParameter: string;
  /** The secrets whose rotation restarts the fleets (the rule matches these only; checked again here). */
  readonly secretArns: readonly string[];
}

export interface RotationRestartClients {
  readonly ssm: Pick<SSMClient, 'send'>;
  readonly sfn: Pick<SFNClient, 'send'>;
  readonly sns: Pick<SNSClient, 'send'>;
  readonly dynamodb: Pick<DynamoDBDocumentClient, 'send'>;
}

/** The actor a rotation's restart is recorded under (lock, history, notifications). */
export const ROTATION_ACTOR = 'rotation';

export type RotationRestartOutcome =
  | { readonly started: string; readonly release: string }
  | { readonly skipped: string };

/** The rotated secret's ARN of a `RotationSucceeded` event (CloudTrail: `detail.additionalEventData.SecretId`). */
export function rotatedSecret(event: unknown): string | undefined {
  const detail = (event as { detail?: { eventName?: unknown; additionalEventData?: { SecretId?: unknown } } } | null)?.detail;
  if (detail?.eventName !== 'RotationSucceeded') return undefined;
  const id = detail.additionalEventData?.SecretId;
  return typeof id === 'string' ? id : undefined;
}

async function currentRelease(clients: RotationRestartClients, name: string): Promise<string | undefined> {
  try {
    return (await clients.ssm.send(new GetParameterCommand({ Name: name }))).Parameter?.Value;
  } catch (err) {
    if (err instanceof Error && err.name === 'ParameterNotFound') return undefined;
    throw err;
  }
}

export async function restartAfterRotation(event: unknown, settings: RotationRestartSettings, clients: RotationRestartClients, now: number): Promise<RotationRestartOutcome> {
  const secret = rotatedSecret(event);
  if (secret === undefined || !settings.secretArns.includes(secret)) {
    throw new Error(`rotation restart: not a RotationSucceeded event of ${settings.secretArns.join(' or ')}: ${JSON.stringify(event)}`);
  }
  const tell = async (subject: string, message: string) => {
    await clients.sns.send(new PublishCommand({ TopicArn: settings.topicArn, Subject: subject.slice(0, 99), Message: message }));
  };
  const release = await currentRelease(clients, settings.currentReleaseParameter);
  if (release === undefined || release === NO_RELEASE) {
    const why = `secret ${secret} was rotated; nothing serves on ${settings.env} yet, so there is nothing to restart (the first deploy's servers read the new credentials)`;
    return { skipped: why };
  }
  const holder = await readLock(clients, settings.tableName);
  if (holder) {
    const why = `secret ${secret} was rotated, but the restart that loads it was not started: ${lockedMessage(settings.env, holder)}. ` +
      `The servers keep working with the previous credentials until the next rotation; once that deploy ends, run \`herd restart ${settings.env}\` (a deploy that replaced every server loaded them already).`;
    await tell(`herd ${settings.env}: credentials rotated, restart NOT started`, why);
    return { skipped: why };
  }
  const deployId = newDeployId(now);
  const input: DeployInput = { release, actor: ROTATION_ACTOR, deployId, mode: 'restart' };
  await clients.sfn.send(new StartExecutionCommand({ stateMachineArn: settings.stateMachineArn, name: deployId, input: JSON.stringify(input) }));
  // The deploy step announces its start and outcome on the topic itself.
  return { started: deployId, release };
}
