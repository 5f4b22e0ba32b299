#!/usr/bin/env node
/**
 * The herd CDK app: per configured environment, the `herd-<env>` stack and the
 * `herd-<env>-release-state` stack it depends on.
 *
 * Configuration: `herd.config.ts` at the project root, or another file given with
 * `cdk synth -c herd:config=path/to/config.{ts,json}`. An invalid configuration stops
 * here, listing every problem, before any template is written.
 */
import { App, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { ConfigError } from '../lib/config/validate';
import { loadConfig } from '../lib/config/load';
import { addEnvironments } from '../lib/herd-app';

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

addEnvironments(app, config);
Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
app.synth();
