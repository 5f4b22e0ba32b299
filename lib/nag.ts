import { Validations } from 'aws-cdk-lib';
import { IConstruct } from 'constructs';

/**
 * The namespace of cfn-guard findings: CDK names a plugin's rules `<plugin name>::<rule>`
 * (the report says "Acknowledge with 'cdk-validator-cfnguard::<rule>'").
 */
export const GUARD_NAMESPACE = 'cdk-validator-cfnguard';

/**
 * Acknowledges one cdk-nag finding on `construct` (and its children) with the reason it is
 * acceptable here. Keep the call next to the resource it concerns.
 */
export function acknowledge(construct: IConstruct, id: string, reason: string): void {
  Validations.of(construct).acknowledge({ id, reason });
}

/**
 * Acknowledges one cfn-guard rule (its rule name, e.g. `s3_bucket_logging_enabled_check`
 * for CT.S3.PR.2) on `construct` and its children, with the reason. Listed in
 * docs/security.md (a test checks it).
 */
export function acknowledgeGuard(construct: IConstruct, rule: string, reason: string): void {
  Validations.of(construct).acknowledge({ id: `${GUARD_NAMESPACE}::${rule}`, reason });
}
