/**
 * ElastiCache in the fake cloud: Valkey replication groups and their AUTH tokens, as strict as
 * the API reference (ModifyReplicationGroup, DescribeReplicationGroups) and the user guide's
 * "Modifying the AUTH token on an existing cluster"
 * (https://docs.aws.amazon.com/AmazonElastiCache/latest/dg/auth.html#auth-modifyng-token):
 * - ROTATE adds the given token and keeps the previous one; on a group that already accepts
 *   two, the oldest is dropped ("allowing a server to support up to two most recent AUTH
 *   tokens at a given time");
 * - SET leaves only the given token, which "must be the same value as the last AUTH token
 *   rotated"; it is "allowed only after ROTATE" (the API reference), so on a group with one
 *   token it is refused;
 * - DELETE belongs to a move to RBAC users (refused here: herd's group has no user group);
 * - a token is 16–128 printable ASCII characters without `/`, `"`, `@` or `%` (ModifyReplicationGroup's
 *   AuthToken), and needs in-transit encryption;
 * - a group accepts a modification only while `available` (InvalidReplicationGroupState
 *   otherwise); with ApplyImmediately it is `modifying` for the group's `modifySeconds`, then
 *   `available` with the change applied and `AuthTokenLastModifiedDate` set (herd's rotation
 *   does not depend on whether AWS sets that date at the request or at the end: it reads it
 *   only from an `available` group); without ApplyImmediately the change waits in
 *   `PendingModifiedValues.AuthTokenStatus` for a maintenance window the fake never reaches.
 * The error codes are those of the SDK's model (wire codes `InvalidReplicationGroupState`,
 * `ReplicationGroupNotFoundFault`, `InvalidParameterValue`, `InvalidParameterCombination`);
 * which of the last two AWS answers to a misplaced SET is not in the reference (the fake says
 * `InvalidParameterCombination`).
 */
import * as elasticache from '@aws-sdk/client-elasticache';
import type { FakeCloud } from '../fake-cloud';
import { SIMULATED_ACCOUNT, SIMULATED_REGION } from '../world';
import { fail } from './common';

/** A token change ElastiCache accepted. */
export interface FakeTokenChange {
  readonly strategy: 'ROTATE' | 'SET';
  readonly token: string;
  /** When it is applied (epoch ms); unset: at the next maintenance window (never, here). */
  readonly at?: number;
}

/** A replication group as the fake holds it. */
export interface FakeReplicationGroup {
  readonly id: string;
  readonly transitEncryption: boolean;
  /** The tokens the group accepts, oldest first (at most two). */
  tokens: string[];
  /** When the tokens last changed (epoch ms). */
  tokenModifiedAt?: number;
  change?: FakeTokenChange;
  /** Busy with another change than the token's until a time (epoch ms): `modifying`, `snapshotting`… */
  busy?: { readonly status: string; readonly until: number };
  /** Seconds a modification applied immediately keeps the group `modifying`. */
  readonly modifySeconds: number;
}

/** Seconds a token change keeps a group `modifying` unless the group says otherwise. */
export const DEFAULT_CACHE_MODIFY_SECONDS = 300;

export function replicationGroupArn(id: string): string {
  return `arn:aws:elasticache:${SIMULATED_REGION}:${SIMULATED_ACCOUNT}:replicationgroup:${id}`;
}

/** Applies a due change (virtual time moved past it). */
function settle(cloud: FakeCloud, group: FakeReplicationGroup): void {
  const change = group.change;
  if (!change || change.at === undefined || change.at > cloud.now()) return;
  group.tokens = change.strategy === 'SET' ? [change.token] : [...group.tokens, change.token].slice(-2);
  group.tokenModifiedAt = change.at;
  delete group.change;
}

/** The group `id` with its due changes applied, or `ReplicationGroupNotFoundFault`. */
export function replicationGroup(cloud: FakeCloud, id: string | undefined): FakeReplicationGroup {
  const group = cloud.replicationGroups.get(id ?? '');
  if (!group) fail('ReplicationGroupNotFoundFault', `ReplicationGroup ${id} not found.`, 404);
  settle(cloud, group);
  return group;
}

function status(cloud: FakeCloud, group: FakeReplicationGroup): string {
  if (group.change?.at !== undefined && group.change.at > cloud.now()) return 'modifying';
  return group.busy && group.busy.until > cloud.now() ? group.busy.status : 'available';
}

