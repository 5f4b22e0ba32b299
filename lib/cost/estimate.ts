/**
 * What an environment costs a month, read from its synthesized template (what CloudFormation
 * will create, not what the configuration meant): the fleets at their floor and ceiling, their
 * volumes, the database, the cache, NAT gateways, public IPv4 addresses, the load balancer,
 * interface endpoints, secrets, keys, alarms and dashboards, priced with `prices.ts`. Traffic-driven
 * charges (NAT and load-balancer processing, data out, logs) are listed with their rates
 * rather than guessed. `npm run cost` prints it for every synthesized environment.
 */
import {
  ALARM_MONTHLY,
  ALB,
  DASHBOARD_MONTHLY,
  EBS_GP3_GIB_MONTH,
  EC2_HOURLY,
  HOURS_PER_MONTH,
  INTERFACE_ENDPOINT,
  KMS_KEY_MONTHLY,
  LOGS,
  NAT_GATEWAY,
  PRICE_REGION,
  PRICES_AS_OF,
  PUBLIC_IPV4_HOURLY,
  RDS_GP3_GIB_MONTH,
  RDS_POSTGRES_HOURLY,
  SECRET_MONTHLY,
  TRANSFER_OUT_PER_GB,
  VALKEY_NODE_HOURLY,
  WAF,
} from './prices';

/** The parts of a CloudFormation template the estimate reads. */
export interface CostTemplate {
  readonly Resources?: Readonly<Record<string, { readonly Type: string; readonly Properties?: Record<string, unknown> }>>;
}

/** One line of the estimate: what it is, and USD a month (undefined: a price herd does not know). */
export interface CostLine {
  readonly item: string;
  readonly what: string;
  readonly monthly: number | undefined;
  /** The same line with the fleets at their maximum capacity (fleet lines only). */
  readonly atCeiling?: number | undefined;
}

export interface CostEstimate {
  readonly lines: readonly CostLine[];
  /** Fixed monthly total with the fleets at their floor (lines with an unknown price left out). */
  readonly total: number;
  /** The same with the fleets at their ceiling. */
  readonly totalAtCeiling: number;
  /** Types in the template herd has no price for. */
  readonly unknownPrices: readonly string[];
}

const hourly = (rate: number | undefined, count = 1) => (rate === undefined ? undefined : rate * count * HOURS_PER_MONTH);

/** A number CloudFormation may hold as a string, or an `Fn::If` of the released case (the group's floor once a release serves). */
function numberOf(value: unknown): number {
  if (typeof value === 'number') return value;
  if (typeof value === 'string' && value.trim() !== '' && Number.isFinite(Number(value))) return Number(value);
  if (value && typeof value === 'object' && 'Fn::If' in value) {
    const branches = (value as { 'Fn::If': unknown[] })['Fn::If'];
    return numberOf(branches[1]);
  }
  return 0;
}

function refOf(value: unknown): string | undefined {
  return value && typeof value === 'object' && 'Ref' in value ? String((value as { Ref: unknown }).Ref) : undefined;
}

/** The role a group runs (`herd:role` tag, else its logical id: `WebAutoScalingGroup…`). */
function roleOf(logicalId: string, properties: Record<string, unknown>): string {
  const tags = (properties.Tags ?? []) as { Key?: string; Value?: unknown }[];
  const tagged = tags.find((t) => t.Key === 'herd:role')?.Value;
  if (typeof tagged === 'string') return tagged;
  return /^worker/i.test(logicalId) ? 'worker' : 'web';
}

