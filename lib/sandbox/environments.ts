/**
 * The sandbox's environments: one simulated environment per configured one, as `cdk
 * deploy` leaves it before its first release (`serving: none`: groups at zero, the base
 * image in the launch templates), with the configuration's fleet sizes, instance type,
 * deploy settings, alarm thresholds and image retention, and a database to snapshot — its
 * secret exists, the app settings the stack writes are there (herd's own, with made-up
 * endpoints, and the configuration's `appSettings`; the secret ones reference the stack's
 * secrets), and the stack's `ConfigFingerprint` output is the configuration's (so `herd doctor`
 * and `herd config` find the environment as a `cdk deploy` of this configuration leaves it).
 */
import { HERD_PLAIN_SETTINGS } from '../app-settings';
import { configFingerprint } from '../config/fingerprint';
import type { EnvironmentConfig, HerdConfig } from '../config/types';
import { NO_RELEASE, parameterNames, peerEnvironments, stackName } from '../names';
import type { FakeCloud } from '../simulation/fake-cloud';
import { SIMULATED_ACCOUNT, SIMULATED_REGION } from '../simulation/world';
import { addSecret } from '../simulation/services/secrets-manager';
import type { WorldSpec } from '../simulation/world';
import { SandboxEnvironment } from './environment';

/** The world of one configured environment, freshly deployed. */
export function freshEnvironmentSpec(app: string, e: EnvironmentConfig): WorldSpec {
  return {
    app,
    env: e.name,
    web: e.web.minCapacity,
    worker: e.worker.minCapacity,
    instanceType: e.web.instanceType,
    ...(e.ebsKmsKeyArn ? { ebsKmsKeyArn: e.ebsKmsKeyArn } : {}),
    serving: NO_RELEASE,
    deploy: e.deploy,
    capacity: { web: { min: e.web.minCapacity, max: e.web.maxCapacity }, worker: { min: e.worker.minCapacity, max: e.worker.maxCapacity } },
    database: true,
    alarms: { thresholds: e.alarms },
    amiRetention: e.amiRetention,
  };
}

/** Every configured environment, simulated, by name (in the configuration's order). */
export function sandboxEnvironments(config: HerdConfig): Map<string, SandboxEnvironment> {
  const names = config.environments.map((e) => e.name);
  return new Map(
    config.environments.map((e) => {
      const environment = new SandboxEnvironment(freshEnvironmentSpec(config.app, e));
      const stack = environment.world.cloud.stacks.get(stackName(e.name));
      if (stack?.outputs) {
        stack.outputs = { ...stack.outputs, ConfigFingerprint: configFingerprint(config.app, e, peerEnvironments(names, e.name)) };
        const dbSecret = stack.outputs.DatabaseSecretArn;
        if (dbSecret) {
          addSecret(environment.world.cloud, `herd-${e.name}-db`, dbSecret);
          writeAppSettings(environment.world.cloud, config.app, e, dbSecret);
        }
      }
      return [e.name, environment];
    }),
  );
}

/** The app settings `lib/environment-stack.ts` writes, with the sandbox's made-up endpoints and secrets. */
function writeAppSettings(cloud: FakeCloud, app: string, e: EnvironmentConfig, dbSecret: string): void {
  const names = parameterNames(app, e.name);
  const secret = (name: string) => `arn:aws:secretsmanager:${SIMULATED_REGION}:${SIMULATED_ACCOUNT}:secret:herd-${e.name}-${name}-AbCdEf`;
  const plain: Record<(typeof HERD_PLAIN_SETTINGS)[number], string> = {
    PORT: String(e.appPort),
    DATABASE_HOST: `herd-${app}-${e.name}.abcdefghijkl.${SIMULATED_REGION}.rds.amazonaws.com`,
    DATABASE_PORT: '5432',
    DATABASE_NAME: e.database.databaseName,
    REDIS_HOST: `master.herd-${e.name}-cache.abcdef.euw1.cache.amazonaws.com`,
    REDIS_PORT: '6379',
    REDIS_TLS: 'true',
    ALLOWED_HOSTS: [...e.domainNames, `herd-${e.name}-123.${SIMULATED_REGION}.elb.amazonaws.com`].join(','),
  };
  for (const [key, value] of Object.entries({ ...plain, ...e.appSettings })) {
    cloud.parameters.set(`${names.envPrefix}${key}`, value);
    cloud.parameterDescriptions.set(`${names.envPrefix}${key}`, `herd ${e.name}: app setting ${key}`);
  }
  addSecret(cloud, `herd-${e.name}-cache-auth`, secret('cache-auth'));
  addSecret(cloud, `herd-${e.name}-secret-key`, secret('secret-key'));
  // Web and worker log in as the application user; release and run boots as the owner (the master).
  addSecret(cloud, `herd-${e.name}-db-app`, secret('db-app'));
  const references = { DATABASE_USER: `${secret('db-app')}#username`, DATABASE_PASSWORD: `${secret('db-app')}#password`, REDIS_PASSWORD: secret('cache-auth'), SECRET_KEY: secret('secret-key') };
  for (const [key, reference] of Object.entries(references)) cloud.parameters.set(`${names.secretEnvPrefix}${key}`, reference);
  const owner = { DATABASE_USER: `${dbSecret}#username`, DATABASE_PASSWORD: `${dbSecret}#password` };
  for (const [key, reference] of Object.entries(owner)) cloud.parameters.set(`${names.secretEnvOwnerPrefix}${key}`, reference);
}
