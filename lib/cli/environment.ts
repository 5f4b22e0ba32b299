/**
 * `<env>` → everything a command needs: the validated configuration entry, the stack
 * `herd-<env>`'s outputs (every resource is found through them, never by a guessed
 * name), clients for its region, and a `DeployEnvironment` so the deploy step's own
 * helpers (lock, maintenance, retention) run unchanged from the CLI.
 */
import { DescribeStacksCommand, type Output } from '@aws-sdk/client-cloudformation';
import type { DeployEnvironment } from '../../lambda/deploy/environment';
import type { AdvanceContext } from '../../lambda/deploy/step';
import type { EnvironmentConfig, HerdConfig } from '../config/types';
import { parameterRoot, peerEnvironments, stackName } from '../names';
import type { AwsClients, CliDeps } from './deps';
import { CliError } from './errors';

/** Where release artifacts live in the artifacts bucket (`ARTIFACT_PREFIX` of `lib/deploy-step.ts`; kept here so the CLI does not load aws-cdk-lib; a test pins them equal). */
export const RELEASES_PREFIX = 'releases/';

/** S3 key of a release's artifact. */
export function artifactKey(release: string): string {
  return `${RELEASES_PREFIX}${release}.tar.gz`;
}

/** The stack outputs the CLI reads (`lib/environment-stack.ts`). */
export interface StackOutputs {
  readonly url: string;
  readonly loadBalancerDnsName: string;
  readonly listenerArn: string;
  readonly targetGroupArn: string;
  readonly maintenancePriority: number;
  readonly webAutoScalingGroup: string;
  readonly workerAutoScalingGroup: string;
  readonly webLaunchTemplateId: string;
  readonly workerLaunchTemplateId: string;
  readonly artifactsBucket: string;
  readonly notificationTopic: string;
  readonly parameterRoot: string;
  readonly databaseSecretArn: string;
  readonly deployStateMachineArn: string;
  readonly deployTableName: string;
  /** Absent when the environment has no bypass header (`maintenance.bypassHeader: false`). */
  readonly maintenanceBypassSecretArn?: string;
  /** Names of the alarms that roll a deploy back (empty for a stack deployed before this output existed). */
  readonly rollbackAlarms: readonly string[];
  /** The fingerprint of the configuration the stack was synthesized from (`lib/config/fingerprint.ts`); absent on a stack deployed before this output existed. */
  readonly configFingerprint?: string;
  /**
   * What `herd run` launches its instance with: the migration runner's instance profile and
   * role, and the subnets (absent for a stack deployed before these outputs existed).
   */
  readonly runner?: { readonly instanceProfileArn: string; readonly roleArn: string; readonly subnetIds: readonly string[] };
  /** The environment's CloudWatch dashboard (absent on a stack deployed before this output existed). */
  readonly dashboardUrl?: string;
}

const REQUIRED_OUTPUTS = [
  'Url',
  'LoadBalancerDnsName',
  'ListenerArn',
  'TargetGroupArn',
  'MaintenancePriority',
  'WebAutoScalingGroup',
  'WorkerAutoScalingGroup',
  'WebLaunchTemplateId',
  'WorkerLaunchTemplateId',
  'ArtifactsBucket',
  'NotificationTopic',
  'ParameterRoot',
  'DatabaseSecretArn',
  'DeployStateMachineArn',
  'DeployTableName',
] as const;

/** One environment, resolved. */
export interface EnvironmentHandle {
  readonly app: string;
  readonly name: string;
  readonly stackName: string;
  /** The region pinned in the configuration, or undefined (the operator's default region). */
  readonly region: string | undefined;
  readonly config: EnvironmentConfig;
  readonly herdConfig: HerdConfig;
  readonly outputs: StackOutputs;
  readonly clients: AwsClients;
  /** What the deploy step knows, rebuilt from outputs and configuration (its `instances` part is not known to the CLI, which never launches builders or runners). */
  readonly deploy: DeployEnvironment;
  /** Context for the deploy step's helpers (`imagesToDeregister`, …). */
  readonly context: AdvanceContext;
}

