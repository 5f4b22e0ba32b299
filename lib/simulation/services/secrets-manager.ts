/**
 * Secrets Manager in the fake cloud: the calls `herd config --secret` makes, as strict as the
 * API reference (CreateSecret, PutSecretValue, DescribeSecret, DeleteSecret, RestoreSecret,
 * GetSecretValue):
 * - a name is 1–512 characters of letters, digits and `/_+=.@-`; its ARN ends with `-` and six
 *   random characters;
 * - `SecretString` is at most 65,536 bytes, and exactly one of it or `SecretBinary` (herd sends strings);
 * - CreateSecret of an existing name: `ResourceExistsException`; of a name scheduled for
 *   deletion: `InvalidRequestException` (restore it first);
 * - a secret scheduled for deletion (DeleteSecret, recovery window 7–30 days, default 30)
 *   cannot be read or written (`InvalidRequestException`) until RestoreSecret;
 * - an unknown secret: `ResourceNotFoundException`.
 * A `SecretId` is the name or the full ARN.
 *
 * Versions and staging labels, for rotation functions (API reference of PutSecretValue,
 * GetSecretValue, UpdateSecretVersionStage, DescribeSecret, GetRandomPassword):
 * - a version's id is PutSecretValue's `ClientRequestToken` (the SDK fills one in); the same
 *   token again with the same value is ignored, with another value refused
 *   (`ResourceExistsException`: a version cannot change);
 * - PutSecretValue attaches its `VersionStages` (default `AWSCURRENT`), moving each label off
 *   the version that had it; moving `AWSCURRENT` moves `AWSPREVIOUS` to the version it left;
 * - GetSecretValue reads `AWSCURRENT` unless given a `VersionId` and/or `VersionStage`, which
 *   must name the same version (`InvalidRequestException` otherwise, as moto answers); a version
 *   without a value (a rotation's, before createSecret) is `ResourceNotFoundException`;
 * - UpdateSecretVersionStage moves a label that another version holds only when told which
 *   (`RemoveFromVersionId`, else `InvalidParameterException`);
 * - DescribeSecret lists the labelled versions (`VersionIdsToStages`).
 */
import * as sm from '@aws-sdk/client-secrets-manager';
import { randomBytes, randomInt, randomUUID } from 'node:crypto';
import type { FakeCloud } from '../fake-cloud';
import { SIMULATED_ACCOUNT, SIMULATED_REGION } from '../world';
import { fail } from './common';

/** One secret as the fake holds it. */
export interface FakeSecret {
  readonly name: string;
  readonly arn: string;
  value: string;
  /** Versions written (CreateSecret with a value, then each PutSecretValue). */
  versions: number;
  description?: string;
  /** Set by DeleteSecret: when it will be deleted for good (epoch ms). */
  deletionDate?: number;
  /** Every version, oldest first (unset: one `AWSCURRENT` version holding `value`, made on first use). */
  history?: FakeSecretVersion[];
}

/** One version of a secret and its staging labels. */
export interface FakeSecretVersion {
  readonly id: string;
  /** Unset: a version a rotation started without a value yet (`beginRotation`). */
  value?: string;
  createdAt: number;
  stages: string[];
}

const CURRENT = 'AWSCURRENT';
const PREVIOUS = 'AWSPREVIOUS';

/** The secret's versions (made from `value` for a secret added without them). */
export function versionsOf(secret: FakeSecret): FakeSecretVersion[] {
  secret.history ??= secret.versions > 0 ? [{ id: randomUUID(), value: secret.value, createdAt: 0, stages: [CURRENT] }] : [];
  return secret.history;
}

/**
 * Attaches `stage` to `version`, off whichever version had it; `AWSCURRENT` leaves
 * `AWSPREVIOUS` on the version it left, and `value` follows it.
 */
function attach(secret: FakeSecret, version: FakeSecretVersion, stage: string): void {
  const versions = versionsOf(secret);
  const holder = versions.find((v) => v.stages.includes(stage));
  if (holder === version) return;
  if (holder) holder.stages = holder.stages.filter((s) => s !== stage);
  version.stages.push(stage);
  if (stage === CURRENT) {
    if (holder) {
      for (const v of versions) v.stages = v.stages.filter((s) => s !== PREVIOUS);
      holder.stages.push(PREVIOUS);
    }
    secret.value = version.value ?? '';
  }
}

