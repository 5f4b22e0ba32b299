import { App, Validations } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { AwsSolutionsChecks } from 'cdk-nag';
import { resolveConfig } from '../../lib/config/validate';
import type { HerdConfig, HerdSettings } from '../../lib/config/types';
import { EnvironmentStack } from '../../lib/environment-stack';
import { peerEnvironments, stackName } from '../../lib/names';
import defaultSettings from '../../herd.config';

export interface SynthesizedApp {
  readonly app: App;
  readonly config: HerdConfig;
  readonly stacks: Record<string, EnvironmentStack>;
  template(env: string): Template;
}

/**
 * Builds herd's CDK app in-process from `settings` (the default configuration when not
 * given), without bundling Lambda code (construct tests do not need the bundles), with
 * cdk-nag registered as in `bin/app.ts`.
 */
export function buildApp(settings: HerdSettings = defaultSettings, options: { outdir?: string; nag?: boolean } = {}): SynthesizedApp {
  const app = new App({ outdir: options.outdir, context: { 'aws:cdk:bundling-stacks': [] } });
  const config = resolveConfig(settings);
  const stacks: Record<string, EnvironmentStack> = {};
  for (const environment of config.environments) {
    stacks[environment.name] = new EnvironmentStack(app, stackName(environment.name), {
      app: config.app,
      config: environment,
      peerEnvironments: peerEnvironments(config.environments.map((e) => e.name), environment.name),
      env: environment.account ? { account: environment.account, region: environment.region } : undefined,
    });
  }
  if (options.nag ?? false) Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
  const templates = new Map<string, Template>();
  return {
    app,
    config,
    stacks,
    template(env: string): Template {
      let t = templates.get(env);
      if (!t) {
        t = Template.fromStack(stacks[env]);
        templates.set(env, t);
      }
      return t;
    },
  };
}
