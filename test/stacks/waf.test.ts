/**
 * The web application firewall (`lib/waf.ts`) as synthesized: its rules, what it logs and
 * what it must leave alone for herd itself to work through it (the maintenance page, the
 * bypass header, the operator's own requests).
 */
import { Match, Template } from 'aws-cdk-lib/assertions';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { HerdSettings } from '../../lib/config/types';
import { BYPASS_HEADER } from '../../lib/names';
import { buildApp } from '../support/app';

type Resources = Record<string, { Type: string; Properties: Record<string, any> }>;

const CERTIFICATE = 'arn:aws:acm:eu-west-1:123456789012:certificate/0b5f3f4e-1111-2222-3333-444455556666';

function production(extra: Record<string, unknown> = {}): Template {
  const settings: HerdSettings = {
    app: 'shop',
    environments: [{ name: 'production', profile: 'production', certificateArn: CERTIFICATE, logRetentionDays: 30, ...extra }],
  };
  return buildApp(settings).template('production');
}

function webAclOf(template: Template): Record<string, any> {
  const [acl] = Object.values(template.findResources('AWS::WAFv2::WebACL') as Resources);
  return acl!.Properties;
}

describe('the production firewall', () => {
  let template: Template;
  beforeAll(() => {
    template = production();
  });

  test('rate-limits each client IP, then runs the three AWS managed rule groups, allowing what no rule blocks', () => {
    const acl = webAclOf(template);
    expect(acl.Scope).toBe('REGIONAL');
    expect(acl.DefaultAction).toEqual({ Allow: {} });
    expect(acl.Rules.map((r: any) => [r.Priority, r.Name, r.Action ?? r.OverrideAction])).toEqual([
      [0, 'RateLimitPerIp', { Block: {} }],
      [1, 'AWSManagedRulesCommonRuleSet', { None: {} }],
      [2, 'AWSManagedRulesKnownBadInputsRuleSet', { None: {} }],
      [3, 'AWSManagedRulesAmazonIpReputationList', { None: {} }],
    ]);
    expect(acl.Rules[0].Statement).toEqual({ RateBasedStatement: { Limit: 2000, AggregateKeyType: 'IP', EvaluationWindowSec: 300 } });
    for (const rule of acl.Rules.slice(1)) expect(rule.Statement.ManagedRuleGroupStatement).toEqual({ VendorName: 'AWS', Name: rule.Name });
  });

  test('is associated with the environment\'s load balancer', () => {
    const [lb] = Object.keys(template.findResources('AWS::ElasticLoadBalancingV2::LoadBalancer'));
    template.hasResourceProperties('AWS::WAFv2::WebACLAssociation', { ResourceArn: { Ref: lb }, WebACLArn: { 'Fn::GetAtt': [Match.stringLikeRegexp('^FirewallWebAcl'), 'Arn'] } });
  });

  test('logs to a CloudWatch Logs group named aws-waf-logs-…, kept for the environment\'s log retention, its ARN without ":*" (WAF refuses it)', () => {
    template.hasResourceProperties('AWS::Logs::LogGroup', { LogGroupName: 'aws-waf-logs-herd-shop-production', RetentionInDays: 30 });
    const [logging] = Object.values(template.findResources('AWS::WAFv2::LoggingConfiguration') as Resources);
    const destination = JSON.stringify(logging!.Properties.LogDestinationConfigs);
    expect(destination).toContain(':log-group:aws-waf-logs-herd-shop-production"');
    expect(destination).not.toContain(':*');
  });

  test('never logs the bypass value, cookies or credentials (the headers are redacted)', () => {
    const [logging] = Object.values(template.findResources('AWS::WAFv2::LoggingConfiguration') as Resources);
    expect(logging!.Properties.RedactedFields).toEqual([
      { SingleHeader: { Name: BYPASS_HEADER.toLowerCase() } },
      { SingleHeader: { Name: 'cookie' } },
      { SingleHeader: { Name: 'authorization' } },
    ]);
  });

  test('no rule herd writes inspects the bypass header or the paths the maintenance page answers, and the rate rule counts every request alike (no scope-down that could single out the bypass)', () => {
    const rules = JSON.stringify(webAclOf(template).Rules).toLowerCase();
    expect(rules).not.toContain(BYPASS_HEADER.toLowerCase());
    expect(rules).not.toContain('singleheader');
    expect(rules).not.toContain('bytematchstatement');
    expect(rules).not.toContain('scopedownstatement');
  });
});

describe('the firewall\'s settings', () => {
  test('count-only: the rate rule counts and every group\'s actions are overridden to count', () => {
    const acl = webAclOf(production({ waf: { countOnly: true } }));
    expect(acl.Rules.map((r: any) => r.Action ?? r.OverrideAction)).toEqual([{ Count: {} }, { Count: {} }, { Count: {} }, { Count: {} }]);
  });

  test('excluded rules count instead of blocking, in their own group only (uploads over 8 KB)', () => {
    const acl = webAclOf(production({ waf: { rateLimitPer5Minutes: 500, managedRules: ['AWSManagedRulesCommonRuleSet', 'AWSManagedRulesKnownBadInputsRuleSet'], excludedRules: ['AWSManagedRulesCommonRuleSet:SizeRestrictions_BODY'] } }));
    expect(acl.Rules.map((r: any) => r.Name)).toEqual(['RateLimitPerIp', 'AWSManagedRulesCommonRuleSet', 'AWSManagedRulesKnownBadInputsRuleSet']);
    expect(acl.Rules[0].Statement.RateBasedStatement.Limit).toBe(500);
    expect(acl.Rules[1].Statement.ManagedRuleGroupStatement.RuleActionOverrides).toEqual([{ Name: 'SizeRestrictions_BODY', ActionToUse: { Count: {} } }]);
    expect(acl.Rules[2].Statement.ManagedRuleGroupStatement.RuleActionOverrides).toBeUndefined();
  });

  test('off: no web ACL, no WAF log group; a small environment may turn it on', () => {
    const off = production({ waf: { enabled: false } });
    off.resourceCountIs('AWS::WAFv2::WebACL', 0);
    off.resourcePropertiesCountIs('AWS::Logs::LogGroup', { LogGroupName: Match.stringLikeRegexp('^aws-waf-logs-') }, 0);
    const small = buildApp({ app: 'shop', environments: [{ name: 'staging', waf: { enabled: true } }] }).template('staging');
    small.resourceCountIs('AWS::WAFv2::WebACL', 1);
  });
});

describe('what herd itself sends through the firewall', () => {
  test('herd\'s own code makes no HTTP request to the load balancer (a new one must send a User-Agent: the Common Rule Set blocks requests without one)', () => {
    // The operator's checks go through the curl command `herd maintenance on` prints (curl sends
    // `User-Agent: curl/<version>` unless told not to); AWS calls go through the SDK to AWS endpoints.
    const root = join(__dirname, '..', '..');
    const files = (dir: string): string[] =>
      readdirSync(dir).flatMap((name) => {
        const full = join(dir, name);
        if (statSync(full).isDirectory()) return name === 'node_modules' ? [] : files(full);
        return /\.(ts|js|mjs)$/.test(name) ? [full] : [];
      });
    const httpClient = /\bfetch\s*\(|\bhttps?\.(request|get)\s*\(|from ['"](undici|axios|node-fetch|got)['"]/;
    const callers = ['lib', 'lambda', 'bin'].flatMap((d) => files(join(root, d))).filter((f) => httpClient.test(readFileSync(f, 'utf8')));
    expect(callers.map((f) => f.slice(root.length + 1))).toEqual([]);
  });
});