/** The monthly estimate of one environment's template. */
export function estimateMonthlyCost(template: CostTemplate): CostEstimate {
  const resources = Object.entries(template.Resources ?? {});
  const ofType = (type: string) => resources.filter(([, r]) => r.Type === type);
  const lines: CostLine[] = [];
  const unknown = new Set<string>();
  const price = (table: Readonly<Record<string, number>>, type: string) => {
    const p = table[type];
    if (p === undefined) unknown.add(type);
    return p;
  };

  let volumesAtFloor = 0;
  let volumesAtCeiling = 0;
  let volumeGiB = 0;
  for (const [id, group] of ofType('AWS::AutoScaling::AutoScalingGroup').sort(([a], [b]) => (roleOf(a, {}) === 'web' ? -1 : 1) - (roleOf(b, {}) === 'web' ? -1 : 1))) {
    const p = group.Properties ?? {};
    const lt = resources.find(([ltId]) => ltId === refOf((p.LaunchTemplate as Record<string, unknown> | undefined)?.LaunchTemplateId))?.[1];
    const data = (lt?.Properties?.LaunchTemplateData ?? {}) as { InstanceType?: string; BlockDeviceMappings?: { Ebs?: { VolumeSize?: number } }[] };
    const type = data.InstanceType ?? 'unknown';
    const min = numberOf(p.MinSize);
    const max = numberOf(p.MaxSize);
    const gib = data.BlockDeviceMappings?.[0]?.Ebs?.VolumeSize ?? 8;
    volumeGiB = gib;
    volumesAtFloor += min;
    volumesAtCeiling += max;
    const rate = price(EC2_HOURLY, type);
    lines.push({ item: `${roleOf(id, p)} fleet`, what: `${min} × ${type} (up to ${max})`, monthly: hourly(rate, min), atCeiling: hourly(rate, max) });
  }
  if (volumesAtFloor + volumesAtCeiling > 0) {
    lines.push({ item: 'instance volumes', what: `${volumesAtFloor} × ${volumeGiB} GiB gp3`, monthly: volumesAtFloor * volumeGiB * EBS_GP3_GIB_MONTH, atCeiling: volumesAtCeiling * volumeGiB * EBS_GP3_GIB_MONTH });
  }

  for (const [, db] of ofType('AWS::RDS::DBInstance')) {
    const p = db.Properties ?? {};
    const cls = String(p.DBInstanceClass ?? 'unknown');
    const multiAz = p.MultiAZ === true || p.MultiAZ === 'true';
    const copies = multiAz ? 2 : 1;
    const storage = numberOf(p.AllocatedStorage);
    const rate = price(RDS_POSTGRES_HOURLY, cls);
    lines.push({ item: 'database', what: `${cls}${multiAz ? ' Multi-AZ' : ''}`, monthly: hourly(rate, copies) });
    lines.push({ item: 'database storage', what: `${storage} GiB gp3${multiAz ? ' ×2 (Multi-AZ)' : ''}`, monthly: storage * RDS_GP3_GIB_MONTH * copies });
  }

  for (const [, cache] of ofType('AWS::ElastiCache::ReplicationGroup')) {
    const p = cache.Properties ?? {};
    const type = String(p.CacheNodeType ?? 'unknown');
    const nodes = p.NumCacheClusters !== undefined ? numberOf(p.NumCacheClusters) : (numberOf(p.NumNodeGroups) || 1) * (1 + numberOf(p.ReplicasPerNodeGroup));
    lines.push({ item: 'cache', what: `${nodes} × ${type} (Valkey)`, monthly: hourly(price(VALKEY_NODE_HOURLY, type), nodes) });
  }

  const nat = ofType('AWS::EC2::NatGateway').length;
  if (nat > 0) lines.push({ item: 'NAT gateways', what: `${nat}`, monthly: hourly(NAT_GATEWAY.hourly, nat) });

  const balancers = ofType('AWS::ElasticLoadBalancingV2::LoadBalancer');
  const lbAzs = balancers.reduce((n, [, lb]) => n + (lb.Properties?.Scheme === 'internet-facing' ? ((lb.Properties?.Subnets as unknown[] | undefined)?.length ?? 0) : 0), 0);
  const eips = ofType('AWS::EC2::EIP').length;
  if (eips + lbAzs > 0) lines.push({ item: 'public IPv4 addresses', what: `${eips + lbAzs} (${eips} NAT, ${lbAzs} load balancer)`, monthly: hourly(PUBLIC_IPV4_HOURLY, eips + lbAzs) });
  if (balancers.length > 0) lines.push({ item: 'load balancer', what: `${balancers.length} ALB + 1 LCU`, monthly: hourly(ALB.hourly + ALB.perLcuHour, balancers.length) });

  for (const [, acl] of ofType('AWS::WAFv2::WebACL')) {
    const rules = ((acl.Properties?.Rules as unknown[] | undefined) ?? []).length;
    lines.push({ item: 'web application firewall', what: `1 web ACL + ${rules} rules`, monthly: WAF.webAclMonthly + rules * WAF.ruleMonthly });
  }

  const interfaceEndpoints = ofType('AWS::EC2::VPCEndpoint').filter(([, e]) => e.Properties?.VpcEndpointType === 'Interface');
  if (interfaceEndpoints.length > 0) {
    const azs = interfaceEndpoints.reduce((n, [, e]) => n + ((e.Properties?.SubnetIds as unknown[] | undefined)?.length ?? 1), 0);
    lines.push({ item: 'interface endpoints', what: `${interfaceEndpoints.length} (${azs} endpoint-AZs)`, monthly: hourly(INTERFACE_ENDPOINT.hourlyPerAz, azs) });
  }

  const secrets = ofType('AWS::SecretsManager::Secret').length;
  if (secrets > 0) lines.push({ item: 'secrets', what: `${secrets}`, monthly: secrets * SECRET_MONTHLY });
  const keys = ofType('AWS::KMS::Key').length;
  if (keys > 0) lines.push({ item: 'KMS keys', what: `${keys}`, monthly: keys * KMS_KEY_MONTHLY });
  const alarms = ofType('AWS::CloudWatch::Alarm').length;
  if (alarms > 0) lines.push({ item: 'alarms', what: `${alarms}`, monthly: alarms * ALARM_MONTHLY });
  const dashboards = ofType('AWS::CloudWatch::Dashboard').length;
  if (dashboards > 0) lines.push({ item: 'dashboards', what: `${dashboards} (an account's first 3 are free)`, monthly: dashboards * DASHBOARD_MONTHLY });

  const total = lines.reduce((sum, l) => sum + (l.monthly ?? 0), 0);
  const totalAtCeiling = lines.reduce((sum, l) => sum + ((l.atCeiling !== undefined ? l.atCeiling : l.monthly) ?? 0), 0);
  return { lines, total, totalAtCeiling, unknownPrices: [...unknown].sort() };
}

