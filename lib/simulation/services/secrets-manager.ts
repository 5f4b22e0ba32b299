/**
 * Secrets Manager in the fake cloud, as `herd doctor` reads it: `DescribeSecret` of the
 * secrets in `cloud.secrets` (by ARN or name), never their values. As its API reference
 * says: a missing secret is `ResourceNotFoundException` ("Secrets Manager can't find the
 * specified secret."); a secret scheduled for deletion is still described, with its
 * `DeletedDate`.
 */
import * as sm from '@aws-sdk/client-secrets-manager';
import type { FakeCloud } from '../fake-cloud';
import { fail } from './common';

/** A secret: its ARN (name plus the 6-character suffix Secrets Manager adds), and when its deletion was scheduled. */
export interface FakeSecret {
  readonly arn: string;
  readonly name: string;
  deletedAt?: number;
}

/** Adds the secret `name` whose ARN is `arn`. */
export function addSecret(cloud: FakeCloud, name: string, arn: string): FakeSecret {
  const secret: FakeSecret = { arn, name };
  cloud.secrets.set(arn, secret);
  return secret;
}

/** Registers the Secrets Manager handlers on `cloud`. */
export function registerSecretsManager(cloud: FakeCloud): void {
  cloud.on('secretsManager', sm.DescribeSecretCommand, (input) => {
    const id = input.SecretId ?? '';
    if (id.length < 1 || id.length > 2048) fail('ValidationException', "1 validation error detected: Value at 'secretId' failed to satisfy constraint: Member must have length between 1 and 2048");
    const secret = cloud.secrets.get(id) ?? [...cloud.secrets.values()].find((s) => s.name === id);
    if (!secret) fail('ResourceNotFoundException', "Secrets Manager can't find the specified secret.");
    return { ARN: secret.arn, Name: secret.name, ...(secret.deletedAt !== undefined ? { DeletedDate: new Date(secret.deletedAt) } : {}) };
  });
}
