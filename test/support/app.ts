import { App, Validations } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { AwsSolutionsChecks } from 'cdk-nag';
import { resolveConfig } from '../../lib/config/validate';
import type { HerdConfig, HerdSettings } from '../../lib/config/types';
import { EnvironmentStack } from '../../lib/environment-stack';
import { addEnvironments } from '../../lib/herd-app';
import type { ReleaseStateStack } from '../../lib/release-state-stack';
import defaultSettings from '../../herd.config';

export interface SynthesizedApp {
  readonly app: App;
  readonly config: HerdConfig;
  readonly stacks: Record<string, EnvironmentStack>;
  readonly releaseStateStacks: Record<string, ReleaseStateStack>;
  template(env: string): Template;
  releaseStateTemplate(env: string): Template;
}

/**
 * Builds herd's CDK app in-process from `settings` (the default configuration when not
 * given), without bundling Lambda code (construct tests do not need the bundles), with
 * cdk-nag registered as in `bin/app.ts`.
 */
export function buildApp(settings: HerdSettings = defaultSettings, options: { outdir?: string; nag?: boolean } = {}): SynthesizedApp {
  const app = new App({ outdir: options.outdir, context: { 'aws:cdk:bundling-stacks': [] } });
  const config = resolveConfig(settings);
  const added = addEnvironments(app, config);
  const stacks: Record<string, EnvironmentStack> = {};
  const releaseStateStacks: Record<string, ReleaseStateStack> = {};
  for (const [name, pair] of Object.entries(added)) {
    stacks[name] = pair.environment;
    releaseStateStacks[name] = pair.releaseState;
  }
  if (options.nag ?? false) Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
  const templates = new Map<string, Template>();
  const cached = (key: string, stack: () => EnvironmentStack | ReleaseStateStack) => {
    let t = templates.get(key);
    if (!t) {
      t = Template.fromStack(stack());
      templates.set(key, t);
    }
    return t;
  };
  return {
    app,
    config,
    stacks,
    releaseStateStacks,
    template: (env: string) => cached(env, () => stacks[env]),
    releaseStateTemplate: (env: string) => cached(`${env}-release-state`, () => releaseStateStacks[env]),
  };
}
