import { App } from 'aws-cdk-lib';
import { architectureOf } from './architecture';
import type { HerdConfig } from './config/types';
import { EnvironmentStack } from './environment-stack';
import { peerEnvironments, releaseStateStackName, stackName } from './names';
import { acknowledgeGuard } from './nag';
import { ReleaseStateStack } from './release-state-stack';
import { retentionOf } from './retention';

/** Why no herd log group has a customer managed key (Control Tower CT.CLOUDWATCH.PR.3). */
const LOG_GROUP_ENCRYPTION_REASON = 'CloudWatch Logs encrypts every log group at rest with keys it manages; herd\'s logs are read only within this account, under IAM, so a customer managed key would add a key policy for the logs service and cost without narrowing who can read them.';

/** The two stacks of one environment. */
export interface EnvironmentStacks {
  /** `herd-<env>-release-state`: the release parameters, deployed first. */
  readonly releaseState: ReleaseStateStack;
  /** `herd-<env>`: everything else; it resolves the release parameters at deploy time. */
  readonly environment: EnvironmentStack;
}

/**
 * Adds every environment of `config` to `app`: per environment, the release-state stack and
 * the environment stack, which depends on it (`cdk deploy herd-<env>` deploys both, in order).
 */
export function addEnvironments(app: App, config: HerdConfig): Record<string, EnvironmentStacks> {
  const stacks: Record<string, EnvironmentStacks> = {};
  const names = config.environments.map((e) => e.name);
  for (const environment of config.environments) {
    const env = environment.account ? { account: environment.account, region: environment.region } : undefined;
    const releaseState = new ReleaseStateStack(app, releaseStateStackName(environment.name), {
      app: config.app,
      environment: environment.name,
      architecture: architectureOf(environment.web.instanceType),
      logRetentionDays: retentionOf(environment.logRetentionDays),
      description: `herd: the release parameters of ${config.app}'s ${environment.name} environment (deployed before ${stackName(environment.name)})`,
      env,
    });
    const stack = new EnvironmentStack(app, stackName(environment.name), {
      app: config.app,
      config: environment,
      peerEnvironments: peerEnvironments(names, environment.name),
      description: `herd: the ${environment.name} environment of ${config.app}`,
      env,
    });
    for (const s of [releaseState, stack]) acknowledgeGuard(s, 'cloudwatch_log_group_encrypted_check', LOG_GROUP_ENCRYPTION_REASON);
    // Every log group of an environment takes its retention from these two settings (test/stacks/observability.test.ts).
    const shortestRetention = Math.min(environment.logRetentionDays, environment.network.flowLogRetentionDays);
    if (shortestRetention < 365) {
      for (const s of [releaseState, stack]) {
        acknowledgeGuard(s, 'cloudwatch_log_group_retention_period_check', `Logs kept ${shortestRetention} days by configuration (logRetentionDays, network.flowLogRetentionDays: the small profile keeps 14 to stay cheap); the production profile keeps every log at least 365 days.`);
      }
    }
    stack.addStackDependency(releaseState, 'the environment resolves current-image and current-release when its update starts');
    stacks[environment.name] = { releaseState, environment: stack };
  }
  return stacks;
}
