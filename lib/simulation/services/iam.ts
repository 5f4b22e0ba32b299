/**
 * IAM in the fake cloud: the roles `herd doctor` reads (GetRole), as strict as the API
 * reference: a `RoleName` is 1–64 characters of letters, digits and `+=,.@_-`
 * (`ValidationError` otherwise); an unknown role is `NoSuchEntity` (HTTP 404, "The role with
 * name … cannot be found."). The account starts with Auto Scaling's service-linked role, as
 * any account that ever created an Auto Scaling group has it (CreateAutoScalingGroup creates
 * it when missing); a test deletes it to model a fresh account.
 */
import * as iam from '@aws-sdk/client-iam';
import type { FakeCloud } from '../fake-cloud';
import { SIMULATED_ACCOUNT } from '../world';
import { fail } from './common';

/** One role as the fake holds it. */
export interface FakeRole {
  readonly name: string;
  /** `/` or a service-linked role's `/aws-service-role/<service>/`. */
  readonly path: string;
  readonly createdAt: number;
  /** The service whose service-linked role it is. */
  readonly linkedService?: string;
}

/** Auto Scaling's default service-linked role. */
export const AUTO_SCALING_SERVICE_LINKED_ROLE = 'AWSServiceRoleForAutoScaling';

const ROLE_NAME = /^[\w+=,.@-]{1,64}$/;

export function roleArn(role: Pick<FakeRole, 'name' | 'path'>, account = SIMULATED_ACCOUNT): string {
  return `arn:aws:iam::${account}:role${role.path}${role.name}`;
}

/** The roles an account holds at the start: Auto Scaling's service-linked role. */
export function defaultRoles(now: number): Map<string, FakeRole> {
  return new Map([[AUTO_SCALING_SERVICE_LINKED_ROLE, { name: AUTO_SCALING_SERVICE_LINKED_ROLE, path: '/aws-service-role/autoscaling.amazonaws.com/', createdAt: now, linkedService: 'autoscaling.amazonaws.com' }]]);
}

/** Registers the IAM handlers on `cloud`. */
export function registerIam(cloud: FakeCloud): void {
  cloud.on('iam', iam.GetRoleCommand, (input) => {
    const name = input.RoleName ?? '';
    if (!ROLE_NAME.test(name)) fail('ValidationError', `1 validation error detected: Value '${name}' at 'roleName' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\w+=,.@-]+`);
    const role = cloud.roles.get(name);
    if (!role) fail('NoSuchEntity', `The role with name ${name} cannot be found.`, 404);
    const trust = role.linkedService ? { Version: '2012-10-17', Statement: [{ Effect: 'Allow', Principal: { Service: role.linkedService }, Action: 'sts:AssumeRole' }] } : { Version: '2012-10-17', Statement: [] };
    return {
      Role: {
        RoleName: role.name,
        Path: role.path,
        Arn: roleArn(role),
        RoleId: `AROA${Buffer.from(role.name).toString('hex').toUpperCase().slice(0, 17).padEnd(17, '0')}`,
        CreateDate: new Date(role.createdAt),
        // URL-encoded, as IAM returns policy documents.
        AssumeRolePolicyDocument: encodeURIComponent(JSON.stringify(trust)),
        MaxSessionDuration: 3600,
      },
    };
  });
}
