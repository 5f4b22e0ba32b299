#!/usr/bin/env node
/**
 * The herd CDK app: one `herd-<env>` stack per configured environment.
 *
 * Configuration: `herd.config.ts` at the project root, or another file given with
 * `cdk synth -c herd:config=path/to/config.{ts,json}`. An invalid configuration stops
 * here, listing every problem, before any template is written.
 */
import { App, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { ConfigError } from '../lib/config/validate';
import { loadConfig } from '../lib/config/load';
import { EnvironmentStack } from '../lib/environment-stack';
import { peerEnvironments, stackName } from '../lib/names';

const app = new App();
const configPath: unknown = app.node.tryGetContext('herd:config');

let config;
try {
  config = loadConfig(typeof configPath === 'string' ? configPath : undefined);
} catch (e) {
  if (e instanceof ConfigError || e instanceof Error) {
    process.stderr.write(`${e.message}\n`);
    process.exit(1);
  }
  throw e;
}

for (const environment of config.environments) {
  new EnvironmentStack(app, stackName(environment.name), {
    app: config.app,
    config: environment,
    peerEnvironments: peerEnvironments(config.environments.map((e) => e.name), environment.name),
    description: `herd: the ${environment.name} environment of ${config.app}`,
    env: environment.account ? { account: environment.account, region: environment.region } : undefined,
  });
}
Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
app.synth();
