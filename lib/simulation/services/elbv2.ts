/**
 * Elastic Load Balancing v2 in the fake cloud: target groups health-check their targets
 * (a new target needs `initialHealthyChecks` passes, then the healthy/unhealthy thresholds),
 * deregistering targets drain for the deregistration delay; listener rules (the maintenance
 * page) and their tags.
 *
 * `registerElbv2` registers the ELBv2 API handlers on the cloud; `tickTargetGroups` moves
 * every target group one virtual second (FakeCloud.tick calls it last).
 */
import * as elb from '@aws-sdk/client-elastic-load-balancing-v2';
import type { FakeCloud } from '../fake-cloud';
import type { Rule, Target } from '../model';
import { fail, pad, tagList, tagsFrom } from './common';
import { releaseOfInstance } from './ec2';

// ---------------------------------------------------------------- processes

/** Every target group health-checks and drains its targets (one virtual second). */
export function tickTargetGroups(cloud: FakeCloud, now: number): void {
  for (const [arn, targets] of cloud.targetGroups) tickTargets(cloud, targets, now, cloud.targetGroupInUse(arn));
}

/**
 * One second of a target group: a health check on each target's interval (only in a group a
 * listener forwards to: the others' targets are `unused`); draining targets leave after the
 * deregistration delay.
 */
function tickTargets(cloud: FakeCloud, targets: Map<string, Target>, now: number, inUse: boolean): void {
  const t = cloud.timings;
  for (const target of targets.values()) {
    if (target.state === 'draining') {
      if (now - (target.drainingAt ?? now) >= t.deregistrationDelaySeconds * 1000) targets.delete(target.id);
      continue;
    }
    if (!inUse) continue;
    const since = Math.round((now - target.registeredAt) / 1000);
    if (since === 0 || since % t.healthCheckIntervalSeconds !== 0) continue;
    if (cloud.appHealthy(target.id, now)) {
      target.passes += 1;
      target.fails = 0;
      const need = target.state === 'initial' ? t.initialHealthyChecks : t.healthyThreshold;
      if (target.passes >= need) target.state = 'healthy';
    } else {
      target.fails += 1;
      target.passes = 0;
      if (target.fails >= t.unhealthyThreshold) target.state = 'unhealthy';
    }
  }
}

/** The `Description` ELB gives each failing health check `Reason`. */
const DESCRIPTIONS: Record<string, string> = {
  'Target.ResponseCodeMismatch': 'Health checks failed with these codes: [502]',
  'Target.Timeout': 'Request timed out',
  'Target.FailedHealthChecks': 'Health checks failed',
};

/**
 * `TargetHealth.Reason` and `Description` of a target that is not healthy, as the ELBv2 API
 * reference (TargetHealth) lists them: `Elb.RegistrationInProgress` while a new target waits
 * for its first checks, `Target.DeregistrationInProgress` while it drains, and for a failing
 * check why it failed: a `neverHealthy` release's `unhealthyReason` (default: its app answers
 * 502, `Target.ResponseCodeMismatch`), `Target.Timeout` for an instance that no longer runs,
 * `Target.FailedHealthChecks` for an app not answering yet. A healthy target has neither.
 */
function reasonOf(cloud: FakeCloud, t: Target): { Reason?: elb.TargetHealthReasonEnum; Description?: string } {
  if (t.state === 'healthy') return {};
  if (t.state === 'initial') return { Reason: 'Elb.RegistrationInProgress', Description: 'Target registration is in progress' };
  if (t.state === 'draining') return { Reason: 'Target.DeregistrationInProgress', Description: 'Target deregistration is in progress' };
  const i = cloud.instances.get(t.id);
  const behaviour = cloud.behaviour(i ? releaseOfInstance(cloud, i) : undefined);
  const reason = !i || i.state !== 'running' ? 'Target.Timeout' : behaviour.neverHealthy ? (behaviour.unhealthyReason ?? 'Target.ResponseCodeMismatch') : 'Target.FailedHealthChecks';
  return { Reason: reason, Description: DESCRIPTIONS[reason] ?? 'Health checks failed' };
}

// ---------------------------------------------------------------- API

/**
 * Listener rule condition limits (Elastic Load Balancing, Application Load Balancers, "Condition
 * types for listener rules"): at least one condition, at most one of host-header,
 * http-request-method, path-pattern and source-ip; up to three match evaluations (values) per
 * condition and five per rule; an http-header name of at most 40 characters; each value at most
 * 128 characters and not empty.
 */
