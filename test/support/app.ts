import * as fs from 'fs';
import * as path from 'path';
import { App } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { resolveConfig } from '../../lib/config/validate';
import type { HerdConfig, HerdSettings } from '../../lib/config/types';
import { EnvironmentStack } from '../../lib/environment-stack';
import { addEnvironments } from '../../lib/herd-app';
import { addPolicyChecks } from '../../lib/policy-checks';
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
 * the policy checks (cdk-nag, cfn-guard) registered as in `bin/app.ts` when `nag` is set.
 * With `cdkJson`, the app gets cdk.json's context (its feature flags) as `cdk synth` gives
 * it: the templates are the ones deployed, byte for byte but for asset hashes.
 */
export function buildApp(settings: HerdSettings = defaultSettings, options: { outdir?: string; nag?: boolean; cdkJson?: boolean } = {}): SynthesizedApp {
  const flags = options.cdkJson ? cdkJsonContext() : {};
  const app = new App({
    outdir: options.outdir,
    context: { ...flags, 'aws:cdk:bundling-stacks': [] },
    // aws-cdk-lib's built-in CloudFormation validation (a WebAssembly linter whose start
    // costs ≈ 8 s of CPU in every process) only warns unless cdk.json turns on
    // `@aws-cdk/core:validateAgainstDefaultRules`, which it does not: it cannot fail a
    // construct test. It runs with the policy checks, as in `cdk synth` (compliance.test.ts).
    // https://docs.aws.amazon.com/cdk/api/v2/docs/aws-cdk-lib.AppProps.html (builtinCloudFormationValidation)
    builtinCloudFormationValidation: options.nag ?? false,
  });
  const config = resolveConfig(settings);
  const added = addEnvironments(app, config);
  const stacks: Record<string, EnvironmentStack> = {};
  const releaseStateStacks: Record<string, ReleaseStateStack> = {};
  for (const [name, pair] of Object.entries(added)) {
    stacks[name] = pair.environment;
    releaseStateStacks[name] = pair.releaseState;
  }
  if (options.nag ?? false) addPolicyChecks(app);
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

/** The `context` of the repository's cdk.json (the feature flags `cdk synth` runs with). */
function cdkJsonContext(): Record<string, unknown> {
  const cdkJson: unknown = JSON.parse(fs.readFileSync(path.join(__dirname, '..', '..', 'cdk.json'), 'utf8'));
  const context = (cdkJson as { context?: unknown }).context;
  if (typeof context !== 'object' || context === null) throw new Error('cdk.json has no "context" object');
  return context as Record<string, unknown>;
}
