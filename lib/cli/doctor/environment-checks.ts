/**
 * `herd doctor`'s checks of one environment, in order: its stack (settled, and synthesized
 * from the local configuration), the serving release's parameters and image, the settings
 * and secrets the boot reads, the launch templates the groups launch from, the groups, the
 * targets, the rollback alarms, the lock, the maintenance rule and the last deploys.
 *
 * Groups, targets, lock and maintenance are read once, through `herd status`'s
 * `environmentStatus`, and judged by four checks: when that read fails, those four fail
 * with its error.
 */
import { DescribeStacksCommand } from '@aws-sdk/client-cloudformation';
import { DescribeAlarmsCommand } from '@aws-sdk/client-cloudwatch';
import { DescribeImagesCommand, DescribeLaunchTemplateVersionsCommand } from '@aws-sdk/client-ec2';
import { DescribeSecretCommand } from '@aws-sdk/client-secrets-manager';
import { ListExecutionsCommand } from '@aws-sdk/client-sfn';
import { GetParametersByPathCommand, type Parameter } from '@aws-sdk/client-ssm';
import { configFingerprint } from '../../config/fingerprint';
import { NO_RELEASE, parameterNames, peerEnvironments } from '../../names';
import { environmentStatus, type EnvironmentStatus } from '../commands/status';
import type { AwsClients } from '../deps';
import { fleetsOf, type EnvironmentHandle } from '../environment';
import { readParameter } from '../images';
import { failed, ok, warn, type Check, type CheckOutcome } from './check';

export interface EnvironmentCheckContext {
  readonly handle: EnvironmentHandle;
  readonly now: number;
  /** `herd status`'s view, read once for the checks that share it. */
  status(): Promise<EnvironmentStatus>;
}

/** Deploy executions `herd doctor` looks back on. */
export const RECENT_EXECUTIONS = 5;

const errorText = (err: unknown) => (err instanceof Error ? `${err.name}: ${err.message}` : String(err));

const stack: Check<EnvironmentCheckContext> = {
  name: 'stack',
  async run({ handle }) {
    const res = await handle.clients.cloudFormation.send(new DescribeStacksCommand({ StackName: handle.stackName }));
    const status = res.Stacks?.[0]?.StackStatus ?? 'UNKNOWN';
    const deploy = `npx cdk deploy ${handle.stackName}`;
    if (status.endsWith('_IN_PROGRESS')) {
      return failed(`${handle.stackName} is ${status}: CloudFormation is changing it, and deploys refuse to start until it ends`, `wait for it to end (aws cloudformation describe-stacks --stack-name ${handle.stackName}), then run herd doctor ${handle.name} again`);
    }
    if (status.includes('ROLLBACK') || !status.endsWith('_COMPLETE')) {
      return failed(
        `${handle.stackName} is ${status}: its last change did not apply`,
        `read why in its events (aws cloudformation describe-stack-events --stack-name ${handle.stackName}), fix the cause, then ${deploy}`,
      );
    }
    return ok(`${handle.stackName} is ${status}`);
  },
};

const configuration: Check<EnvironmentCheckContext> = {
  name: 'configuration',
  async run({ handle }) {
    const local = configFingerprint(handle.app, handle.config, peerEnvironments(handle.herdConfig.environments.map((e) => e.name), handle.name));
    const deployed = handle.outputs.configFingerprint;
    const deploy = `npx cdk diff ${handle.stackName} shows what changes, npx cdk deploy ${handle.stackName} applies it`;
    if (!deployed) return warn(`${handle.stackName} has no ConfigFingerprint output (deployed by an older herd): whether it matches herd.config.ts is unknown`, deploy);
    if (deployed !== local) {
      return failed(`herd.config.ts for ${handle.name} changed since ${handle.stackName} was deployed (local fingerprint ${local}, deployed ${deployed})`, deploy);
    }
    return ok(`${handle.stackName} was deployed from the local configuration (fingerprint ${local})`);
  },
};