const PUNCTUATION = '!"#$%&\'()*+,-./:;<=>?@[\\]^_`{|}~';

const NAME = /^[A-Za-z0-9/_+=.@-]{1,512}$/;
export const MAX_SECRET_STRING_BYTES = 65536;
const ALNUM = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

function suffix(): string {
  return [...randomBytes(6)].map((b) => ALNUM[b % ALNUM.length]).join('');
}

/** The secret a `SecretId` (name or full ARN) names, or `ResourceNotFoundException`. */
export function findSecret(cloud: FakeCloud, id: string | undefined): FakeSecret {
  const secret = cloud.secrets.get(id ?? '') ?? [...cloud.secrets.values()].find((s) => s.arn === id);
  if (!secret) fail('ResourceNotFoundException', "Secrets Manager can't find the specified secret.");
  return secret;
}

function checkValue(input: { SecretString?: string; SecretBinary?: Uint8Array }): string {
  if (input.SecretBinary !== undefined) fail('InvalidParameterException', 'herd\'s fake holds SecretString values only');
  const value = input.SecretString ?? '';
  if (Buffer.byteLength(value, 'utf8') > MAX_SECRET_STRING_BYTES) fail('ValidationException', `1 validation error detected: Value at 'secretString' failed to satisfy constraint: Member must have length less than or equal to ${MAX_SECRET_STRING_BYTES}`);
  return value;
}

function usable(secret: FakeSecret, verb: string): void {
  if (secret.deletionDate !== undefined) fail('InvalidRequestException', `You can't perform this operation on the secret because it was marked for deletion.${verb ? ` (${verb})` : ''}`);
}

