/**
 * `herd plan <env> [release]`: predicts a deploy before it runs. Reads the environment's
 * real fleet sizes (DescribeAutoScalingGroups via the stack outputs) and settings (the
 * configuration), its deploy history (timings), whether the release's image exists
 * (DescribeImages by `herd:app`/`herd:release`), then runs the deploy step's own logic
 * against the fake cloud (`lib/plan/`) and prints the predicted timeline with a Gantt chart.
 * A named release that has neither an image nor an artifact is refused (exit 2) with the
 * deploy pre-flight's `release` message: there is nothing such a deploy could do.
 */
import { DescribeAutoScalingGroupsCommand, type AutoScalingGroup } from '@aws-sdk/client-auto-scaling';
import { RELEASE_ID_PATTERN } from '../../release-id';
import type { Command } from 'commander';
import { writeFileSync } from 'node:fs';
import type { DeployStrategy } from '../../config/types';
import { DEPLOY_STRATEGIES } from '../../config/types';
import { NO_RELEASE, TAGS } from '../../names';
import { InvalidPlanInputError, planDeploy, type DeployPlan, type PlanInput } from '../../plan/model';
import { preflight, type PreflightProblem } from '../../../lambda/deploy/preflight';
import { ganttChart, planSummary, planSvg } from '../../plan/render';
import { timingsFromConfig } from '../../plan/timings';
import type { CliDeps } from '../deps';
import { resolveEnvironment, type EnvironmentHandle } from '../environment';
import { CliError } from '../errors';
import { readHistory } from '../history';
import { currentRelease, releaseImages, tagOf } from '../images';
import { JSON_OPTION, writeJson } from '../output';

export interface PlanOptions {
  readonly strategy?: string;
  readonly json?: boolean;
  readonly svg?: string;
}


function parseStrategy(value: string | undefined): DeployStrategy | undefined {
  if (value === undefined) return undefined;
  if (!(DEPLOY_STRATEGIES as readonly string[]).includes(value)) {
    throw new CliError(`--strategy must be one of ${DEPLOY_STRATEGIES.join(', ')} (received "${value}")`);
  }
  return value as DeployStrategy;
}

function sizeOf(group: AutoScalingGroup | undefined, name: string, role: string, stack: string) {
  if (!group) throw new CliError(`Auto Scaling group ${name} (${role}) not found; run npx cdk deploy ${stack}`);
  return { desired: group.DesiredCapacity ?? 0, min: group.MinSize ?? 0, max: group.MaxSize ?? 0 };
}

/** Everything `planDeploy` needs, read from the environment. */
export async function planInputOf(handle: EnvironmentHandle, release: string | undefined, strategy: DeployStrategy | undefined): Promise<PlanInput> {
  const { clients, outputs, config } = handle;
  if (release !== undefined && !RELEASE_ID_PATTERN.test(release)) {
    throw new CliError(`release must match ${RELEASE_ID_PATTERN} (received "${release}")`);
  }
  const names = [outputs.webAutoScalingGroup, outputs.workerAutoScalingGroup];
  const [groupsRes, history, serving, images] = await Promise.all([
    clients.autoScaling.send(new DescribeAutoScalingGroupsCommand({ AutoScalingGroupNames: names })),
    readHistory(clients, outputs.deployTableName),
    currentRelease(clients, handle.app, handle.name),
    release !== undefined ? releaseImages(clients, handle.app, release) : Promise.resolve([]),
  ]);
  const groups = new Map((groupsRes.AutoScalingGroups ?? []).map((g) => [g.AutoScalingGroupName ?? '', g]));
  const web = sizeOf(groups.get(outputs.webAutoScalingGroup), outputs.webAutoScalingGroup, 'web', handle.stackName);
  const worker = sizeOf(groups.get(outputs.workerAutoScalingGroup), outputs.workerAutoScalingGroup, 'worker', handle.stackName);
  const image = images[0];
  const processes = image ? tagOf(image, TAGS.processes) : undefined;
  return {
    app: handle.app,
    env: handle.name,
    ...(release !== undefined ? { release } : {}),
    serving: serving ?? NO_RELEASE,
    fleets: { web, worker },
    configured: { web: { min: config.web.minCapacity, max: config.web.maxCapacity }, worker: { min: config.worker.minCapacity, max: config.worker.maxCapacity } },
    deploy: config.deploy,
    ...(strategy ? { strategy } : {}),
    imageExists: image !== undefined,
    // An image without the tag, or a release not baked yet: the runner decides, so plan for migrations.
    releaseCommand: processes === undefined || processes.split(' ').includes('release'),
    database: true,
    alarms: handle.deploy.alarmNames,
    timings: timingsFromConfig(config),
    // Bake-only runs (`herd bake`) count for the bake time only (lib/plan/timings.ts historyMedians).
    history,
  };
}