const release: Check<EnvironmentCheckContext> = {
  name: 'release',
  async run({ handle }) {
    const names = parameterNames(handle.app, handle.name);
    const [current, imageId] = await Promise.all([readParameter(handle.clients, names.currentRelease), readParameter(handle.clients, names.currentImage)]);
    const redeploy = `npx cdk deploy ${handle.stackName} (its release-state stack writes the parameters), then herd deploy ${handle.name} <app directory>`;
    const missing = [current === undefined ? names.currentRelease : undefined, imageId === undefined ? names.currentImage : undefined].filter(Boolean);
    if (missing.length > 0) return failed(`parameter${missing.length === 1 ? '' : 's'} ${missing.join(' and ')} missing: instances cannot boot`, redeploy);
    if (current === NO_RELEASE) return warn(`no release deployed yet (${names.currentRelease} is ${NO_RELEASE})`, `herd deploy ${handle.name} <app directory>`);
    // By filter: a deregistered image is an empty answer, not an error.
    const res = await handle.clients.ec2.send(new DescribeImagesCommand({ Filters: [{ Name: 'image-id', Values: [imageId ?? ''] }] }));
    const image = res.Images?.[0];
    const rebake = `herd deploy ${handle.name} <app directory of release ${current}> --force bakes it again (or herd rollback ${handle.name} to a release whose image exists)`;
    if (!image) return failed(`image ${imageId} of release ${current} does not exist (deregistered?): every instance launched now (scale-out, replacement) fails`, rebake);
    if (image.State !== 'available') return failed(`image ${imageId} of release ${current} is ${image.State}, not available: instances cannot launch from it`, rebake);
    return ok(`release ${current}, image ${imageId} available`);
  },
};

async function parametersUnder(clients: Pick<AwsClients, 'ssm'>, path: string): Promise<Parameter[]> {
  const all: Parameter[] = [];
  let NextToken: string | undefined;
  do {
    const res = await clients.ssm.send(new GetParametersByPathCommand({ Path: path, Recursive: false, MaxResults: 10, ...(NextToken ? { NextToken } : {}) }));
    all.push(...(res.Parameters ?? []));
    NextToken = res.NextToken;
  } while (NextToken);
  return all;
}