export const RULE_LIMITS = { valuesPerCondition: 3, valuesPerRule: 5, headerNameChars: 40, valueChars: 128 } as const;

function checkConditions(conditions: readonly elb.RuleCondition[]): void {
  if (conditions.length === 0) fail('ValidationError', 'A rule needs at least one condition');
  let total = 0;
  const once = new Set<string>();
  for (const c of conditions) {
    const field = c.Field ?? '';
    if (['host-header', 'http-request-method', 'path-pattern', 'source-ip'].includes(field)) {
      if (once.has(field)) fail('ValidationError', `A rule can have at most one '${field}' condition`);
      once.add(field);
    }
    const values =
      field === 'http-header' ? c.HttpHeaderConfig?.Values
        : field === 'source-ip' ? c.SourceIpConfig?.Values
          : field === 'path-pattern' ? (c.PathPatternConfig?.Values ?? c.Values)
            : field === 'host-header' ? (c.HostHeaderConfig?.Values ?? c.Values)
              : field === 'http-request-method' ? c.HttpRequestMethodConfig?.Values
                : field === 'query-string' ? c.QueryStringConfig?.Values?.map((v) => `${v.Key ?? ''}=${v.Value ?? ''}`)
                  : fail('ValidationError', `Condition field '${field}' is not supported`);
    if (field === 'http-header') {
      const name = c.HttpHeaderConfig?.HttpHeaderName ?? '';
      if (name.length === 0 || name.length > RULE_LIMITS.headerNameChars) fail('ValidationError', `An HTTP header name must be 1 to ${RULE_LIMITS.headerNameChars} characters long`);
    }
    if (!values || values.length === 0) fail('ValidationError', `A '${field}' condition needs at least one value`);
    if (values.length > RULE_LIMITS.valuesPerCondition) fail('ValidationError', `A condition can have at most ${RULE_LIMITS.valuesPerCondition} values (received ${values.length})`);
    for (const v of values) {
      if (v.length === 0 || v.length > RULE_LIMITS.valueChars) fail('ValidationError', `A condition value must be 1 to ${RULE_LIMITS.valueChars} characters long`);
    }
    total += values.length;
  }
  if (total > RULE_LIMITS.valuesPerRule) fail('ValidationError', `A rule can have at most ${RULE_LIMITS.valuesPerRule} condition values in total (received ${total})`);
}

