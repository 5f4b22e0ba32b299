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
 */
import * as sm from '@aws-sdk/client-secrets-manager';
import { randomBytes } from 'node:crypto';
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
}

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
    cloud.secrets.set(name, { name, arn, value, versions: input.SecretString === undefined ? 0 : 1, ...(input.Description ? { description: input.Description } : {}) });
    return { ARN: arn, Name: name, VersionId: randomBytes(16).toString('hex') };
  });

  cloud.on('secretsManager', sm.PutSecretValueCommand, (input) => {
    const secret = findSecret(cloud, input.SecretId);
    usable(secret, 'PutSecretValue');
    secret.value = checkValue(input);
    secret.versions += 1;
    return { ARN: secret.arn, Name: secret.name, VersionId: randomBytes(16).toString('hex') };
  });

  cloud.on('secretsManager', sm.GetSecretValueCommand, (input) => {
    const secret = findSecret(cloud, input.SecretId);
    usable(secret, 'GetSecretValue');
    return { ARN: secret.arn, Name: secret.name, SecretString: secret.value };
  });

  cloud.on('secretsManager', sm.DescribeSecretCommand, (input) => {
    const secret = findSecret(cloud, input.SecretId);
    return { ARN: secret.arn, Name: secret.name, ...(secret.description ? { Description: secret.description } : {}), ...(secret.deletionDate !== undefined ? { DeletedDate: new Date(secret.deletionDate) } : {}) };
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