/** The configured environment named `name`, or a usage error listing the configured ones. */
export function configuredEnvironment(config: HerdConfig, name: string): EnvironmentConfig {
  const found = config.environments.find((e) => e.name === name);
  if (!found) {
    const names = config.environments.map((e) => e.name);
    throw new CliError(`unknown environment "${name}"; configured environments: ${names.length > 0 ? names.join(', ') : '(none)'} (herd.config.ts)`);
  }
  return found;
}

/** Reads the outputs of `herd-<env>`; a usage error when the stack does not exist or lacks an output. */
export async function readStackOutputs(clients: AwsClients, env: string): Promise<StackOutputs> {
  const stack = stackName(env);
  let outputs: Output[];
  let status: string | undefined;
  try {
    const res = await clients.cloudFormation.send(new DescribeStacksCommand({ StackName: stack }));
    const found = res.Stacks?.[0];
    outputs = found?.Outputs ?? [];
    status = found?.StackStatus;
  } catch (err) {
    if (err instanceof Error && /does not exist/.test(err.message)) {
      throw new CliError(`stack ${stack} does not exist: environment ${env} is not deployed yet; run npx cdk deploy ${stack}`);
    }
    throw err;
  }
  const values = new Map(outputs.filter((o) => o.OutputKey && o.OutputValue !== undefined).map((o) => [o.OutputKey ?? '', o.OutputValue ?? '']));
  const missing = REQUIRED_OUTPUTS.filter((k) => !values.has(k));
  if (missing.length > 0) {
    throw new CliError(
      `stack ${stack} (${status ?? 'unknown status'}) lacks the output${missing.length === 1 ? '' : 's'} ${missing.join(', ')}; run npx cdk deploy ${stack} to bring it up to date`,
    );
  }
  const get = (k: (typeof REQUIRED_OUTPUTS)[number]) => values.get(k) ?? '';
  const priority = Number(get('MaintenancePriority'));
  if (!Number.isInteger(priority) || priority < 1) {
    throw new CliError(`stack ${stack} output MaintenancePriority (${JSON.stringify(get('MaintenancePriority'))}) is not a rule priority; run npx cdk deploy ${stack}`);
  }
  const bypass = values.get('MaintenanceBypassSecretArn');
  const runnerProfile = values.get('RunnerInstanceProfileArn');
  const runnerRole = values.get('RunnerRoleArn');
  const runnerSubnets = (values.get('RunnerSubnetIds') ?? '').split(',').filter(Boolean);
  return {
    url: get('Url'),
    loadBalancerDnsName: get('LoadBalancerDnsName'),
    listenerArn: get('ListenerArn'),
    targetGroupArn: get('TargetGroupArn'),
    maintenancePriority: priority,
    webAutoScalingGroup: get('WebAutoScalingGroup'),
    workerAutoScalingGroup: get('WorkerAutoScalingGroup'),
    webLaunchTemplateId: get('WebLaunchTemplateId'),
    workerLaunchTemplateId: get('WorkerLaunchTemplateId'),
    artifactsBucket: get('ArtifactsBucket'),
    notificationTopic: get('NotificationTopic'),
    parameterRoot: get('ParameterRoot'),
    databaseSecretArn: get('DatabaseSecretArn'),
    deployStateMachineArn: get('DeployStateMachineArn'),
    deployTableName: get('DeployTableName'),
    ...(bypass ? { maintenanceBypassSecretArn: bypass } : {}),
    rollbackAlarms: (values.get('RollbackAlarms') ?? '').split(',').filter(Boolean),
    ...(values.get('ConfigFingerprint') ? { configFingerprint: values.get('ConfigFingerprint') } : {}),
    ...(runnerProfile && runnerRole && runnerSubnets.length > 0 ? { runner: { instanceProfileArn: runnerProfile, roleArn: runnerRole, subnetIds: runnerSubnets } } : {}),
    ...(values.get('DashboardUrl') ? { dashboardUrl: values.get('DashboardUrl') } : {}),
  };
}

