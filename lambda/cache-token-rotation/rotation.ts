/**
 * The rotation of the cache's AUTH token: Secrets Manager's four steps
 * (https://docs.aws.amazon.com/secretsmanager/latest/userguide/rotate-secrets_lambda-functions.html),
 * each safe to run again, since "if any rotation step fails, Secrets Manager retries the entire
 * rotation process" with the same version (`ClientRequestToken`).
 *
 * - createSecret: a new token (GetRandomPassword, 64 letters and digits) as `AWSPENDING`;
 * - setSecret: ModifyReplicationGroup with the new token and `ROTATE`, applied immediately.
 *   ElastiCache then accepts the previous token and the new one; on a group that already accepts
 *   two, it drops the oldest (ElastiCache user guide, "Modifying the AUTH token on an existing
 *   cluster": "allowing a server to support up to two most recent AUTH tokens at a given time",
 *   https://docs.aws.amazon.com/AmazonElastiCache/latest/dg/auth.html#auth-modifyng-token). So
 *   no SET is needed before it: the token dropped is the one before the current, which the
 *   servers stopped using at the restart that followed the previous rotation, as the database's
 *   alternating users keep the previous login until the next rotation;
 * - testSecret: the group is `available` again with no token change pending, and its token
 *   changed after the new version was written. It does not connect with the token: the group
 *   is in the isolated subnets, and a function there would need the VPC, a security group into
 *   the cache and an endpoint or NAT to reach these APIs, for what the rolling restart that
 *   follows checks anyway (a server that cannot authenticate fails its health check, and the
 *   restart stops with the previous servers serving);
 * - finishSecret: `AWSCURRENT` moves to the new version (`AWSPREVIOUS` follows to the old one).
 *
 * A group busy with another change (`modifying`, `snapshotting`…) is waited for within the
 * invocation's time, then the step fails and Secrets Manager retries. The token is never logged.
 */
import { DescribeReplicationGroupsCommand, ModifyReplicationGroupCommand, type ElastiCacheClient, type ReplicationGroup } from '@aws-sdk/client-elasticache';
import { DescribeSecretCommand, GetRandomPasswordCommand, GetSecretValueCommand, PutSecretValueCommand, UpdateSecretVersionStageCommand, type SecretsManagerClient } from '@aws-sdk/client-secrets-manager';

export interface CacheTokenRotationSettings {
  /** The token's secret: the only one this function rotates. */
  readonly secretArn: string;
  readonly replicationGroupId: string;
}

export interface CacheTokenRotationClients {
  readonly secretsManager: Pick<SecretsManagerClient, 'send'>;
  readonly elastiCache: Pick<ElastiCacheClient, 'send'>;
}

/** How a step waits for the group: `now` and `sleep` on one clock, until `deadline` (epoch ms). */
export interface Waiting {
  now(): number;
  sleep(ms: number): Promise<void>;
  readonly deadline: number;
}

export const ROTATION_STEPS = ['createSecret', 'setSecret', 'testSecret', 'finishSecret'] as const;
export type RotationStep = (typeof ROTATION_STEPS)[number];

/** What Secrets Manager invokes a rotation function with. */
export interface RotationEvent {
  readonly Step: RotationStep;
  readonly SecretId: string;
  readonly ClientRequestToken: string;
}

/** What a step did, for the log (never the token). */
export type StepOutcome = { readonly step: RotationStep; readonly did: string };

const CURRENT = 'AWSCURRENT';
const PENDING = 'AWSPENDING';
/** Seconds between two looks at a busy group. */
export const POLL_SECONDS = 15;
/** How much later than the group's last token change the pending version is written. */
const SEPARATION_MS = 2000;

/**
 * The token's character rules: ElastiCache takes 16–128 printable ASCII characters without
 * `/`, `"`, `@` or `%` (ModifyReplicationGroup, AuthToken) and recommends only `!&#$^<>-` besides
 * letters and digits (user guide, AUTH); letters and digits only, as the secret's first value
 * (lib/cache.ts), satisfy both.
 */
export const TOKEN_LENGTH = 64;

