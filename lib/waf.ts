import { ArnFormat, RemovalPolicy, Stack } from 'aws-cdk-lib';
import * as elbv2 from 'aws-cdk-lib/aws-elasticloadbalancingv2';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as wafv2 from 'aws-cdk-lib/aws-wafv2';
import { Construct } from 'constructs';
import type { WafConfig } from './config/types';
import { BYPASS_HEADER } from './names';

export interface WebApplicationFirewallProps {
  readonly app: string;
  readonly environment: string;
  readonly settings: WafConfig;
  /** The load balancer the web ACL protects. */
  readonly loadBalancer: elbv2.IApplicationLoadBalancer;
  readonly logRetention: logs.RetentionDays;
}

/** Name of the rate-based rule (and its metric). */
export const RATE_RULE_NAME = 'RateLimitPerIp';

/**
 * Headers WAF logs never show: the maintenance bypass header carries a secret, cookies and
 * Authorization carry users' sessions and credentials. WAF logs every header it received
 * unless redacted (AWS WAF Developer Guide, "Log fields": `RedactedFields`).
 */
export const REDACTED_HEADERS = [BYPASS_HEADER.toLowerCase(), 'cookie', 'authorization'] as const;

/** CloudWatch Logs group of an environment's WAF logs: AWS WAF logs only to destinations named `aws-waf-logs-…` (WAFV2 API, LoggingConfiguration). */
export function wafLogGroupName(app: string, environment: string): string {
  return `aws-waf-logs-herd-${app}-${environment}`;
}

/**
 * A regional AWS WAF web ACL on the environment's load balancer: a rate limit per client IP
 * first, then the AWS managed rule groups in the configured order, every rule blocking unless
 * `countOnly` (then the rate rule counts and the groups' actions are overridden to count);
 * `excludedRules` count instead of blocking. Requests no rule blocks are allowed.
 *
 * What herd itself needs through it: the maintenance page is the load balancer's own fixed
 * response, served after WAF allowed the request; the bypass header carries a 32-character
 * alphanumeric value (`MaintenanceBypass` and `herd maintenance rotate-bypass` generate no
 * punctuation), which no rule of these groups matches; the rate rule has no scope-down (it
 * counts every request of one IP alike, an operator's checks through the bypass included, far
 * below the limit). Health checks go from the load balancer to the targets, not through WAF.
 * The Common Rule Set blocks request bodies over 8 KB (`SizeRestrictions_BODY`) and requests
 * without a User-Agent (`NoUserAgent_HEADER`): an app taking uploads excludes the first.
 *
 * Logs go to a CloudWatch Logs group kept for the environment's log retention. When the
 * logging configuration is created, WAF adds the log group resource policy that lets
 * `delivery.logs.amazonaws.com` write to it (WAFV2 API, LoggingConfiguration: "For an Amazon
 * CloudWatch Logs log group, AWS WAF creates a resource policy on the log group"); the
 * CloudFormation execution role needs `logs:PutResourcePolicy`, `logs:DescribeResourcePolicies`,
 * `logs:DescribeLogGroups` and `logs:CreateLogDelivery` for that (CDK's default one has them).
 */
export class WebApplicationFirewall extends Construct {
  public readonly webAcl: wafv2.CfnWebACL;
  public readonly logGroup: logs.LogGroup;

  constructor(scope: Construct, id: string, props: WebApplicationFirewallProps) {
    super(scope, id);
    const s = props.settings;
    const metricPrefix = `herd-${props.app}-${props.environment}`;
    const visibility = (name: string): wafv2.CfnWebACL.VisibilityConfigProperty => ({
      cloudWatchMetricsEnabled: true,
      metricName: `${metricPrefix}-${name}`,
      sampledRequestsEnabled: true,
    });
    const count = { count: {} };

    const rateRule: wafv2.CfnWebACL.RuleProperty = {
      name: RATE_RULE_NAME,
      priority: 0,
      action: s.countOnly ? count : { block: {} },
      statement: { rateBasedStatement: { limit: s.rateLimitPer5Minutes, aggregateKeyType: 'IP', evaluationWindowSec: 300 } },
      visibilityConfig: visibility(RATE_RULE_NAME),
    };
    const managedRules = s.managedRules.map((group, i): wafv2.CfnWebACL.RuleProperty => {
      const excluded = s.excludedRules.filter((r) => r.startsWith(`${group}:`)).map((r) => r.slice(group.length + 1));
      return {
        name: group,
        priority: i + 1,
        // `none` keeps the group's own actions; `count` makes every one of its rules count.
        overrideAction: s.countOnly ? count : { none: {} },
        statement: {
          managedRuleGroupStatement: {
            vendorName: 'AWS',
            name: group,
            ...(excluded.length > 0 ? { ruleActionOverrides: excluded.map((name) => ({ name, actionToUse: count })) } : {}),
          },
        },
        visibilityConfig: visibility(group),
      };
    });

    this.webAcl = new wafv2.CfnWebACL(this, 'WebAcl', {
      scope: 'REGIONAL',
      description: `herd ${props.environment}: rate limit and AWS managed rules in front of the load balancer`,
      defaultAction: { allow: {} },
      rules: [rateRule, ...managedRules],
      visibilityConfig: visibility('web-acl'),
    });
    new wafv2.CfnWebACLAssociation(this, 'Association', {
      resourceArn: props.loadBalancer.loadBalancerArn,
      webAclArn: this.webAcl.attrArn,
    });

    const logGroupName = wafLogGroupName(props.app, props.environment);
    this.logGroup = new logs.LogGroup(this, 'Logs', { logGroupName, retention: props.logRetention, removalPolicy: RemovalPolicy.DESTROY });
    const logging = new wafv2.CfnLoggingConfiguration(this, 'Logging', {
      resourceArn: this.webAcl.attrArn,
      // The log group's ARN without the `:*` CDK's `logGroupArn` ends with: WAF refuses that form.
      logDestinationConfigs: [Stack.of(this).formatArn({ service: 'logs', resource: 'log-group', resourceName: logGroupName, arnFormat: ArnFormat.COLON_RESOURCE_NAME })],
      redactedFields: REDACTED_HEADERS.map((name) => ({ singleHeader: { Name: name } })),
    });
    logging.node.addDependency(this.logGroup);
  }
}