/** Registers the Secrets Manager API handlers on `cloud`. */
export function registerSecretsManager(cloud: FakeCloud): void {
  cloud.on('secretsManager', sm.CreateSecretCommand, (input) => {
    const name = input.Name ?? '';
    if (!NAME.test(name)) fail('ValidationException', `Invalid name. Must be a valid name containing alphanumeric characters, or any of the following: -/_+=.@! (received ${JSON.stringify(name)})`);
    const existing = cloud.secrets.get(name);
    if (existing?.deletionDate !== undefined) fail('InvalidRequestException', `You can't create this secret because a secret with this name is already scheduled for deletion.`);
    if (existing) fail('ResourceExistsException', `The operation failed because the secret ${name} already exists.`);
    const value = checkValue(input);
    const arn = `arn:aws:secretsmanager:${SIMULATED_REGION}:${SIMULATED_ACCOUNT}:secret:${name}-${suffix()}`;
    const versionId = input.ClientRequestToken ?? randomUUID();
    const history = input.SecretString === undefined ? [] : [{ id: versionId, value, createdAt: cloud.now(), stages: [CURRENT] }];
    cloud.secrets.set(name, { name, arn, value, versions: history.length, history, ...(input.Description ? { description: input.Description } : {}) });
    return { ARN: arn, Name: name, ...(history.length > 0 ? { VersionId: versionId } : {}) };
  });

  cloud.on('secretsManager', sm.PutSecretValueCommand, (input) => {
    const secret = findSecret(cloud, input.SecretId);
    usable(secret, 'PutSecretValue');
    const value = checkValue(input);
    const versions = versionsOf(secret);
    const id = input.ClientRequestToken ?? randomUUID();
    const stages = input.VersionStages ?? [CURRENT];
    const existing = versions.find((v) => v.id === id);
    // The version a rotation started (its AWSPENDING label, no value yet) takes its value now.
    if (existing?.value === undefined && existing) {
      existing.value = value;
      existing.createdAt = cloud.now();
      for (const stage of stages) attach(secret, existing, stage);
      secret.versions += 1;
      return { ARN: secret.arn, Name: secret.name, VersionId: id, VersionStages: [...existing.stages] };
    }
    if (existing) {
      if (existing.value !== value) fail('ResourceExistsException', `A resource with the ID you requested already exists (version ${id} of ${secret.name} holds another value).`);
      return { ARN: secret.arn, Name: secret.name, VersionId: id, VersionStages: existing.stages };
    }
    const version: FakeSecretVersion = { id, value, createdAt: cloud.now(), stages: [] };
    versions.push(version);
    for (const stage of stages) attach(secret, version, stage);
    secret.versions += 1;
    return { ARN: secret.arn, Name: secret.name, VersionId: id, VersionStages: [...version.stages] };
  });

  cloud.on('secretsManager', sm.GetSecretValueCommand, (input) => {
    const secret = findSecret(cloud, input.SecretId);
    usable(secret, 'GetSecretValue');
    const stage = input.VersionStage ?? (input.VersionId === undefined ? CURRENT : undefined);
    const named = input.VersionId === undefined ? undefined : versionsOf(secret).find((v) => v.id === input.VersionId);
    if (named && stage !== undefined && !named.stages.includes(stage)) fail('InvalidRequestException', 'You provided a VersionStage that is not associated to the provided VersionId.');
    const version = versionsOf(secret).find((v) => (input.VersionId === undefined || v.id === input.VersionId) && (stage === undefined || v.stages.includes(stage)));
    if (version?.value === undefined) fail('ResourceNotFoundException', `Secrets Manager can't find the specified secret value for ${input.VersionId !== undefined ? `VersionId: ${input.VersionId}` : ''}${input.VersionId !== undefined && stage ? ' and ' : ''}${stage ? `staging label: ${stage}` : ''}`);
    return { ARN: secret.arn, Name: secret.name, VersionId: version.id, SecretString: version.value, VersionStages: [...version.stages], CreatedDate: new Date(version.createdAt) };
  });

  cloud.on('secretsManager', sm.DescribeSecretCommand, (input) => {
    const secret = findSecret(cloud, input.SecretId);
    const staged = versionsOf(secret).filter((v) => v.stages.length > 0);
    return {
      ARN: secret.arn,
      Name: secret.name,
      ...(secret.description ? { Description: secret.description } : {}),
      ...(secret.deletionDate !== undefined ? { DeletedDate: new Date(secret.deletionDate) } : {}),
      VersionIdsToStages: Object.fromEntries(staged.map((v) => [v.id, [...v.stages]])),
    };
  });

  cloud.on('secretsManager', sm.UpdateSecretVersionStageCommand, (input) => {
    const secret = findSecret(cloud, input.SecretId);
    usable(secret, 'UpdateSecretVersionStage');
    const stage = input.VersionStage ?? '';
    if (stage.length < 1 || stage.length > 256) fail('ValidationException', `1 validation error detected: Value at 'versionStage' failed to satisfy constraint: Member must have length between 1 and 256 (received ${JSON.stringify(stage)})`);
    const versions = versionsOf(secret);
    const holder = versions.find((v) => v.stages.includes(stage));
    if (input.RemoveFromVersionId !== undefined && holder?.id !== input.RemoveFromVersionId) {
      fail('InvalidParameterException', `The staging label ${stage} is not attached to version ${input.RemoveFromVersionId}.`);
    }
    if (input.MoveToVersionId === undefined) {
      if (stage === CURRENT && input.RemoveFromVersionId !== undefined) fail('InvalidParameterException', 'You can\'t remove the staging label AWSCURRENT from a version without moving it to another one.');
      if (holder && input.RemoveFromVersionId !== undefined) holder.stages = holder.stages.filter((s) => s !== stage);
      return { ARN: secret.arn, Name: secret.name };
    }
    const target = versions.find((v) => v.id === input.MoveToVersionId);
    if (!target) fail('ResourceNotFoundException', `Secrets Manager can't find the specified secret version: ${input.MoveToVersionId}`);
    if (holder && holder !== target && input.RemoveFromVersionId === undefined) {
      fail('InvalidParameterException', `The staging label ${stage} is currently attached to version ${holder.id}, so you must explicitly reference that version in RemoveFromVersionId.`);
    }
    attach(secret, target, stage);
    return { ARN: secret.arn, Name: secret.name };
  });

  cloud.on('secretsManager', sm.GetRandomPasswordCommand, (input) => {
    const length = input.PasswordLength ?? 32;
    if (!Number.isInteger(length) || length < 1 || length > 4096) fail('InvalidParameterException', `PasswordLength must be between 1 and 4096 (received ${length}).`);
    const excluded = new Set(input.ExcludeCharacters ?? '');
    const pools = [
      input.ExcludeUppercase ? '' : 'ABCDEFGHIJKLMNOPQRSTUVWXYZ',
      input.ExcludeLowercase ? '' : 'abcdefghijklmnopqrstuvwxyz',
      input.ExcludeNumbers ? '' : '0123456789',
      input.ExcludePunctuation ? '' : PUNCTUATION,
      input.IncludeSpace ? ' ' : '',
    ].map((p) => [...p].filter((c) => !excluded.has(c)).join('')).filter((p) => p.length > 0);
    if (pools.length === 0) fail('InvalidParameterException', 'No characters are left to choose the password from.');
    const requireEach = input.RequireEachIncludedType ?? true;
    if (requireEach && length < pools.length) fail('InvalidParameterException', `PasswordLength ${length} is too short to include each character type.`);
    const all = pools.join('');
    const chars = Array.from({ length }, () => all[randomInt(all.length)]);
    // One of each included type, at distinct places.
    if (requireEach) pools.forEach((p, i) => { chars[i] = p[randomInt(p.length)]; });
    for (let i = chars.length - 1; i > 0; i--) {
      const j = randomInt(i + 1);
      [chars[i], chars[j]] = [chars[j], chars[i]];
    }
    return { RandomPassword: chars.join('') };
  });

  cloud.on('secretsManager', sm.DeleteSecretCommand, (input) => {
    const secret = findSecret(cloud, input.SecretId);
    if (input.ForceDeleteWithoutRecovery && input.RecoveryWindowInDays !== undefined) fail('InvalidParameterException', 'You can\'t use ForceDeleteWithoutRecovery in conjunction with RecoveryWindowInDays.');
    const days = input.RecoveryWindowInDays ?? 30;
    if (!input.ForceDeleteWithoutRecovery && (!Number.isInteger(days) || days < 7 || days > 30)) fail('InvalidParameterException', 'The RecoveryWindowInDays value must be between 7 and 30 days (inclusive).');
    usable(secret, 'DeleteSecret');
    if (input.ForceDeleteWithoutRecovery) {
      cloud.secrets.delete(secret.name);
      return { ARN: secret.arn, Name: secret.name, DeletionDate: new Date(cloud.now()) };
    }
    secret.deletionDate = cloud.now() + days * 86_400_000;
    return { ARN: secret.arn, Name: secret.name, DeletionDate: new Date(secret.deletionDate) };
  });

  cloud.on('secretsManager', sm.RestoreSecretCommand, (input) => {
    const secret = findSecret(cloud, input.SecretId);
    delete secret.deletionDate;
    return { ARN: secret.arn, Name: secret.name };
  });
}

