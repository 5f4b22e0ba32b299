import { App, Stack } from 'aws-cdk-lib';
import { acknowledgeGuard } from './nag';

/**
 * cfn-guard findings that other parts of issue #15 fix, acknowledged until they land. Every
 * reason starts with `PENDING #15.<n>:`; remove its line when #15.<n> is merged (synthesis
 * then fails if the finding is still there). Acknowledged per stack, not per resource, to
 * keep them out of the files those changes edit.
 */
export function acknowledgePendingFindings(app: App, stacks: { environment: Stack; releaseState: Stack }): void {
  for (const stack of [stacks.environment, stacks.releaseState]) {
    acknowledgeGuard(stack, 'cloudwatch_log_group_retention_period_check', 'PENDING #15.9: log retention of log groups and flow logs.');
  }
  const env = stacks.environment;
  acknowledgeGuard(env, 'alb_http_to_https_redirection_check', 'PENDING #15.1: HTTPS listener and certificate; HTTP then redirects to HTTPS.');
  acknowledgeGuard(env, 'elbv2_deletion_protection_enabled_check', 'PENDING #15.6: load balancer deletion protection.');
  acknowledgeGuard(env, 'rds_instance_enhanced_monitoring_enabled_check', 'PENDING #15.6: RDS Enhanced Monitoring.');
  acknowledgeGuard(env, 'rds_instance_iam_authentication_enabled_check', 'PENDING #15.4: RDS credentials.');
  acknowledgeGuard(env, 's3_bucket_versioning_enabled_check', 'PENDING #15.9: access-log bucket versioning.');
  acknowledgeGuard(env, 's3_bucket_object_lock_enabled_check', 'PENDING #15.9: access-log bucket Object Lock.');
  // The plugin reports this one without a resource (its path through the rule does not reach
  // the instance), so only an acknowledgment at the app's root matches it.
  acknowledgeGuard(app, 'rds_instance_logging_enabled_check', 'PENDING #15.6: RDS log exports (CT.RDS.PR.14 wants postgresql and upgrade).');
}