const SECRET_ARN = /^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:[^#]+$/;

const bootSettings: Check<EnvironmentCheckContext> = {
  name: 'boot settings',
  async run({ handle }) {
    const names = parameterNames(handle.app, handle.name);
    const [plain, appRefs, ownerRefs] = await Promise.all([
      parametersUnder(handle.clients, names.envPrefix.replace(/\/$/, '')),
      parametersUnder(handle.clients, names.secretEnvPrefix.replace(/\/$/, '')),
      // The database owner's login, which release and run boots render over the application's.
      parametersUnder(handle.clients, names.secretEnvOwnerPrefix.replace(/\/$/, '')),
    ]);
    const secretRefs = [...appRefs.map((p) => ({ p, prefix: names.secretEnvPrefix, label: '' })), ...ownerRefs.map((p) => ({ p, prefix: names.secretEnvOwnerPrefix, label: ' (owner)' }))];
    const problems: string[] = [];
    // Each secret once: the variables naming it, and the database's own.
    const secrets = new Map<string, string[]>([[handle.outputs.databaseSecretArn, ['the database (stack output DatabaseSecretArn)']]]);
    for (const { p, prefix, label } of secretRefs) {
      const variable = `${(p.Name ?? '').slice(prefix.length)}${label}`;
      const arn = (p.Value ?? '').split('#')[0] ?? '';
      if (!SECRET_ARN.test(arn)) {
        problems.push(`${variable}: ${p.Name} holds ${JSON.stringify(p.Value)}, not <secret-arn> or <secret-arn>#<json-key>`);
        continue;
      }
      secrets.set(arn, [...(secrets.get(arn) ?? []), variable]);
    }
    for (const [arn, users] of secrets) {
      try {
        // Described, never read: doctor has no business with a secret's value.
        const d = await handle.clients.secretsManager.send(new DescribeSecretCommand({ SecretId: arn }));
        if (d.DeletedDate) problems.push(`${users.join(', ')}: secret ${arn} is scheduled for deletion (since ${d.DeletedDate.toISOString()})`);
      } catch (err) {
        if (err instanceof Error && err.name === 'ResourceNotFoundException') problems.push(`${users.join(', ')}: secret ${arn} does not exist`);
        else problems.push(`${users.join(', ')}: secret ${arn} cannot be described (${errorText(err)})`);
      }
    }
    if (problems.length > 0) {
      return failed(
        `instances cannot render their environment: ${problems.join('; ')}`,
        `restore the secret (aws secretsmanager restore-secret --secret-id <arn>) or point the variable at one that exists (aws ssm put-parameter --overwrite --name ${names.secretEnvPrefix}<VARIABLE> --value <secret-arn>)`,
      );
    }
    return ok(`${plain.length} setting${plain.length === 1 ? '' : 's'} under ${names.envPrefix}, ${secrets.size} secret${secrets.size === 1 ? '' : 's'} (described, not read) all there`);
  },
};

const launchTemplates: Check<EnvironmentCheckContext> = {
  name: 'launch templates',
  async run({ handle, status }) {
    const s = await status();
    const names = parameterNames(handle.app, handle.name);
    const current = await readParameter(handle.clients, names.currentImage);
    const expected = new Set([`resolve:ssm:${names.currentImage}`, ...(current ? [current] : [])]);
    const problems: string[] = [];
    const fine: string[] = [];
    for (const f of fleetsOf(handle)) {
      const group = s.groups.find((g) => g.role === f.role);
      const ltId = f.role === 'web' ? handle.outputs.webLaunchTemplateId : handle.outputs.workerLaunchTemplateId;
      if (!group?.version) {
        problems.push(`${f.role} group ${f.group} names no launch-template version`);
        continue;
      }
      const res = await handle.clients.ec2.send(new DescribeLaunchTemplateVersionsCommand({ LaunchTemplateId: ltId, Versions: [group.version] }));
      const imageId = res.LaunchTemplateVersions?.[0]?.LaunchTemplateData?.ImageId;
      if (!imageId || !expected.has(imageId)) problems.push(`${f.role} group ${f.group} launches ${ltId} version ${group.version}, whose image is ${imageId ?? 'none'}, not the current image ${current ?? 'unknown'}`);
      else fine.push(`${f.role} ${ltId} v${group.version}`);
    }
    if (problems.length === 0) return ok(`${fine.join(', ')} launch the current image ${current ?? ''}`.trim());
    const detail = `${problems.join('; ')}: a scale-out or replacement launches another release`;
    if (s.lock) return warn(`${detail} (deploy ${s.lock.deployId} is running and swaps launch templates)`, `let it end (herd watch ${handle.name}), then run herd doctor ${handle.name} again`);
    return failed(detail, `the next deploy points the groups back at a version with the serving image (herd deploy ${handle.name} <app directory>); herd status ${handle.name} shows what each instance runs`);
  },
};

const groups: Check<EnvironmentCheckContext> = {
  name: 'groups',
  async run({ handle, status }) {
    const s = await status();
    const failures: string[] = [];
    const fixes: string[] = [];
    const summary: string[] = [];
    for (const g of s.groups) {
      const members = s.instances.filter((i) => i.role === g.role);
      const serving = members.filter((i) => i.lifecycle === 'InService' && i.health === 'Healthy').length;
      summary.push(`${g.role} ${serving}/${g.desired} in service (min ${g.min}, max ${g.max})`);
      if (g.desired < g.min || g.desired > g.max) failures.push(`${g.role} group ${g.name} wants ${g.desired} instances, outside its min ${g.min} and max ${g.max}`);
      if (serving < g.desired && !s.lock) {
        failures.push(`${g.role} group ${g.name} has ${serving} of ${g.desired} instances InService and Healthy`);
        fixes.push(`herd status ${handle.name} shows each instance; herd logs ${handle.name} boot says why one does not come up`);
      }
      const foreign = g.suspended.filter((p) => !(g.heldByDeploy ?? []).includes(p));
      if (foreign.length > 0) {
        failures.push(`${g.role} group ${g.name} has suspended processes ${foreign.join(', ')}: scaling and deploys misbehave`);
        fixes.push(`herd autoscaling resume ${handle.name}`);
      }
    }
    if (!s.lock) {
      for (const r of s.refreshes) {
        const name = s.groups.find((g) => g.role === r.role)?.name ?? r.role;
        failures.push(`instance refresh ${r.id} (${r.status}) runs on ${name} with no herd deploy: deploys refuse to start`);
        fixes.push(`wait for it to end, or cancel it: aws autoscaling cancel-instance-refresh --auto-scaling-group-name ${name}`);
      }
    }
    if (s.refreshError) failures.push(s.refreshError);
    if (failures.length > 0) return failed(failures.join('; '), [...new Set(fixes.length > 0 ? fixes : [`herd status ${handle.name}`])].join('; '));
    return ok(summary.join(', '));
  },
};

const targets: Check<EnvironmentCheckContext> = {
  name: 'targets',
  async run({ handle, status }) {
    const s = await status();
    const web = s.instances.filter((i) => i.role === 'web');
    // A draining target is being deregistered (replaced by a deploy, or scaled in): it fails no
    // health check, and is gone after the deregistration delay. A deploy can end meanwhile.
    const draining = web.filter((i) => i.target === 'draining');
    const bad = web.filter((i) => i.target !== 'healthy' && i.target !== 'draining');
    if (web.length === 0) return warn('no web instance is registered: the site serves nothing', `herd status ${handle.name}; herd deploy ${handle.name} <app directory> if nothing was deployed yet`);
    if (bad.length === 0) {
      const serving = web.length - draining.length;
      return ok(`${serving} web target${serving === 1 ? '' : 's'} healthy${draining.length > 0 ? `, ${draining.length} draining (replaced or scaled in)` : ''}`);
    }
    const detail = `${bad.map((i) => `${i.id} ${i.target ?? 'unknown'}`).join(', ')} (${web.length - bad.length} of ${web.length} healthy)`;
    if (s.lock) return warn(`${detail} while deploy ${s.lock.deployId} replaces instances`, `herd watch ${handle.name}`);
    return failed(detail, `herd logs ${handle.name} --instance ${bad[0]?.id ?? '<id>'} says why it does not answer its health check`);
  },
};

const alarms: Check<EnvironmentCheckContext> = {
  name: 'alarms',
  async run({ handle }) {
    const names = handle.outputs.rollbackAlarms;
    if (names.length === 0) return warn(`${handle.stackName} has no RollbackAlarms output (deployed by an older herd): alarms unknown`, `npx cdk deploy ${handle.stackName}`);
    const res = await handle.clients.cloudWatch.send(new DescribeAlarmsCommand({ AlarmNames: [...names], AlarmTypes: ['MetricAlarm', 'CompositeAlarm'] }));
    const found = new Map([...(res.MetricAlarms ?? []), ...(res.CompositeAlarms ?? [])].map((a) => [a.AlarmName ?? '', a.StateValue ?? 'UNKNOWN']));
    const missing = names.filter((n) => !found.has(n));
    const alarming = names.filter((n) => found.get(n) === 'ALARM');
    const noData = names.filter((n) => found.get(n) === 'INSUFFICIENT_DATA');
    if (missing.length > 0 || alarming.length > 0) {
      const parts = [...alarming.map((n) => `${n} is in ALARM`), ...missing.map((n) => `${n} does not exist`)];
      return failed(`${parts.join('; ')}: deploys refuse to start (and roll back) while a rollback alarm is in ALARM`, missing.length > 0 ? `npx cdk deploy ${handle.stackName} recreates the alarms` : `find the cause in the alarm's metric (aws cloudwatch describe-alarms --alarm-names ${alarming[0]}); the alarm clears when it goes away`);
    }
    if (noData.length > 0) return warn(`${noData.join(', ')} in INSUFFICIENT_DATA (no traffic yet?)`, 'nothing, if the site has no traffic yet; else check that the load balancer receives requests');
    return ok(`${names.length} rollback alarm${names.length === 1 ? '' : 's'} OK`);
  },
};

const lock: Check<EnvironmentCheckContext> = {
  name: 'lock',
  async run({ handle, status }) {
    const l = (await status()).lock;
    if (!l) return ok('free');
    const holder = `deploy ${l.deployId} (release ${l.release}, by ${l.actor} since ${l.since})`;
    if (l.needsAttention) return failed(`held by ${holder}, which needs attention: ${l.needsAttention}`, `fix the cause, then herd repair ${handle.name}`);
    const st = l.status ?? '';
    if (/^RUNNING/.test(st) || st === 'starting') return ok(`held by running ${holder}`);
    if (/waiting for the reaper/.test(st)) return warn(`held by ${holder}: ${st}`, `herd watch ${handle.name} follows the resume`);
    const why = /^no such execution/.test(st) ? 'but Step Functions has no execution of it (a stale lock)' : `whose execution ended ${st || 'in an unknown state'}`;
    return failed(`held by ${holder}, ${why}: deploys refuse to start`, `herd unlock ${handle.name} --deploy ${l.deployId}`);
  },
};

const maintenance: Check<EnvironmentCheckContext> = {
  name: 'maintenance',
  async run({ handle, status }) {
    const s = await status();
    const m = s.maintenance;
    if (m.foreignRuleArn) {
      return failed(`rule ${m.foreignRuleArn} holds the maintenance page's priority ${handle.outputs.maintenancePriority}: herd cannot put the page up`, `move that rule to a priority of 100 or more (aws elbv2 set-rule-priorities)`);
    }
    if (!m.on) return ok('page down');
    if (s.lock && m.owner === s.lock.deployId) return ok(`page up, held by running deploy ${s.lock.deployId}`);
    return warn(`page up (owner ${m.owner ?? 'unknown'}) with no deploy holding it: the site answers the maintenance page`, `herd maintenance off ${handle.name} when the work is done`);
  },
};

const deploys: Check<EnvironmentCheckContext> = {
  name: 'deploys',
  async run({ handle }) {
    const res = await handle.clients.sfn.send(new ListExecutionsCommand({ stateMachineArn: handle.outputs.deployStateMachineArn, maxResults: RECENT_EXECUTIONS }));
    const executions = res.executions ?? [];
    const ended = executions.filter((x) => x.status !== 'RUNNING' && x.status !== 'PENDING_REDRIVE');
    const last = ended[0];
    const running = executions.filter((x) => x.status === 'RUNNING').length;
    const runningText = running > 0 ? `; ${running} running` : '';
    if (!last) return ok(`no finished deploy among the last ${RECENT_EXECUTIONS}${runningText}`);
    const when = last.stopDate ? ` at ${last.stopDate.toISOString()}` : '';
    if (last.status === 'SUCCEEDED') return ok(`last deploy ${last.name} succeeded${when}${runningText}`);
    return warn(`last deploy ${last.name} ended ${last.status}${when}, and no deploy succeeded since${runningText}`, `herd history ${handle.name} says why; the next successful deploy clears this`);
  },
};

/** The environment's checks, in the order doctor runs them. */
export const ENVIRONMENT_CHECKS: readonly Check<EnvironmentCheckContext>[] = [stack, configuration, release, bootSettings, launchTemplates, groups, targets, alarms, lock, maintenance, deploys];

/** `EnvironmentCheckContext` of `handle`: `environmentStatus` read at most once. */
export function environmentCheckContext(handle: EnvironmentHandle, now: number): EnvironmentCheckContext {
  let pending: Promise<EnvironmentStatus> | undefined;
  return { handle, now, status: () => (pending ??= environmentStatus(handle, now)) };
}

export type { CheckOutcome };
