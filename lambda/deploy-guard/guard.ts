/**
 * The deploy guard: a custom resource of the environment stack that every launch template
 * and Auto Scaling group depends on, so CloudFormation runs it before it changes a fleet.
 *
 * Its `Fingerprint` property changes whenever a stack update would change a fleet: the
 * template's launch-template and group settings, the release image CloudFormation resolves
 * (`current-image`) and the release that decides the capacity floor (`current-release`).
 * When it changes while a herd deploy holds the environment's lock, the guard fails, with a
 * message naming the deploy, so CloudFormation rolls the whole update back before any
 * fleet changes: a stack update can never fight a running deploy over a launch template or
 * a group's size. A bake-only run (`herd bake`) changes no fleet and does not block.
 *
 * CloudFormation rolls a failed update back by sending the resource the previous properties
 * again. The guard remembers the fingerprint it last accepted (in the deploy table) and lets
 * that one through without looking at the lock, so a rollback never fails on the guard.
 *
 * When the stack is deleted, `current-release` goes back to "none": a re-created
 * environment starts with empty fleets and a new database, as a fresh one does.
 */
import { GetCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import { PutParameterCommand, SSMClient } from '@aws-sdk/client-ssm';
import type { DeployClients } from '../deploy/clients';
import { readLock, type LockItem } from '../deploy/lock';
import { stringProperties, type RequestType } from '../custom-resource';
import { readParameter } from '../release-state/release-state';

export interface GuardProperties {
  readonly tableName: string;
  readonly environment: string;
  /** Changes whenever a stack update would change a fleet (JSON or a hash; opaque here). */
  readonly fingerprint: string;
  readonly currentReleaseParameter: string;
  readonly noRelease: string;
}

export interface GuardClients {
  readonly dynamodb: DeployClients['dynamodb'];
  readonly ssm: Pick<SSMClient, 'send'>;
}

export type { RequestType } from '../custom-resource';

export interface GuardResult {
  readonly PhysicalResourceId: string;
  readonly Data: { readonly Fingerprint: string };
}

/** Where the guard keeps the fingerprint it last accepted. */
export const GUARD_KEY = { pk: 'GUARD', sk: 'FLEETS' } as const;

/** Why a stack update was refused. */
export function stackUpdateRefusedMessage(env: string, lock: LockItem): string {
  return (
    `herd refused this stack update: deploy ${lock.deployId} (${lock.actor}, release ${lock.release}) has held environment ${env} since ${lock.since}, ` +
    `and the update would change its fleets (launch templates, capacity or the release image). CloudFormation rolls back and changes nothing. ` +
    `Wait for the deploy to end (herd watch ${env}), then run cdk deploy again.`
  );
}

async function acceptedFingerprint(clients: GuardClients, tableName: string): Promise<string | undefined> {
  const res = await clients.dynamodb.send(new GetCommand({ TableName: tableName, Key: GUARD_KEY, ConsistentRead: true }));
  const value = res.Item?.fingerprint;
  return typeof value === 'string' ? value : undefined;
}

async function accept(clients: GuardClients, tableName: string, fingerprint: string, now: Date): Promise<void> {
  await clients.dynamodb.send(new PutCommand({ TableName: tableName, Item: { ...GUARD_KEY, fingerprint, acceptedAt: now.toISOString() } }));
}

export async function applyGuard(requestType: RequestType, props: GuardProperties, clients: GuardClients, now: () => Date = () => new Date()): Promise<GuardResult> {
  const result: GuardResult = { PhysicalResourceId: `${props.tableName}#deploy-guard`, Data: { Fingerprint: props.fingerprint } };
  if (requestType === 'Delete') {
    const release = await readParameter(clients.ssm, props.currentReleaseParameter);
    if (release !== undefined && release !== props.noRelease) {
      await clients.ssm.send(new PutParameterCommand({ Name: props.currentReleaseParameter, Value: props.noRelease, Type: 'String', Overwrite: true }));
    }
    return result;
  }
  if (requestType === 'Update' && (await acceptedFingerprint(clients, props.tableName)) !== props.fingerprint) {
    const lock = await readLock(clients, props.tableName);
    if (lock && lock.mode !== 'bake') throw new Error(stackUpdateRefusedMessage(props.environment, lock));
  }
  await accept(clients, props.tableName, props.fingerprint, now());
  return result;
}

export function parseGuardProperties(raw: unknown): GuardProperties {
  const p = stringProperties(raw, ['TableName', 'Environment', 'Fingerprint', 'CurrentReleaseParameter', 'NoRelease']);
  return {
    tableName: p.TableName,
    environment: p.Environment,
    fingerprint: p.Fingerprint,
    currentReleaseParameter: p.CurrentReleaseParameter,
    noRelease: p.NoRelease,
  };
}
