import { App, Validations } from 'aws-cdk-lib';
import { CfnGuardValidator } from '@cdklabs/cdk-validator-cfnguard';
import { AwsSolutionsChecks } from 'cdk-nag';

/**
 * The policy checks every synthesis runs (bin/app.ts; tests with `nag: true`): cdk-nag
 * AwsSolutions, and cfn-guard with the AWS Control Tower proactive controls bundled in
 * @cdklabs/cdk-validator-cfnguard. Synthesis fails on any finding of either that is not
 * acknowledged next to its resource (`acknowledge`, `acknowledgeGuard` in lib/nag.ts).
 */
export function addPolicyChecks(app: App): void {
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app), new CfnGuardValidator());
}