/** Adds the secret `name` whose ARN is `arn` (as a stack or a test made it), holding `value`. */
export function addSecret(cloud: FakeCloud, name: string, arn: string, value = ''): FakeSecret {
  const secret: FakeSecret = { name, arn, value, versions: 1 };
  cloud.secrets.set(name, secret);
  return secret;
}

/**
 * What Secrets Manager does when a rotation starts, before it invokes the rotation function's
 * createSecret: a version `token` with the label `AWSPENDING` and no value yet (the API
 * reference of RotateSecret: a failed rotation may leave "the AWSPENDING staging label attached
 * to an empty secret version"). Refused, as RotateSecret is, while another version is pending.
 */
export function beginRotation(cloud: FakeCloud, id: string, token: string): void {
  const secret = findSecret(cloud, id);
  const versions = versionsOf(secret);
  const pending = versions.find((v) => v.stages.includes('AWSPENDING'));
  if (pending && pending.id !== token && !pending.stages.includes(CURRENT)) fail('InvalidRequestException', 'A previous rotation isn\'t complete. That rotation will be reattempted.');
  if (pending?.id === token) return;
  if (pending) pending.stages = pending.stages.filter((s) => s !== 'AWSPENDING');
  versions.push({ id: token, createdAt: cloud.now(), stages: ['AWSPENDING'] });
}