function describe(cloud: FakeCloud, group: FakeReplicationGroup): elasticache.ReplicationGroup {
  const pending = group.change ? { AuthTokenStatus: group.change.strategy === 'SET' ? 'SETTING' as const : 'ROTATING' as const } : {};
  return {
    ReplicationGroupId: group.id,
    ARN: replicationGroupArn(group.id),
    Status: status(cloud, group),
    PendingModifiedValues: pending,
    AuthTokenEnabled: group.tokens.length > 0,
    ...(group.tokenModifiedAt !== undefined ? { AuthTokenLastModifiedDate: new Date(group.tokenModifiedAt) } : {}),
    TransitEncryptionEnabled: group.transitEncryption,
    AtRestEncryptionEnabled: true,
  };
}

/** ModifyReplicationGroup's AuthToken rules (API reference). */
function checkToken(token: string): void {
  // eslint-disable-next-line no-control-regex
  const printable = /^[\x20-\x7e]*$/.test(token);
  if (!printable || token.length < 16 || token.length > 128 || /[/"@%]/.test(token)) {
    fail('InvalidParameterValue', 'Invalid AuthToken provided: it must be 16 to 128 printable ASCII characters and cannot contain /, ", @ or %.');
  }
}

/** Registers the ElastiCache API handlers on `cloud`. */
export function registerElastiCache(cloud: FakeCloud): void {
  cloud.on('elastiCache', elasticache.DescribeReplicationGroupsCommand, (input) => {
    if (input.ReplicationGroupId !== undefined) return { ReplicationGroups: [describe(cloud, replicationGroup(cloud, input.ReplicationGroupId))] };
    const all = [...cloud.replicationGroups.values()];
    for (const g of all) settle(cloud, g);
    return { ReplicationGroups: all.map((g) => describe(cloud, g)) };
  });

  cloud.on('elastiCache', elasticache.ModifyReplicationGroupCommand, (input) => {
    const group = replicationGroup(cloud, input.ReplicationGroupId);
    const strategy = input.AuthTokenUpdateStrategy;
    if (input.AuthToken === undefined) {
      if (strategy !== undefined) fail('InvalidParameterCombination', 'AuthTokenUpdateStrategy must be specified with AuthToken.');
      fail('InvalidParameterCombination', 'herd\'s fake models the AUTH token changes of ModifyReplicationGroup only.');
    }
    if (strategy !== undefined && strategy !== 'ROTATE' && strategy !== 'SET' && strategy !== 'DELETE') fail('InvalidParameterValue', `Invalid AuthTokenUpdateStrategy: ${strategy}`);
    if (strategy === 'DELETE') fail('InvalidParameterCombination', 'AuthTokenUpdateStrategy DELETE is allowed only when moving the group to RBAC user groups.');
    checkToken(input.AuthToken);
    if (!group.transitEncryption) fail('InvalidParameterCombination', 'AuthToken requires TransitEncryptionEnabled.');
    const state = status(cloud, group);
    if (state !== 'available') fail('InvalidReplicationGroupState', `Replication group ${group.id} is not in available state (it is ${state}).`);
    const effective = strategy ?? 'ROTATE';
    if (effective === 'SET') {
      if (group.tokens.length < 2) fail('InvalidParameterCombination', 'AuthTokenUpdateStrategy SET is allowed only after ROTATE.');
      if (group.tokens[group.tokens.length - 1] !== input.AuthToken) fail('InvalidParameterValue', 'AuthToken with SET must be the last AUTH token rotated.');
    }
    group.change = { strategy: effective, token: input.AuthToken, ...(input.ApplyImmediately ? { at: cloud.now() + group.modifySeconds * 1000 } : {}) };
    return { ReplicationGroup: describe(cloud, group) };
  });
}

/** Adds the replication group `id` (as a stack created it) accepting `token`. */
export function addReplicationGroup(cloud: FakeCloud, id: string, token: string, options: { transitEncryption?: boolean; modifySeconds?: number } = {}): FakeReplicationGroup {
  const group: FakeReplicationGroup = {
    id,
    transitEncryption: options.transitEncryption ?? true,
    tokens: [token],
    tokenModifiedAt: cloud.now(),
    modifySeconds: options.modifySeconds ?? DEFAULT_CACHE_MODIFY_SECONDS,
  };
  cloud.replicationGroups.set(id, group);
  return group;
}
