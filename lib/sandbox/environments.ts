/**
 * The sandbox's environments: one simulated environment per configured one, as `cdk
 * deploy` leaves it before its first release (`serving: none`: groups at zero, the base
 * image in the launch templates), with the configuration's fleet sizes, instance type,
 * deploy settings, alarm thresholds and image retention, and a database to snapshot — its
 * secret exists, and the stack's `ConfigFingerprint` output is the configuration's (so
 * `herd doctor` finds the environment as a `cdk deploy` of this configuration leaves it).
 */
import { configFingerprint } from '../config/fingerprint';
import type { EnvironmentConfig, HerdConfig } from '../config/types';
import { NO_RELEASE, peerEnvironments, stackName } from '../names';
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
        if (dbSecret) addSecret(environment.world.cloud, `herd-${e.name}-db`, dbSecret);
      }
      return [e.name, environment];
    }),
  );
}