/** Registers the ELBv2 API handlers on `cloud`. */
export function registerElbv2(cloud: FakeCloud): void {
  cloud.on('elbv2', elb.DescribeTargetHealthCommand, (input) => {
    const targets = cloud.targetGroups.get(input.TargetGroupArn ?? '');
    if (!targets) fail('TargetGroupNotFoundException', `Target group '${input.TargetGroupArn}' not found`);
    const inUse = cloud.targetGroupInUse(input.TargetGroupArn ?? '');
    return {
      TargetHealthDescriptions: [...targets.values()].map((t) => ({
        Target: { Id: t.id, Port: 8000 },
        TargetHealth: inUse || t.state === 'draining'
          ? { State: t.state as elb.TargetHealthStateEnum, ...reasonOf(cloud, t) }
          : { State: 'unused' as const, Reason: 'Target.NotInUse' as const, Description: 'Target group is not configured to receive traffic from the load balancer' },
      })),
    };
  });

  // RegisterTargets/DeregisterTargets (ELBv2 API reference): registering a registered target
  // changes nothing; a deregistered target drains for the group's deregistration delay.
  cloud.on('elbv2', elb.RegisterTargetsCommand, (input) => {
    const targets = cloud.targetGroups.get(input.TargetGroupArn ?? '');
    if (!targets) fail('TargetGroupNotFoundException', `Target group '${input.TargetGroupArn}' not found`);
    const list = input.Targets ?? [];
    if (list.length === 0) fail('ValidationError', 'Targets must name at least one target');
    for (const { Id } of list) {
      const i = cloud.instances.get(Id ?? '');
      if (!i || (i.state !== 'running' && i.state !== 'pending')) fail('InvalidTargetException', `The following targets are not in a running state and cannot be registered: '${Id}'`);
    }
    for (const { Id } of list) {
      const id = Id ?? '';
      const found = targets.get(id);
      if (found && found.state !== 'draining') continue;
      targets.set(id, { id, state: 'initial', registeredAt: cloud.now(), passes: 0, fails: 0 });
    }
    return {};
  });

  cloud.on('elbv2', elb.DeregisterTargetsCommand, (input) => {
    const targets = cloud.targetGroups.get(input.TargetGroupArn ?? '');
    if (!targets) fail('TargetGroupNotFoundException', `Target group '${input.TargetGroupArn}' not found`);
    const list = input.Targets ?? [];
    if (list.length === 0) fail('ValidationError', 'Targets must name at least one target');
    for (const { Id } of list) {
      const target = targets.get(Id ?? '');
      if (!target) {
        // ELB refuses to deregister an instance that is not registered, unless it no longer exists.
        if (cloud.instances.get(Id ?? '')?.state === 'terminated' || !cloud.instances.has(Id ?? '')) continue;
        fail('InvalidTargetException', `The following targets are not registered in target group '${input.TargetGroupArn}': '${Id}'`);
      }
      if (target.state !== 'draining') {
        target.state = 'draining';
        target.drainingAt = cloud.now();
      }
    }
    return {};
  });

  cloud.on('elbv2', elb.DescribeListenersCommand, (input) => {
    const arns = input.ListenerArns ?? [];
    if (arns.length === 0) fail('ValidationError', 'ListenerArns must name a listener');
    return {
      Listeners: arns.map((arn) => {
        const l = cloud.listenerStates.get(arn);
        if (!l) fail('ListenerNotFoundException', `Listener '${arn}' not found`);
        return { ListenerArn: arn, DefaultActions: [{ Type: 'forward' as const, TargetGroupArn: l.defaultTargetGroupArn }] };
      }),
    };
  });

  // ModifyListener: the default action changes in one call; a forward names an existing target group.
  cloud.on('elbv2', elb.ModifyListenerCommand, (input) => {
    const l = cloud.listenerStates.get(input.ListenerArn ?? '');
    if (!l) fail('ListenerNotFoundException', `Listener '${input.ListenerArn}' not found`);
    if (input.DefaultActions !== undefined) {
      const forward = input.DefaultActions.find((a) => a.Type === 'forward');
      const arn = forward?.TargetGroupArn ?? forward?.ForwardConfig?.TargetGroups?.[0]?.TargetGroupArn;
      if (input.DefaultActions.length !== 1 || !arn) fail('ValidationError', 'herd\'s fake models a default action that forwards to one target group only');
      if (!cloud.targetGroups.has(arn)) fail('TargetGroupNotFoundException', `Target group '${arn}' not found`);
      l.defaultTargetGroupArn = arn;
    }
    return { Listeners: [{ ListenerArn: input.ListenerArn, DefaultActions: [{ Type: 'forward' as const, TargetGroupArn: l.defaultTargetGroupArn }] }] };
  });

  cloud.on('elbv2', elb.DescribeRulesCommand, (input) => {
    const rules = cloud.listeners.get(input.ListenerArn ?? '');
    if (!rules) fail('ListenerNotFoundException', `Listener '${input.ListenerArn}' not found`);
    return {
      Rules: [
        // Eventual consistency: a rule created seconds ago is not listed yet.
        ...rules.filter((r) => cloud.visible('rule', r.arn)).map((r) => ({ RuleArn: r.arn, Priority: String(r.priority), Conditions: r.conditions, Actions: r.actions, IsDefault: false })),
        { RuleArn: `${input.ListenerArn}/default`, Priority: 'default', Conditions: [], Actions: [{ Type: 'forward' as const, TargetGroupArn: cloud.listenerStates.get(input.ListenerArn ?? '')?.defaultTargetGroupArn }], IsDefault: true },
      ],
    };
  });

  cloud.on('elbv2', elb.CreateRuleCommand, (input) => {
    const rules = cloud.listeners.get(input.ListenerArn ?? '');
    if (!rules) fail('ListenerNotFoundException', `Listener '${input.ListenerArn}' not found`);
    const priority = input.Priority ?? 0;
    if (!Number.isInteger(priority) || priority < 1 || priority > 50000) fail('ValidationError', `Priority ${priority} must be between 1 and 50000`);
    if (rules.some((r) => r.priority === priority)) fail('PriorityInUseException', `Priority '${priority}' is currently in use`);
    if (!input.Conditions || input.Conditions.length === 0) fail('ValidationError', 'A rule needs at least one condition');
    if (!input.Actions || input.Actions.length === 0) fail('ValidationError', 'A rule needs at least one action');
    for (const a of input.Actions) {
      if (a.Type === 'fixed-response') {
        const f = a.FixedResponseConfig;
        if (!f || !/^(2|4|5)\d\d$/.test(f.StatusCode ?? '')) fail('ValidationError', 'Fixed response status code must be 2XX, 4XX or 5XX');
        if ((f.MessageBody ?? '').length > 1024) fail('ValidationError', `Fixed response message body is ${(f.MessageBody ?? '').length} characters; at most 1024 are allowed`);
        if (f.ContentType && !['text/plain', 'text/css', 'text/html', 'application/javascript', 'application/json'].includes(f.ContentType)) {
          fail('ValidationError', `Content type ${f.ContentType} is not supported`);
        }
      }
    }
    // A rule's ARN: listener-rule/app/<lb name>/<lb id>/<listener id>/<rule id>, as ELBv2 makes it (IAM policies match that shape).
    const rule: Rule = { arn: `${(input.ListenerArn ?? '').replace(':listener/', ':listener-rule/')}/${pad(cloud.seq++, 16)}`, priority, conditions: input.Conditions, actions: input.Actions, tags: tagsFrom(input.Tags) };
    rules.push(rule);
    cloud.created('rule', rule.arn);
    return { Rules: [{ RuleArn: rule.arn, Priority: String(priority), Conditions: rule.conditions, Actions: rule.actions }] };
  });

  cloud.on('elbv2', elb.ModifyRuleCommand, (input) => {
    if (input.RuleArn?.endsWith('/default')) fail('OperationNotPermittedException', 'The default rule cannot be modified with ModifyRule; use ModifyListener');
    const rule = [...cloud.listeners.values()].flat().find((r) => r.arn === input.RuleArn);
    if (!rule) fail('RuleNotFoundException', 'One or more rules not found');
    if (input.Conditions !== undefined) {
      checkConditions(input.Conditions);
      rule.conditions = input.Conditions;
    }
    if (input.Actions !== undefined) {
      if (input.Actions.length === 0) fail('ValidationError', 'A rule needs at least one action');
      rule.actions = input.Actions;
    }
    return { Rules: [{ RuleArn: rule.arn, Priority: String(rule.priority), Conditions: rule.conditions, Actions: rule.actions, IsDefault: false }] };
  });

  cloud.on('elbv2', elb.DeleteRuleCommand, (input) => {
    for (const rules of cloud.listeners.values()) {
      const i = rules.findIndex((r) => r.arn === input.RuleArn);
      if (i >= 0) {
        rules.splice(i, 1);
        return {};
      }
    }
    if (input.RuleArn?.endsWith('/default')) fail('OperationNotPermittedException', 'Default rules cannot be deleted');
    fail('RuleNotFoundException', `One or more rules not found`);
  });

  cloud.on('elbv2', elb.AddTagsCommand, (input) => {
    const arns = input.ResourceArns ?? [];
    if (arns.length === 0 || arns.length > 20) fail('ValidationError', `ResourceArns must name 1 to 20 resources (received ${arns.length})`);
    for (const arn of arns) {
      const rule = [...cloud.listeners.values()].flat().find((r) => r.arn === arn);
      if (!rule) fail('RuleNotFoundException', `One or more rules not found`);
      const tags = { ...rule.tags };
      for (const t of input.Tags ?? []) {
        if (!t.Key) fail('ValidationError', 'A tag key is required');
        tags[t.Key] = t.Value ?? '';
      }
      if (Object.keys(tags).length > 50) fail('TooManyTagsException', 'You have reached the limit on the number of tags you can assign to the resource (50)');
      rule.tags = tags;
    }
    return {};
  });

  cloud.on('elbv2', elb.DescribeTagsCommand, (input) => ({
    TagDescriptions: (input.ResourceArns ?? []).map((arn) => {
      const rule = [...cloud.listeners.values()].flat().find((r) => r.arn === arn);
      if (!rule) fail('RuleNotFoundException', `One or more rules not found`);
      return { ResourceArn: arn, Tags: tagList(rule.tags) };
    }),
  }));
}