export function checkToken(token: string): void {
  if (!/^[A-Za-z0-9!&#$^<>-]{16,128}$/.test(token)) {
    throw new Error(`cache token rotation: the pending token (${token.length} characters) is not a valid ElastiCache AUTH token (16 to 128 letters, digits or !&#$^<>-); delete its AWSPENDING version and rotate again`);
  }
}

/** The event, checked: a step of this function's secret. */
export function rotationEvent(event: unknown, settings: CacheTokenRotationSettings): RotationEvent {
  const e = (event ?? {}) as Partial<Record<keyof RotationEvent, unknown>>;
  if (!ROTATION_STEPS.includes(e.Step as RotationStep)) throw new Error(`cache token rotation: unknown step ${JSON.stringify(e.Step)}; Secrets Manager sends one of ${ROTATION_STEPS.join(', ')}`);
  if (e.SecretId !== settings.secretArn) throw new Error(`cache token rotation: this function rotates ${settings.secretArn} only, not ${JSON.stringify(e.SecretId)}`);
  if (typeof e.ClientRequestToken !== 'string' || e.ClientRequestToken === '') throw new Error(`cache token rotation: no ClientRequestToken in the ${String(e.Step)} event`);
  return { Step: e.Step as RotationStep, SecretId: e.SecretId, ClientRequestToken: e.ClientRequestToken };
}

async function describeGroup(clients: CacheTokenRotationClients, id: string): Promise<ReplicationGroup> {
  const group = (await clients.elastiCache.send(new DescribeReplicationGroupsCommand({ ReplicationGroupId: id }))).ReplicationGroups?.[0];
  if (!group) throw new Error(`cache token rotation: ElastiCache describes no replication group ${id}`);
  return group;
}

/** The group once it is `available` with no token change pending, or an error Secrets Manager retries after. */
async function settledGroup(clients: CacheTokenRotationClients, id: string, wait: Waiting): Promise<ReplicationGroup> {
  for (;;) {
    const group = await describeGroup(clients, id);
    const pending = group.PendingModifiedValues?.AuthTokenStatus;
    if (group.Status === 'available' && pending === undefined) return group;
    if (wait.now() + POLL_SECONDS * 1000 > wait.deadline) {
      throw new Error(`cache token rotation: replication group ${id} is ${group.Status}${pending ? ` with a token change pending (${pending})` : ''}; Secrets Manager retries the rotation later`);
    }
    await wait.sleep(POLL_SECONDS * 1000);
  }
}

/** The pending version (this rotation's), with when it was written. */
async function pendingVersion(clients: CacheTokenRotationClients, event: RotationEvent): Promise<{ token: string; createdAt: number }> {
  const v = await clients.secretsManager.send(new GetSecretValueCommand({ SecretId: event.SecretId, VersionId: event.ClientRequestToken, VersionStage: PENDING }));
  if (v.SecretString === undefined || v.CreatedDate === undefined) throw new Error(`cache token rotation: version ${event.ClientRequestToken} has no value or creation date`);
  return { token: v.SecretString, createdAt: v.CreatedDate.getTime() };
}

/**
 * Whether the group's token changed after the pending version was written at `at`, so the
 * pending token is among those it accepts: createSecret writes it only once no token change is
 * under way, so the next change is this rotation's ROTATE (unless someone changes the token by
 * hand meanwhile, which the README forbids). Compared to the second, in case ElastiCache's date
 * drops the milliseconds Secrets Manager's keeps.
 */
function changedSince(group: ReplicationGroup, at: number): boolean {
  const modified = group.AuthTokenLastModifiedDate?.getTime();
  return modified !== undefined && modified >= Math.floor(at / 1000) * 1000;
}

async function createSecret(event: RotationEvent, settings: CacheTokenRotationSettings, clients: CacheTokenRotationClients, wait: Waiting): Promise<string> {
  const sm = clients.secretsManager;
  await sm.send(new GetSecretValueCommand({ SecretId: event.SecretId, VersionStage: CURRENT }));
  try {
    await sm.send(new GetSecretValueCommand({ SecretId: event.SecretId, VersionId: event.ClientRequestToken, VersionStage: PENDING }));
    return 'pending token already written';
  } catch (err) {
    if (!(err instanceof Error && err.name === 'ResourceNotFoundException')) throw err;
  }
  // A token change under way, or one that ended within the same second, would pass for this
  // rotation's (changedSince): the version is written once the group's last change is seconds old.
  const group = await settledGroup(clients, settings.replicationGroupId, wait);
  const modified = group.AuthTokenLastModifiedDate?.getTime();
  if (modified !== undefined && wait.now() < modified + SEPARATION_MS) await wait.sleep(modified + SEPARATION_MS - wait.now());
  const password = await sm.send(new GetRandomPasswordCommand({ PasswordLength: TOKEN_LENGTH, ExcludePunctuation: true, IncludeSpace: false, RequireEachIncludedType: true }));
  const token = password.RandomPassword ?? '';
  checkToken(token);
  await sm.send(new PutSecretValueCommand({ SecretId: event.SecretId, ClientRequestToken: event.ClientRequestToken, SecretString: token, VersionStages: [PENDING] }));
  return 'pending token written';
}

async function setSecret(event: RotationEvent, settings: CacheTokenRotationSettings, clients: CacheTokenRotationClients, wait: Waiting): Promise<string> {
  const pending = await pendingVersion(clients, event);
  checkToken(pending.token);
  // A pending version that repeats the current value (a copy, not createSecret's) would rotate nothing.
  const current = await clients.secretsManager.send(new GetSecretValueCommand({ SecretId: event.SecretId, VersionStage: CURRENT }));
  if (current.SecretString === pending.token) throw new Error(`cache token rotation: version ${event.ClientRequestToken} holds the current token, not a new one; delete its AWSPENDING label and rotate again`);
  const group = await settledGroup(clients, settings.replicationGroupId, wait);
  if (!group.AuthTokenEnabled) throw new Error(`cache token rotation: replication group ${settings.replicationGroupId} has no AUTH token; a ROTATE would let clients in without one`);
  if (changedSince(group, pending.createdAt)) return 'group already accepts the pending token';
  try {
    await clients.elastiCache.send(new ModifyReplicationGroupCommand({
      ReplicationGroupId: settings.replicationGroupId,
      AuthToken: pending.token,
      AuthTokenUpdateStrategy: 'ROTATE',
      ApplyImmediately: true,
    }));
  } catch (err) {
    // Another change started between the look and the call.
    if (err instanceof Error && err.name === 'InvalidReplicationGroupStateFault') throw new Error(`cache token rotation: replication group ${settings.replicationGroupId} became busy (${err.message}); Secrets Manager retries the rotation later`);
    throw err;
  }
  return 'ROTATE requested: the group accepts the current and the pending token once available';
}

async function testSecret(event: RotationEvent, settings: CacheTokenRotationSettings, clients: CacheTokenRotationClients, wait: Waiting): Promise<string> {
  const pending = await pendingVersion(clients, event);
  const group = await settledGroup(clients, settings.replicationGroupId, wait);
  if (!group.AuthTokenEnabled || !changedSince(group, pending.createdAt)) {
    throw new Error(`cache token rotation: replication group ${settings.replicationGroupId} is available but its token did not change after version ${event.ClientRequestToken} was written (last changed ${group.AuthTokenLastModifiedDate?.toISOString() ?? 'never'}); setSecret runs again at the retry`);
  }
  return 'group available with the pending token';
}

async function finishSecret(event: RotationEvent, clients: CacheTokenRotationClients, versions: Record<string, string[]>): Promise<string> {
  const current = Object.entries(versions).find(([, stages]) => stages.includes(CURRENT))?.[0];
  if (current === event.ClientRequestToken) return 'already current';
  await clients.secretsManager.send(new UpdateSecretVersionStageCommand({
    SecretId: event.SecretId,
    VersionStage: CURRENT,
    MoveToVersionId: event.ClientRequestToken,
    ...(current ? { RemoveFromVersionId: current } : {}),
  }));
  return 'pending token made current';
}

/** Runs one rotation step (`event` from Secrets Manager). */
export async function rotateCacheToken(rawEvent: unknown, settings: CacheTokenRotationSettings, clients: CacheTokenRotationClients, wait: Waiting): Promise<StepOutcome> {
  const event = rotationEvent(rawEvent, settings);
  const described = await clients.secretsManager.send(new DescribeSecretCommand({ SecretId: event.SecretId }));
  const versions = described.VersionIdsToStages ?? {};
  const stages = versions[event.ClientRequestToken];
  if (!stages) throw new Error(`cache token rotation: version ${event.ClientRequestToken} of ${event.SecretId} has no staging label; it is not this rotation's`);
  // A retry after finishSecret, or a version made current by hand: nothing left to do.
  if (stages.includes(CURRENT)) return { step: event.Step, did: 'version is already current' };
  if (!stages.includes(PENDING)) throw new Error(`cache token rotation: version ${event.ClientRequestToken} of ${event.SecretId} is not AWSPENDING`);
  const step = event.Step;
  const did = step === 'createSecret' ? await createSecret(event, settings, clients, wait)
    : step === 'setSecret' ? await setSecret(event, settings, clients, wait)
    : step === 'testSecret' ? await testSecret(event, settings, clients, wait)
    : await finishSecret(event, clients, versions);
  return { step, did };
}
