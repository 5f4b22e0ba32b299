#!/usr/bin/env node
/**
 * The herd CDK app: per configured environment, the `herd-<env>` stack and the
 * `herd-<env>-release-state` stack it depends on.
 *
 * Configuration: the file given with `cdk synth -c herd:config=path/to/config.{ts,json}`, else
 * the one the CLI uses (`HERD_CONFIG`, else the nearest `herd.config.ts`: `findConfigFile`).
 * An invalid configuration stops here, listing every problem, before any template is written.
 */
import { App } from 'aws-cdk-lib';
import { ConfigError } from '../lib/config/validate';
import { findConfigFile, loadConfig } from '../lib/config/load';
import { addEnvironments } from '../lib/herd-app';
import { addPolicyChecks } from '../lib/policy-checks';

const app = new App();
const configPath: unknown = app.node.tryGetContext('herd:config');

let config;
try {
  config = loadConfig(typeof configPath === 'string' ? configPath : findConfigFile());
} catch (e) {
  if (e instanceof ConfigError || e instanceof Error) {
    process.stderr.write(`${e.message}\n`);
    process.exit(1);
  }
  throw e;
}

addEnvironments(app, config);
addPolicyChecks(app);
app.synth();
