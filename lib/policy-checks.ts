import { App, IPolicyValidationContextBeta1, IPolicyValidationPluginBeta1, PolicyValidationPluginReportBeta1, Validations } from 'aws-cdk-lib';
import { CfnGuardValidator } from '@cdklabs/cdk-validator-cfnguard';
import { AwsSolutionsChecks } from 'cdk-nag';

/**
 * cfn-guard's plugin, with every violation marked as an error. The plugin reports violations
 * without a severity; once any rule is acknowledged, aws-cdk-lib recomputes a report's success
 * as "no violation left with severity error or fatal", so an unacknowledged cfn-guard finding
 * without a severity passed the synthesis (found when the #15 fixes landed: 16 findings, exit 0).
 * Same name and version, so `cdk-validator-cfnguard::<rule>` acknowledgments still match.
 */
class StrictCfnGuardValidator implements IPolicyValidationPluginBeta1 {
  private readonly inner = new CfnGuardValidator();
  public readonly name = this.inner.name;
  public readonly version = this.inner.version;
  public readonly ruleIds = this.inner.ruleIds;

  public validate(context: IPolicyValidationContextBeta1): PolicyValidationPluginReportBeta1 {
    const report = this.inner.validate(context);
    return { ...report, violations: report.violations.map((v) => ({ ...v, severity: v.severity ?? 'error' })) };
  }
}

/**
 * The policy checks every synthesis runs (bin/app.ts; tests with `nag: true`): cdk-nag
 * AwsSolutions, and cfn-guard with the AWS Control Tower proactive controls bundled in
 * @cdklabs/cdk-validator-cfnguard. Synthesis fails on any finding of either that is not
 * acknowledged next to its resource (`acknowledge`, `acknowledgeGuard` in lib/nag.ts).
 */
export function addPolicyChecks(app: App): void {
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app), new StrictCfnGuardValidator());
}
