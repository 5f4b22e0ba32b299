/**
 * IAM for the instance scripts: the `aws` calls a builder, a migration runner, or a web or
 * worker server makes (as the instance tests record them) evaluated against that role's
 * policy in the synthesized stack, resolved to the test's deploy environment.
 */
import type { DeployEnvironment } from '../../../lambda/deploy/environment';
import { SIMULATED_ACCOUNT, SIMULATED_REGION } from '../../../lib/simulation/world';
import { awsCliCall } from './aws-cli';
import type { Principal } from './evaluator';
import { synthesizedTemplates } from './synth';
import { matchJoin, TemplateResolver } from './template-policies';
import { ENVIRONMENT_PRINCIPALS, iamCheck, roleByPrefix, worldSettings, type IamCheck } from './world-iam';

export type InstanceRole = 'builder' | 'runner' | 'web' | 'worker';

export interface InstanceIam {
  /** The key of the instance scripts' zip as the stack names it (its asset hash): the builder may read that object only. */
  readonly scriptsKey: string;
  readonly principals: ReadonlyMap<InstanceRole, Principal>;
  /** A check of `calls` (each an `aws` argv) made by `role`. */
  check(role: InstanceRole, calls: readonly (readonly string[])[]): IamCheck;
}

/**
 * The instance roles of `env`'s stack. `databaseSecretArn`, `appDatabaseSecretArn`: the master's
 * and the application's database secret ARNs as the test's parameters name them (the stack's are generated).
 */
export function instanceIam(env: DeployEnvironment, options: { databaseSecretArn?: string; appDatabaseSecretArn?: string } = {}): InstanceIam {
  const templates = synthesizedTemplates(worldSettings(env.app, env.env, env.peerEnvironments))[env.env];
  if (!templates) throw new Error(`IAM: no templates for ${env.env}`);
  const template = templates.environment;
  const advance = Object.values(template.Resources).find((r) => r.Type === 'AWS::Lambda::Function' && String(r.Properties?.Description ?? '').includes('advances a deploy'));
  const join = (advance?.Properties?.Environment as { Variables?: Record<string, unknown> } | undefined)?.Variables?.DEPLOY_ENVIRONMENT;
  const scriptsKey = /\\"key\\":\\"([0-9a-f]{64}\.zip)\\"/.exec(JSON.stringify(join))?.[1];
  if (!scriptsKey) throw new Error('IAM: the instance scripts asset key is not in the advance function\'s environment');
  const known = matchJoin(join, { ...env, instances: { ...env.instances, scripts: { ...env.instances.scripts, key: scriptsKey } } });
  if (options.databaseSecretArn) {
    const attachment = Object.keys(template.Resources).find((id) => id.startsWith('DatabaseInstanceSecretAttachment'));
    if (attachment) known.set(JSON.stringify({ Ref: attachment }), options.databaseSecretArn);
  }
  if (options.appDatabaseSecretArn) {
    const attachment = Object.keys(template.Resources).find((id) => id.startsWith('DatabaseCredentialsAppSecretAttachment'));
    if (attachment) known.set(JSON.stringify({ Ref: attachment }), options.appDatabaseSecretArn);
  }
  const resolver = new TemplateResolver(template, { account: SIMULATED_ACCOUNT, region: SIMULATED_REGION, stackName: env.stackName ?? `herd-${env.env}`, known });
  const roles = resolver.roles();
  const principals = new Map<InstanceRole, Principal>();
  for (const role of ['builder', 'runner', 'web', 'worker'] as const) principals.set(role, roleByPrefix(roles, ENVIRONMENT_PRINCIPALS[role] ?? '', role));
  return {
    scriptsKey,
    principals,
    check: (role, calls) => {
      const check = iamCheck(new Map([...principals].map(([k, v]) => [k as string, v])), { account: SIMULATED_ACCOUNT, region: SIMULATED_REGION, roleOfInstanceProfile: () => undefined });
      for (const argv of calls) check.record(awsCliCall(role, argv));
      return check;
    },
  };
}
