/**
 * KMS in the fake cloud: key policies as `herd doctor` reads them (GetKeyPolicy), as strict
 * as the API reference:
 * - `KeyId` is a key id or a key ARN (1–2,048 characters); an alias is not accepted here
 *   (`NotFoundException`), a malformed ARN is `InvalidArnException`, an unknown key
 *   `NotFoundException`;
 * - not cross-account: a key ARN of another account is `AccessDeniedException`;
 * - `PolicyName` matches `[\w]+` (1–128 characters; `ValidationException` otherwise), and
 *   the only policy is `default` (any other name: `NotFoundException`); it defaults to `default`.
 * The answer is the policy document as it was put (a JSON string) and its name.
 */
import * as kms from '@aws-sdk/client-kms';
import type { FakeCloud } from '../fake-cloud';
import { SIMULATED_ACCOUNT, SIMULATED_REGION } from '../world';
import { fail } from './common';

/** One KMS key as the fake holds it. */
export interface FakeKey {
  readonly id: string;
  readonly arn: string;
  /** The key policy (`default`), a JSON document. */
  policy: string;
}

const KEY_ARN = /^arn:aws[a-z-]*:kms:([a-z0-9-]+):(\d{12}):key\/([A-Za-z0-9-]+)$/;

/** The key policy KMS gives a key created without one: the account's IAM policies may use it (`arn:aws:iam::<account>:root` → `kms:*`). */
export function defaultKeyPolicy(account = SIMULATED_ACCOUNT): string {
  return JSON.stringify({
    Version: '2012-10-17',
    Id: 'key-default-1',
    Statement: [{ Sid: 'Enable IAM User Permissions', Effect: 'Allow', Principal: { AWS: `arn:aws:iam::${account}:root` }, Action: 'kms:*', Resource: '*' }],
  });
}

/** Adds a key of the simulated account with `policy` (default: KMS's default policy); returns it. */
export function addKey(cloud: FakeCloud, id: string, policy: string = defaultKeyPolicy()): FakeKey {
  const key = { id, arn: `arn:aws:kms:${SIMULATED_REGION}:${SIMULATED_ACCOUNT}:key/${id}`, policy };
  cloud.kmsKeys.set(id, key);
  return key;
}

/** The key a `KeyId` (key id or key ARN) names, or KMS's error. */
function findKey(cloud: FakeCloud, keyId: string): FakeKey {
  if (keyId.length < 1 || keyId.length > 2048) fail('ValidationException', `1 validation error detected: Value at 'keyId' failed to satisfy constraint: Member must have length between 1 and 2048`);
  if (keyId.startsWith('alias/') || /^arn:[^:]*:kms:[^:]*:[^:]*:alias\//.test(keyId)) fail('NotFoundException', `Invalid keyId ${keyId}`);
  let id = keyId;
  if (keyId.startsWith('arn:')) {
    const m = KEY_ARN.exec(keyId);
    if (!m) fail('InvalidArnException', `ARN ${keyId} is not a valid KMS key ARN`);
    if (m[2] !== SIMULATED_ACCOUNT || m[1] !== SIMULATED_REGION) fail('AccessDeniedException', `User is not authorized to perform: kms:GetKeyPolicy on resource: ${keyId} (GetKeyPolicy is not cross-account)`);
    id = m[3] ?? '';
  }
  const key = cloud.kmsKeys.get(id);
  if (!key) fail('NotFoundException', `Key 'arn:aws:kms:${SIMULATED_REGION}:${SIMULATED_ACCOUNT}:key/${id}' does not exist`);
  return key;
}

/** Registers the KMS handlers on `cloud`. */
export function registerKms(cloud: FakeCloud): void {
  cloud.on('kms', kms.GetKeyPolicyCommand, (input) => {
    const name = input.PolicyName ?? 'default';
    if (!/^\w{1,128}$/.test(name)) fail('ValidationException', `1 validation error detected: Value '${name}' at 'policyName' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\w]+`);
    const key = findKey(cloud, input.KeyId ?? '');
    if (name !== 'default') fail('NotFoundException', `No such policy exists: ${name}`);
    return { Policy: key.policy, PolicyName: 'default' };
  });
}