/** `$1,234` (whole dollars) or `$4.38` (under $10), `price unknown` for undefined. */
export function usd(amount: number | undefined): string {
  if (amount === undefined) return 'price unknown';
  if (amount < 10) return `$${amount.toFixed(2)}`;
  return `$${Math.round(amount).toLocaleString('en-US')}`;
}

/** What traffic adds, per unit (not in the totals). */
export const USAGE_RATES =
  `traffic adds: NAT processing $${NAT_GATEWAY.perGb}/GB, data out $${TRANSFER_OUT_PER_GB}/GB, ` +
  `load balancer $${ALB.perLcuHour}/LCU-hour beyond the first, web application firewall $${WAF.perMillionRequests}/million requests, CloudWatch Logs $${LOGS.ingestPerGb}/GB ingested and $${LOGS.storePerGbMonth}/GB-month kept, ` +
  'a builder and a runner instance for a few minutes per deploy; Lambda, Step Functions, DynamoDB, S3 and SNS stay under $1 at herd\'s use';

/**
 * The estimates of several environments side by side, as a Markdown table: one row per line
 * item, one column per environment (`name (profile)`), then the totals at the fleets' floor
 * and ceiling, and the price source.
 */
export function costTable(environments: readonly { readonly title: string; readonly estimate: CostEstimate }[]): string {
  const items: string[] = [];
  for (const e of environments) for (const l of e.estimate.lines) if (!items.includes(l.item)) items.push(l.item);
  const cell = (e: CostEstimate, item: string) => {
    const l = e.lines.find((x) => x.item === item);
    if (!l) return '—';
    const ceiling = l.atCeiling !== undefined && l.atCeiling !== l.monthly ? ` (${usd(l.atCeiling)} at max)` : '';
    return `${l.what}: ${usd(l.monthly)}${ceiling}`;
  };
  const rows = [
    `| per month | ${environments.map((e) => e.title).join(' | ')} |`,
    `|---|${environments.map(() => '---').join('|')}|`,
    ...items.map((item) => `| ${item} | ${environments.map((e) => cell(e.estimate, item)).join(' | ')} |`),
    `| **total, fleets at their floor** | ${environments.map((e) => `**${usd(e.estimate.total)}**`).join(' | ')} |`,
    `| total, fleets at their maximum | ${environments.map((e) => usd(e.estimate.totalAtCeiling)).join(' | ')} |`,
  ];
  return [
    ...rows,
    '',
    `${PRICE_REGION} on-demand list prices written down on ${PRICES_AS_OF} (\`lib/cost/prices.ts\`, each with its AWS pricing page; not fetched live, other regions cost more); ${USAGE_RATES}.`,
  ].join('\n');
}

/**
 * The README's table: the example configuration's `testing` environment (the `small`
 * profile's defaults) beside its `production` (the `production` profile), from their templates.
 */
export function readmeCostTable(templates: { readonly testing: CostTemplate; readonly production: CostTemplate }): string {
  return costTable([
    { title: '`small` profile (example `testing`)', estimate: estimateMonthlyCost(templates.testing) },
    { title: '`production` profile (example `production`)', estimate: estimateMonthlyCost(templates.production) },
  ]);
}
