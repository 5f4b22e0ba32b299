/**
 * Rotating the maintenance bypass value (`herd maintenance rotate-bypass <env>`). The value
 * lives in two places: the secret operators read it from (`MaintenanceBypassSecretArn`) and
 * the `X-Herd-Bypass` condition of the listener rule at `BYPASS_HEADER_PRIORITY`, which
 * CloudFormation filled from the secret. Three steps, so that an operator mid-check never
 * holds a value the rule refuses:
 *
 * 1. ModifyRule: the rule accepts the stored value and the new one;
 * 2. PutSecretValue: the secret holds the new one (it becomes `AWSCURRENT`, which is what the
 *    template's versionless `{{resolve:secretsmanager:…}}` reads whenever CloudFormation next
 *    updates the rule, so a later `cdk deploy` keeps the new value);
 * 3. ModifyRule: the rule accepts only the new value.
 *
 * A run starts from what it reads (the stored value, the rule's values), so a run stopped
 * after any step is finished by running it again: step 1 keeps the stored value (whatever a
 * previous run left) and drops a value no operator could have read. Values are never printed
 * and are replaced in any error before it is shown.
 */
import { DescribeRulesCommand, ModifyRuleCommand, type Rule, type RuleCondition } from '@aws-sdk/client-elastic-load-balancing-v2';
import { GetSecretValueCommand, PutSecretValueCommand } from '@aws-sdk/client-secrets-manager';
import { randomInt } from 'node:crypto';
import { BYPASS_HEADER, BYPASS_HEADER_PRIORITY } from '../names';
import type { AwsClients } from './deps';

/** Length of a bypass value, as the stack generates it (`MaintenanceBypass`: 32 characters, no punctuation). */
export const BYPASS_VALUE_CHARS = 32;
const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

/**
 * A new bypass value: letters and digits only, as the stack's, so that no firewall rule matches
 * it and it needs no quoting in a header or a shell (`randomInt` draws each character uniformly).
 */
export function newBypassValue(): string {
  let value = '';
  for (let i = 0; i < BYPASS_VALUE_CHARS; i++) value += ALPHABET[randomInt(ALPHABET.length)];
  return value;
}

/** The environment has no header bypass rule to rotate. */
export class NoBypassRuleError extends Error {
  override readonly name = 'NoBypassRuleError';
}

/** A rotation stopped after changing something; `message` says what state it left and how to finish. */
export class RotationIncompleteError extends Error {
  override readonly name = 'RotationIncompleteError';
  constructor(message: string, readonly step: 'store' | 'accept-new') {
    super(message);
  }
}

type Clients = Pick<AwsClients, 'elbv2' | 'secretsManager'>;

interface BypassRule {
  readonly ruleArn: string;
  readonly conditions: readonly RuleCondition[];
  /** The values the header condition accepts. */
  readonly values: readonly string[];
}

const isBypassCondition = (c: RuleCondition) => c.Field === 'http-header' && c.HttpHeaderConfig?.HttpHeaderName?.toLowerCase() === BYPASS_HEADER.toLowerCase();

/** The bypass header rule on `listenerArn` (the rule at its reserved priority with the header condition), if any. */
export async function findBypassRule(clients: Pick<Clients, 'elbv2'>, listenerArn: string): Promise<BypassRule | undefined> {
  let marker: string | undefined;
  do {
    const res = await clients.elbv2.send(new DescribeRulesCommand({ ListenerArn: listenerArn, Marker: marker, PageSize: 100 }));
    const rule: Rule | undefined = (res.Rules ?? []).find((r) => r.Priority === String(BYPASS_HEADER_PRIORITY) && (r.Conditions ?? []).some(isBypassCondition));
    if (rule?.RuleArn) {
      const conditions = rule.Conditions ?? [];
      return { ruleArn: rule.RuleArn, conditions, values: conditions.find(isBypassCondition)?.HttpHeaderConfig?.Values ?? [] };
    }
    marker = res.NextMarker;
  } while (marker);
  return undefined;
}

/** The rule's conditions with the bypass header accepting `values` (others unchanged: ModifyRule replaces the whole list). */
function withValues(rule: BypassRule, values: readonly string[]): RuleCondition[] {
  return rule.conditions.map((c) => (isBypassCondition(c) ? { Field: 'http-header', HttpHeaderConfig: { HttpHeaderName: c.HttpHeaderConfig?.HttpHeaderName ?? BYPASS_HEADER, Values: [...values] } } : c));
}

