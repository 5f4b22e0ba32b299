/**
 * The maintenance page: an ALB listener rule at the environment's reserved priority that
 * answers every request with a fixed-response 503. The bypass rule (secret header and/or
 * source CIDRs, forwarding to the target group) is permanent and sits at a smaller number,
 * so operators reach the app through it while the page is up.
 *
 * The rule is tagged `herd:deploy=<owner>`: a deploy id, or `manual` when an operator put
 * it up with `herd maintenance on`, and `herd:app`/`herd:environment`. The slot is herd's
 * only when the rule there is herd's (those tags and a fixed response): another rule at that
 * priority is never lifted, replaced or taken for a page. The deploy step and the CLI share
 * these functions.
 */
import {
  AddTagsCommand,
  CreateRuleCommand,
  DeleteRuleCommand,
  DescribeRulesCommand,
  DescribeTagsCommand,
  type Rule,
} from '@aws-sdk/client-elastic-load-balancing-v2';
import { TAGS } from '../../lib/names';
import type { DeployClients } from './clients';
import type { DeployEnvironment } from './environment';
import { MaintenanceOwnedError, NotVisibleYetError } from './errors';
import { readLock } from './lock';

/** Owner tag value of a page put up by an operator rather than a deploy. */
export const MANUAL_OWNER = 'manual';

/** ALB limit on a fixed-response body. */
export const MAX_FIXED_RESPONSE_BYTES = 1024;

/** The page's HTML; throws if it outgrows the ALB limit. */
export function maintenancePageHtml(app: string): string {
  const safe = app.replace(/[^a-z0-9-]/g, '');
  const html =
    '<!doctype html><html lang="en"><head><meta charset="utf-8">' +
    '<meta name="viewport" content="width=device-width,initial-scale=1">' +
    `<title>${safe} - down for maintenance</title>` +
    '<style>body{font-family:system-ui,sans-serif;max-width:36em;margin:15vh auto;padding:0 1em;color:#222}' +
    'h1{font-size:1.6em}</style></head><body>' +
    '<h1>Down for maintenance</h1>' +
    `<p>${safe} is being updated and will be back in a few minutes.</p>` +
    '<p>Please try again shortly.</p></body></html>';
  const bytes = Buffer.byteLength(html, 'utf8');
  if (bytes > MAX_FIXED_RESPONSE_BYTES) {
    throw new Error(`maintenance page is ${bytes} bytes; an ALB fixed response allows at most ${MAX_FIXED_RESPONSE_BYTES}`);
  }
  return html;
}

export interface MaintenanceStatus {
  readonly on: boolean;
  readonly ruleArn?: string;
  /** `herd:deploy` tag of the rule: a deploy id or `manual`. */
  readonly owner?: string;
  /**
   * A rule herd did not create holds the maintenance priority (no `herd:app`/`herd:environment`
   * tags of this environment, or not a fixed response): it is not a page, and herd never
   * lifts, replaces or counts it as one.
   */
  readonly foreignRuleArn?: string;
}

/** The maintenance priority is taken by a rule herd did not create. */
export class MaintenanceSlotTakenError extends Error {
  override readonly name = 'MaintenanceSlotTakenError';
}

type Elbv2 = Pick<DeployClients, 'elbv2'>;

async function findRule(clients: Elbv2, env: DeployEnvironment): Promise<Rule | undefined> {
  let marker: string | undefined;
  do {
    const res = await clients.elbv2.send(new DescribeRulesCommand({ ListenerArn: env.loadBalancer.listenerArn, Marker: marker, PageSize: 100 }));
    const rule = (res.Rules ?? []).find((r) => r.Priority === String(env.loadBalancer.maintenancePriority));
    if (rule) return rule;
    marker = res.NextMarker;
  } while (marker);
  return undefined;
}

/** Whether the page is up, and who put it up. */
export async function maintenanceStatus(clients: Elbv2, env: DeployEnvironment): Promise<MaintenanceStatus> {
  const rule = await findRule(clients, env);
  if (!rule?.RuleArn) return { on: false };
  const res = await clients.elbv2.send(new DescribeTagsCommand({ ResourceArns: [rule.RuleArn] }));
  const tags = new Map((res.TagDescriptions?.[0]?.Tags ?? []).map((t) => [t.Key, t.Value]));
  const herds = tags.get(TAGS.app) === env.app && tags.get(TAGS.environment) === env.env && tags.has(TAGS.deploy);
  const page = (rule.Actions ?? []).some((a) => a.Type === 'fixed-response');
  if (!herds || !page) return { on: false, foreignRuleArn: rule.RuleArn };
  const owner = tags.get(TAGS.deploy);
  return { on: true, ruleArn: rule.RuleArn, ...(owner !== undefined ? { owner } : {}) };
}