/**
 * The deploy step's view of the environment, from outputs and configuration.
 * `peers`: the other environments of the app (`peerEnvironments` of the configuration), whose
 * current images retention keeps.
 */
export function deployEnvironmentOf(app: string, config: EnvironmentConfig, outputs: StackOutputs, peers: readonly string[]): DeployEnvironment {
  return {
    app,
    env: config.name,
    tableName: outputs.deployTableName,
    fleets: {
      web: {
        autoScalingGroupName: outputs.webAutoScalingGroup,
        launchTemplateId: outputs.webLaunchTemplateId,
        minCapacity: config.web.minCapacity,
        maxCapacity: config.web.maxCapacity,
      },
      worker: {
        autoScalingGroupName: outputs.workerAutoScalingGroup,
        launchTemplateId: outputs.workerLaunchTemplateId,
        minCapacity: config.worker.minCapacity,
        maxCapacity: config.worker.maxCapacity,
      },
    },
    loadBalancer: { listenerArn: outputs.listenerArn, targetGroupArn: outputs.targetGroupArn, maintenancePriority: outputs.maintenancePriority },
    // Builders and runners are launched by the deploy step only; the CLI never reads these.
    instances: { builderImageId: 'resolve:ssm:unknown-to-the-cli', builderInstanceProfileArn: 'arn:aws:iam::unknown-to-the-cli', runnerInstanceProfileArn: 'arn:aws:iam::unknown-to-the-cli', subnetIds: [], builderSecurityGroupIds: [], scripts: { bucket: '', key: '' } },
    artifacts: { bucket: outputs.artifactsBucket, artifactPrefix: RELEASES_PREFIX },
    alarmNames: [...outputs.rollbackAlarms],
    notificationTopicArn: outputs.notificationTopic,
    deploy: config.deploy,
    amiRetention: config.amiRetention,
    peerEnvironments: peerEnvironments(peers, config.name),
  };
}

/** Resolves `<env>`: configuration entry, stack outputs, clients. */
export async function resolveEnvironment(deps: CliDeps, name: string): Promise<EnvironmentHandle> {
  const herdConfig = deps.config();
  const config = configuredEnvironment(herdConfig, name);
  const clients = deps.clients(config.region, name);
  const outputs = await readStackOutputs(clients, name);
  // Stack names do not hold the app (`herd-<env>`): another app's environment of the same name
  // in this account and region is that stack. Refuse before anything acts on it.
  const ownRoot = parameterRoot(herdConfig.app, name);
  if (outputs.parameterRoot !== ownRoot) {
    throw new CliError(
      `stack ${stackName(name)} is not ${herdConfig.app}'s ${name} environment (its ParameterRoot output is ${outputs.parameterRoot}, herd.config.ts expects ${ownRoot}): ` +
        `herd names an environment's stack herd-<env>, so two apps cannot both have an environment "${name}" in one account and region; ` +
        'give this app\'s environment another name in herd.config.ts (or deploy it to another account or region); nothing was changed',
    );
  }
  const deploy = deployEnvironmentOf(herdConfig.app, config, outputs, herdConfig.environments.map((e) => e.name));
  return {
    app: herdConfig.app,
    name,
    stackName: stackName(name),
    region: config.region,
    config,
    herdConfig,
    outputs,
    clients,
    deploy,
    context: { clients, env: deploy, clock: { now: () => deps.now() } },
  };
}

/** Both fleets: role and group name. */
export function fleetsOf(handle: EnvironmentHandle): { role: 'web' | 'worker'; group: string }[] {
  return [
    { role: 'web', group: handle.outputs.webAutoScalingGroup },
    { role: 'worker', group: handle.outputs.workerAutoScalingGroup },
  ];
}