/** What `herd deploy` would say before starting: the pre-flight's problems, or that it would start. */
function preflightLines(env: string, release: string | undefined, problems: readonly PreflightProblem[], servesAlready: boolean): string {
  if (servesAlready) return `pre-flight: release ${release} already serves on ${env}: a deploy would do nothing (--force replaces every instance)\n`;
  if (problems.length === 0) return 'pre-flight: ok (no suspended process, no refresh running, no rollback alarm in ALARM, the release can be baked or reused)\n';
  return `pre-flight: a deploy would be refused now:\n${problems.map((p) => `  - ${p.message}`).join('\n')}\n`;
}

export async function runPlan(deps: CliDeps, env: string, release: string | undefined, options: PlanOptions): Promise<DeployPlan> {
  const strategy = parseStrategy(options.strategy);
  const handle = await resolveEnvironment(deps, env);
  const input = await planInputOf(handle, release, strategy);
  // The deploy step's own pre-flight, against the real environment (read-only calls).
  const { problems } = await preflight(handle.context, {
    app: handle.app,
    release: release ?? 'next',
    ...(release !== undefined ? { artifactKey: `${handle.deploy.artifacts.artifactPrefix}${release}.tar.gz` } : {}),
  });
  // A release with neither an image nor an artifact cannot be deployed: no prediction for it.
  const missing = problems.find((p) => p.check === 'release');
  if (missing) throw new CliError(`no plan for release ${release ?? 'next'} on ${env}: ${missing.message}`);
  let plan: DeployPlan;
  try {
    plan = await planDeploy(input);
  } catch (err) {
    if (err instanceof InvalidPlanInputError) throw new CliError(err.message);
    throw err;
  }
  const title = `herd plan ${env}${release ? ` ${release}` : ' (a new release)'}`;
  const servesAlready = release !== undefined && input.serving === release;
  if (options.svg) writeFileSync(options.svg, planSvg(plan, title));
  if (options.json) {
    writeJson(deps.out, { ...plan, preflight: { problems: problems.map((p) => p.message), ...(servesAlready ? { servesAlready: true } : {}) } });
  } else {
    deps.out.write(`${planSummary(plan, title)}\n\n${ganttChart(plan)}\n`);
    if (options.svg) deps.out.write(`\ntimeline written to ${options.svg}\n`);
    deps.out.write(`\n${preflightLines(env, release, problems, servesAlready)}`);
  }
  return plan;
}

export function register(program: Command, deps: CliDeps): void {
  program
    .command('plan')
    .description('predict a deploy before it runs: timeline, total, maintenance window, minimum healthy capacity, AWS calls')
    .argument('<env>', 'environment (herd.config.ts)')
    .argument('[release]', 'release id to deploy (default: a new release, baked by the deploy)')
    .option('--strategy <strategy>', `deploy strategy: ${DEPLOY_STRATEGIES.join(' or ')} (default: the environment's)`)
    .option(...JSON_OPTION)
    .option('--svg <file>', 'also write the timeline as an SVG picture')
    .addHelpText(
      'after',
      [
        '',
        'Examples:',
        '  $ herd plan production                       # a new release, the configured strategy',
        '  $ herd plan production v42-3f9c0a1b2c3d --strategy full --svg plan.svg',
        '',
        "Timing parameters come from the environment's deploy history (median per phase) when",
        'it has some, otherwise from documented defaults; the output says which.',
      ].join('\n'),
    )
    .action(async (env: string, release: string | undefined, options: PlanOptions) => {
      await runPlan(deps, env, release, options);
    });
}
