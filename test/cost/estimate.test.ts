/** The monthly estimate reads what the template creates and prices it; unknown types are said, not guessed. */
import { costTable, estimateMonthlyCost, usd, type CostTemplate } from '../../lib/cost/estimate';
import { HOURS_PER_MONTH } from '../../lib/cost/prices';

/** A template with one fleet, a database and a cache, as the stack writes them. */
function template(overrides: { instanceType?: string; multiAz?: boolean; nat?: number; replicas?: number } = {}): CostTemplate {
  const nat = Array.from({ length: overrides.nat ?? 1 }, (_, n) => [
    [`Nat${n}`, { Type: 'AWS::EC2::NatGateway' }],
    [`Eip${n}`, { Type: 'AWS::EC2::EIP' }],
  ]).flat();
  return {
    Resources: Object.fromEntries([
      ['WebLaunchTemplate1', { Type: 'AWS::EC2::LaunchTemplate', Properties: { LaunchTemplateData: { InstanceType: overrides.instanceType ?? 't3.small', BlockDeviceMappings: [{ Ebs: { VolumeSize: 20 } }] } } }],
      ['WebAutoScalingGroup1', { Type: 'AWS::AutoScaling::AutoScalingGroup', Properties: { MinSize: { 'Fn::If': ['Released', '2', '0'] }, MaxSize: '4', LaunchTemplate: { LaunchTemplateId: { Ref: 'WebLaunchTemplate1' } } } }],
      ['Db', { Type: 'AWS::RDS::DBInstance', Properties: { DBInstanceClass: 'db.t4g.micro', MultiAZ: overrides.multiAz ?? false, AllocatedStorage: '20' } }],
      ['Cache', { Type: 'AWS::ElastiCache::ReplicationGroup', Properties: { CacheNodeType: 'cache.t4g.micro', ReplicasPerNodeGroup: overrides.replicas ?? 0 } }],
      ['Lb', { Type: 'AWS::ElasticLoadBalancingV2::LoadBalancer', Properties: { Scheme: 'internet-facing', Subnets: [{ Ref: 'A' }, { Ref: 'B' }] } }],
      ...nat,
    ]),
  };
}

const line = (t: CostTemplate, item: string) => estimateMonthlyCost(t).lines.find((l) => l.item === item);

test('a fleet costs its floor (the released branch of MinSize) and its ceiling, at 730 hours a month', () => {
  const web = line(template(), 'web fleet');
  expect(web?.what).toBe('2 × t3.small (up to 4)');
  expect(web?.monthly).toBeCloseTo(2 * 0.0208 * HOURS_PER_MONTH, 6);
  expect(web?.atCeiling).toBeCloseTo(4 * 0.0208 * HOURS_PER_MONTH, 6);
  expect(line(template(), 'instance volumes')?.what).toBe('2 × 20 GiB gp3');
});

test('Multi-AZ doubles the database and its storage; replicas add cache nodes; each NAT gateway adds its hour and its address', () => {
  const single = estimateMonthlyCost(template());
  const multi = estimateMonthlyCost(template({ multiAz: true, nat: 2, replicas: 1 }));
  expect(line(template({ multiAz: true }), 'database')?.monthly).toBeCloseTo(2 * (line(template(), 'database')?.monthly ?? 0), 6);
  expect(line(template({ multiAz: true }), 'database storage')?.what).toBe('20 GiB gp3 ×2 (Multi-AZ)');
  expect(line(template({ replicas: 1 }), 'cache')?.what).toBe('2 × cache.t4g.micro (Valkey)');
  expect(line(template({ nat: 2 }), 'public IPv4 addresses')?.what).toBe('4 (2 NAT, 2 load balancer)');
  expect(multi.total).toBeGreaterThan(single.total);
});

test('an instance type herd has no price for is said, and left out of the totals rather than guessed', () => {
  const estimate = estimateMonthlyCost(template({ instanceType: 'x2iedn.32xlarge' }));
  expect(estimate.unknownPrices).toEqual(['x2iedn.32xlarge']);
  expect(estimate.lines.find((l) => l.item === 'web fleet')?.monthly).toBeUndefined();
  expect(costTable([{ title: 'big', estimate }])).toContain('| web fleet | 2 × x2iedn.32xlarge (up to 4): price unknown |');
  const known = estimateMonthlyCost(template());
  expect(estimate.total).toBeCloseTo(known.total - (known.lines.find((l) => l.item === 'web fleet')?.monthly ?? 0), 6);
});

test('amounts: cents under $10, whole dollars above', () => {
  expect(usd(4.384)).toBe('$4.38');
  expect(usd(1234.6)).toBe('$1,235');
  expect(usd(undefined)).toBe('price unknown');
});

test('a web application firewall costs its web ACL and each of its rules; its requests are a usage rate', () => {
  const base = template();
  const withWaf: CostTemplate = { Resources: { ...base.Resources, Acl: { Type: 'AWS::WAFv2::WebACL', Properties: { Rules: [{}, {}, {}, {}] } } } };
  expect(line(withWaf, 'web application firewall')).toEqual({ item: 'web application firewall', what: '1 web ACL + 4 rules', monthly: 5 + 4 * 1 });
  expect(line(base, 'web application firewall')).toBeUndefined();
  expect(estimateMonthlyCost(withWaf).total).toBeCloseTo(estimateMonthlyCost(base).total + 9, 6);
  expect(costTable([{ title: 'x', estimate: estimateMonthlyCost(withWaf) }])).toContain('web application firewall $0.6/million requests');
});