/** Replaces every value in `err`'s message before it is shown. */
function redacted(err: unknown, values: readonly string[]): unknown {
  if (!(err instanceof Error)) return err;
  let message = err.message;
  for (const v of values) if (v.length > 0) message = message.split(v).join('<bypass value>');
  return message === err.message ? err : Object.assign(new Error(message), { name: err.name });
}

export interface RotationResult {
  readonly ruleArn: string;
  /** A previous rotation had been left part-way (the rule accepted more than the stored value). */
  readonly finishedPrevious: boolean;
  /** The rule did not accept the stored value before (someone changed one of them by hand). */
  readonly storedWasRefused: boolean;
}

/**
 * Rotates the bypass value of the rule on `listenerArn` and the secret `secretArn`.
 * @throws NoBypassRuleError before any change when the listener has no bypass header rule.
 * @throws RotationIncompleteError when a step after the first change fails, saying what state it left.
 */
export async function rotateBypass(clients: Clients, target: { readonly env: string; readonly listenerArn: string; readonly secretArn: string }): Promise<RotationResult> {
  const rule = await findBypassRule(clients, target.listenerArn);
  if (!rule) {
    throw new NoBypassRuleError(
      `the listener of ${target.env} has no ${BYPASS_HEADER} rule at priority ${BYPASS_HEADER_PRIORITY} (${target.listenerArn}); ` +
        'run cdk deploy with maintenance.bypassHeader: true to create it; nothing was changed',
    );
  }
  const stored = (await clients.secretsManager.send(new GetSecretValueCommand({ SecretId: target.secretArn }))).SecretString ?? '';
  let next = newBypassValue();
  while (next === stored || rule.values.includes(next)) next = newBypassValue();
  const secrets = [stored, next, ...rule.values];
  const rerun = `run \`herd maintenance rotate-bypass ${target.env}\` again to finish`;

  // 1. Both values pass. The stored value is what operators hold now; another value the rule
  //    held either was never stored (a run stopped before step 2) or was the value before the
  //    stored one (a run stopped before step 3): nobody reads either from the secret any more.
  //    Had the rule lost the stored value (changed by hand), it keeps one of its own meanwhile.
  //    ELB allows three values per condition ("Condition types for listener rules").
  const storedWasRefused = !rule.values.includes(stored);
  const during = storedWasRefused ? [...rule.values.slice(0, 1), stored, next] : [stored, next];
  try {
    await clients.elbv2.send(new ModifyRuleCommand({ RuleArn: rule.ruleArn, Conditions: withValues(rule, during) }));
  } catch (err) {
    // Nothing changed when ModifyRule fails: it replaces the conditions in one call.
    throw redacted(err, secrets);
  }
  // 2. The secret holds the new value (AWSCURRENT: PutSecretValue without stages moves it there).
  try {
    await clients.secretsManager.send(new PutSecretValueCommand({ SecretId: target.secretArn, SecretString: next }));
  } catch (err) {
    throw new RotationIncompleteError(
      `the bypass rotation of ${target.env} stopped storing the new value (${(redacted(err, secrets) as Error).message ?? String(err)}). ` +
        'The rule accepts both the stored value and the new one, so every operator\'s value still works; ' +
        `the secret holds the previous value (or the new one, if the write landed before the error). Nothing is lost: ${rerun}`,
      'store',
    );
  }
  // 3. Only the new value passes.
  try {
    await clients.elbv2.send(new ModifyRuleCommand({ RuleArn: rule.ruleArn, Conditions: withValues(rule, [next]) }));
  } catch (err) {
    throw new RotationIncompleteError(
      `the bypass rotation of ${target.env} stored the new value but the rule still accepts the previous one too (${(redacted(err, secrets) as Error).message ?? String(err)}). ` +
        `Operators reading the secret get the new value, which works; the previous value keeps working until the rotation finishes: ${rerun}`,
      'accept-new',
    );
  }
  return { ruleArn: rule.ruleArn, finishedPrevious: !storedWasRefused && rule.values.length > 1, storedWasRefused };
}