function slotTaken(env: DeployEnvironment, ruleArn: string): MaintenanceSlotTakenError {
  return new MaintenanceSlotTakenError(
    `priority ${env.loadBalancer.maintenancePriority} of the listener of ${env.env} holds rule ${ruleArn}, which herd did not create; ` +
      `herd puts its maintenance page at that priority and changes nothing while another rule holds it: move that rule to a priority of 100 or more (aws elbv2 set-rule-priorities)`,
  );
}

/**
 * Puts the page up unless it is up already (idempotent). Returns the status found before:
 * `on: true` with an owner other than `owner` means someone else's page was already up.
 */
export async function maintenanceOn(clients: Elbv2, env: DeployEnvironment, owner: string): Promise<MaintenanceStatus> {
  const before = await maintenanceStatus(clients, env);
  if (before.foreignRuleArn) throw slotTaken(env, before.foreignRuleArn);
  if (before.on) return before;
  try {
    await clients.elbv2.send(
      new CreateRuleCommand({
        ListenerArn: env.loadBalancer.listenerArn,
        Priority: env.loadBalancer.maintenancePriority,
        Conditions: [{ Field: 'path-pattern', PathPatternConfig: { Values: ['/*'] } }],
        Actions: [
          {
            Type: 'fixed-response',
            FixedResponseConfig: { StatusCode: '503', ContentType: 'text/html', MessageBody: maintenancePageHtml(env.app) },
          },
        ],
        Tags: [
          { Key: TAGS.app, Value: env.app },
          { Key: TAGS.environment, Value: env.env },
          { Key: TAGS.deploy, Value: owner },
        ],
      }),
    );
  } catch (err) {
    // A rule holds the priority though our read found none: someone created it between our read
    // and our write, or it was created seconds ago and DescribeRules does not list it yet (the
    // ELB API is eventually consistent). Report theirs, refuse a foreign one, or try again.
    if (err instanceof Error && err.name === 'PriorityInUseException') {
      const now = await maintenanceStatus(clients, env);
      if (now.foreignRuleArn) throw slotTaken(env, now.foreignRuleArn);
      if (!now.on) {
        throw new NotVisibleYetError(
          `priority ${env.loadBalancer.maintenancePriority} of the listener of ${env.env} is in use, but DescribeRules does not list a rule there yet`,
        );
      }
      return now;
    }
    throw err;
  }
  return { on: false };
}

/**
 * Makes a deploy's page the operator's (`herd maintenance on` while a deploy's page is up):
 * re-tagged `manual`, it stays up when that deploy ends, until `herd maintenance off`.
 */
export async function takeOverPage(clients: Elbv2, status: MaintenanceStatus): Promise<void> {
  if (!status.on || !status.ruleArn) return;
  await clients.elbv2.send(new AddTagsCommand({ ResourceArns: [status.ruleArn], Tags: [{ Key: TAGS.deploy, Value: MANUAL_OWNER }] }));
}

/**
 * A deploy lifts its own page only: one an operator put up, or took over during the deploy,
 * stays up. Returns the status found (its owner says whose page stayed).
 */
export async function liftOwnPage(clients: Pick<DeployClients, 'elbv2' | 'dynamodb'>, env: DeployEnvironment, deployId: string): Promise<MaintenanceStatus> {
  const status = await maintenanceStatus(clients, env);
  if (status.on && status.owner === deployId) await maintenanceOff(clients, env, { deployId });
  return status;
}

export interface MaintenanceOffOptions {
  /** The deploy lifting its own page; a running deploy's page is only lifted by itself or with `force`. */
  readonly deployId?: string;
  readonly force?: boolean;
}

/**
 * Lifts the page (idempotent). Refuses, unless forced, to lift a page that a deploy still
 * holding the environment's lock put up.
 */
export async function maintenanceOff(
  clients: Pick<DeployClients, 'elbv2' | 'dynamodb'>,
  env: DeployEnvironment,
  options: MaintenanceOffOptions = {},
): Promise<MaintenanceStatus> {
  const status = await maintenanceStatus(clients, env);
  if (!status.on || !status.ruleArn) return status;
  if (!options.force && status.owner !== undefined && status.owner !== MANUAL_OWNER && status.owner !== options.deployId) {
    const lock = await readLock(clients, env.tableName);
    if (lock && lock.deployId === status.owner) {
      throw new MaintenanceOwnedError(
        `the maintenance page of ${env.env} belongs to running deploy ${lock.deployId} (${lock.actor}, since ${lock.since}); ` +
          `it comes down when that deploy ends, or lift it anyway with \`herd maintenance off ${env.env} --force\``,
      );
    }
  }
  try {
    await clients.elbv2.send(new DeleteRuleCommand({ RuleArn: status.ruleArn }));
  } catch (err) {
    if (!(err instanceof Error && err.name === 'RuleNotFoundException')) throw err;
  }
  return status;
}
