/**
 * The IAM policies a synthesized template gives each role, with the template's references
 * (`Ref`, `Fn::GetAtt`, `Fn::Join`, `Fn::Sub`, `Fn::Select`, `Fn::Split`) replaced by real
 * ids and ARNs: those of the fake cloud's world where the deploy step's environment names
 * them (the advance function's `DEPLOY_ENVIRONMENT` is matched against the world's), and
 * made-up but well-formed ones elsewhere.
 *
 * A role's policies are its inline `Policies`, every `AWS::IAM::Policy` and
 * `AWS::IAM::ManagedPolicy` attached to it (CDK moves statements to `…OverflowPolicy…`
 * managed policies when the inline one grows too large), and the AWS managed policies it
 * names, from `aws-managed-policies.ts`.
 */
import { createHash } from 'node:crypto';
import { AWS_MANAGED_POLICIES } from './aws-managed-policies';

/** A CloudFormation template, as `Template.toJSON()` gives it. */
export interface TemplateJson {
  readonly Resources: Record<string, { readonly Type: string; readonly Properties?: Record<string, unknown> }>;
}

export interface PolicyDocument {
  readonly Version: string;
  readonly Statement: readonly Record<string, unknown>[];
}

/** One role's identity policies, resolved. */
export interface RolePolicies {
  readonly logicalId: string;
  readonly arn: string;
  readonly policies: readonly { readonly name: string; readonly document: PolicyDocument }[];
}

export interface ResolveOptions {
  readonly account: string;
  readonly region: string;
  readonly stackName: string;
  /** Values of references, keyed by the reference's JSON (`{"Ref":"X"}`): they win over made-up values. */
  readonly known?: ReadonlyMap<string, string>;
}

/** Resolves a template's references to strings. */
export class TemplateResolver {
  constructor(readonly template: TemplateJson, private readonly options: ResolveOptions) {}

  private typeOf(id: string): string {
    const r = this.template.Resources[id];
    if (!r) throw new Error(`template: no resource ${id}`);
    return r.Type;
  }

  private knownValue(ref: unknown): string | undefined {
    return this.options.known?.get(JSON.stringify(ref));
  }

  /** `Ref` of a resource: the world's value, or a name made from its logical id. */
  ref(id: string): string {
    const known = this.knownValue({ Ref: id });
    if (known !== undefined) return known;
    const { account: a, region: r } = this.options;
    switch (this.typeOf(id)) {
      case 'AWS::SNS::Topic': return `arn:aws:sns:${r}:${a}:${id}`;
      case 'AWS::StepFunctions::StateMachine': return `arn:aws:states:${r}:${a}:stateMachine:${id}`;
      case 'AWS::SecretsManager::Secret': return `arn:aws:secretsmanager:${r}:${a}:secret:${id}-AbCdEf`;
      case 'AWS::ElasticLoadBalancingV2::Listener': return `arn:aws:elasticloadbalancing:${r}:${a}:listener/app/${id}/0123456789abcdef/fedcba9876543210`;
      case 'AWS::ElasticLoadBalancingV2::TargetGroup': return `arn:aws:elasticloadbalancing:${r}:${a}:targetgroup/${id.slice(0, 32)}/0123456789abcdef`;
      case 'AWS::ElasticLoadBalancingV2::LoadBalancer': return `arn:aws:elasticloadbalancing:${r}:${a}:loadbalancer/app/${id.slice(0, 32)}/0123456789abcdef`;
      case 'AWS::KMS::Key': return hexId(id, 32);
      case 'AWS::EC2::SecurityGroup': return `sg-${hexId(id, 17)}`;
      case 'AWS::EC2::Subnet': return `subnet-${hexId(id, 17)}`;
      case 'AWS::EC2::LaunchTemplate': return `lt-${hexId(id, 17)}`;
      default: return id;
    }
  }

  /** `Fn::GetAtt` of a resource. */
  attr(id: string, attr: string): string {
    const known = this.knownValue({ 'Fn::GetAtt': [id, attr] });
    if (known !== undefined) return known;
    const { account: a, region: r } = this.options;
    const type = this.typeOf(id);
    const ref = this.ref(id);
    if (attr === 'Arn') {
      switch (type) {
        case 'AWS::IAM::Role': return `arn:aws:iam::${a}:role/${ref}`;
        case 'AWS::IAM::InstanceProfile': return `arn:aws:iam::${a}:instance-profile/${ref}`;
        case 'AWS::DynamoDB::Table': return `arn:aws:dynamodb:${r}:${a}:table/${ref}`;
        case 'AWS::S3::Bucket': return `arn:aws:s3:::${ref}`;
        case 'AWS::CloudWatch::Alarm': return `arn:aws:cloudwatch:${r}:${a}:alarm:${ref}`;
        case 'AWS::KMS::Key': return `arn:aws:kms:${r}:${a}:key/${ref}`;
        case 'AWS::Lambda::Function': return `arn:aws:lambda:${r}:${a}:function:${ref}`;
        case 'AWS::Logs::LogGroup': return `arn:aws:logs:${r}:${a}:log-group:${ref}:*`;
        case 'AWS::SNS::Topic':
        case 'AWS::SecretsManager::Secret':
        case 'AWS::StepFunctions::StateMachine': return ref;
        default: return `arn:aws:${type.split('::')[1]?.toLowerCase()}:${r}:${a}:${ref}`;
      }
    }
    if (attr === 'GroupId') return ref;
    if (attr === 'Name') return ref.split(':').pop() ?? ref;
    if (attr === 'LaunchTemplateId') return ref;
    if (attr === 'LatestVersionNumber' || attr === 'DefaultVersionNumber') return '1';
    return `${id}.${attr}`;
  }

  private pseudo(name: string): string {
    switch (name) {
      case 'AWS::Region': return this.options.region;
      case 'AWS::AccountId': return this.options.account;
      case 'AWS::Partition': return 'aws';
      case 'AWS::URLSuffix': return 'amazonaws.com';
      case 'AWS::StackName': return this.options.stackName;
      default: throw new Error(`template: pseudo parameter ${name} not modelled`);
    }
  }

  /** A value with every reference replaced. */
  resolve(value: unknown): unknown {
    if (Array.isArray(value)) return value.map((v) => this.resolve(v));
    if (value === null || typeof value !== 'object') return value;
    const known = this.knownValue(value);
    if (known !== undefined) return known;
    const entries = Object.entries(value as Record<string, unknown>);
    const [key, arg] = entries[0] ?? [];
    if (entries.length === 1 && key !== undefined) {
      if (key === 'Ref') {
        const id = String(arg);
        return id.startsWith('AWS::') ? this.pseudo(id) : this.ref(id);
      }
      if (key === 'Fn::GetAtt') {
        const [id, attr] = (Array.isArray(arg) ? arg : String(arg).split('.')) as [string, string];
        return this.attr(id, attr);
      }
      if (key === 'Fn::Join') {
        const [sep, parts] = arg as [string, unknown[]];
        return (this.resolve(parts) as unknown[]).map(String).join(sep);
      }
      if (key === 'Fn::Sub') {
        const [text, vars] = (Array.isArray(arg) ? arg : [arg, {}]) as [string, Record<string, unknown>];
        return text.replace(/\$\{([^}]+)\}/g, (_m, name: string) => {
          if (name in vars) return String(this.resolve(vars[name]));
          if (name.startsWith('AWS::')) return this.pseudo(name);
          const [id, attr] = name.split('.') as [string, string | undefined];
          return attr ? this.attr(id, attr) : this.ref(id);
        });
      }
      if (key === 'Fn::Select') {
        const [n, items] = arg as [number | string, unknown];
        const list = this.resolve(items) as unknown[];
        return list[Number(n)];
      }
      if (key === 'Fn::Split') {
        const [sep, text] = arg as [string, unknown];
        return String(this.resolve(text)).split(sep);
      }
      if (key.startsWith('Fn::')) throw new Error(`template: ${key} not modelled in IAM policies`);
    }
    return Object.fromEntries(entries.map(([k, v]) => [k, this.resolve(v)]));
  }

  /** Every role of the template with its policies, resolved. */
  roles(): Map<string, RolePolicies> {
    const roles = new Map<string, RolePolicies>();
    const resources = Object.entries(this.template.Resources);
    const attached = (props: Record<string, unknown> | undefined, roleId: string) =>
      ((props?.Roles as unknown[] | undefined) ?? []).some((r) => JSON.stringify(r) === JSON.stringify({ Ref: roleId }));
    for (const [id, role] of resources.filter(([, r]) => r.Type === 'AWS::IAM::Role')) {
      const policies: { name: string; document: PolicyDocument }[] = [];
      for (const p of (role.Properties?.Policies as { PolicyName: string; PolicyDocument: unknown }[] | undefined) ?? []) {
        policies.push({ name: `${id}/${p.PolicyName}`, document: this.resolve(p.PolicyDocument) as PolicyDocument });
      }
      for (const [pid, p] of resources.filter(([, r]) => (r.Type === 'AWS::IAM::Policy' || r.Type === 'AWS::IAM::ManagedPolicy') && attached(r.Properties, id))) {
        policies.push({ name: pid, document: this.resolve(p.Properties?.PolicyDocument) as PolicyDocument });
      }
      for (const managed of (role.Properties?.ManagedPolicyArns as unknown[] | undefined) ?? []) {
        const arn = String(this.resolve(managed));
        const name = /^arn:aws:iam::aws:policy\/(?:service-role\/)?(.+)$/.exec(arn)?.[1];
        const document = name ? AWS_MANAGED_POLICIES[name] : undefined;
        if (!document) throw new Error(`template: role ${id} has managed policy ${arn}, whose document aws-managed-policies.ts does not hold`);
        policies.push({ name: arn, document });
      }
      roles.set(id, { logicalId: id, arn: this.attr(id, 'Arn'), policies });
    }
    return roles;
  }

  /** Key policies of the template's KMS keys, by key ARN (KMS evaluates them with the caller's policies). */
  keyPolicies(): Map<string, PolicyDocument> {
    const out = new Map<string, PolicyDocument>();
    for (const [id, r] of Object.entries(this.template.Resources).filter(([, x]) => x.Type === 'AWS::KMS::Key')) {
      out.set(this.attr(id, 'Arn'), this.resolve(r.Properties?.KeyPolicy) as PolicyDocument);
    }
    return out;
  }

  /** Role ARN of each instance profile, by the profile's ARN. */
  instanceProfileRoles(): Map<string, string> {
    const out = new Map<string, string>();
    for (const [id, r] of Object.entries(this.template.Resources).filter(([, x]) => x.Type === 'AWS::IAM::InstanceProfile')) {
      const [role] = (r.Properties?.Roles as { Ref: string }[] | undefined) ?? [];
      if (role) out.set(this.attr(id, 'Arn'), this.attr(role.Ref, 'Arn'));
    }
    return out;
  }
}

/** A stable hex id made from a logical id. */
function hexId(id: string, width: number): string {
  return createHash('sha256').update(id).digest('hex').slice(0, width);
}

/**
 * Values of the references a `Fn::Join` names, learnt by matching what it builds against the
 * same value as the world has it: `DEPLOY_ENVIRONMENT` (the template's) against the world's
 * `DeployEnvironment`. Keys are the references' JSON.
 */
export function matchJoin(join: unknown, actual: unknown): Map<string, string> {
  const out = new Map<string, string>();
  const parts = (join as { 'Fn::Join'?: [string, unknown[]] })['Fn::Join']?.[1];
  if (!parts) return out;
  const tokens: unknown[] = [];
  const text = parts.map((p) => {
    if (typeof p === 'string') return p;
    tokens.push(p);
    return `@@herd-token-${tokens.length - 1}@@`;
  }).join('');
  const walk = (t: unknown, a: unknown) => {
    if (typeof t === 'string' && t.includes('@@herd-token-') && typeof a === 'string') {
      const order: number[] = [];
      const pattern = t.split(/@@herd-token-(\d+)@@/).map((piece, n) => {
        if (n % 2 === 1) {
          order.push(Number(piece));
          return '(.*?)';
        }
        return piece.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
      }).join('');
      const m = new RegExp(`^${pattern}$`).exec(a);
      if (m) order.forEach((token, n) => out.set(JSON.stringify(tokens[token]), m[n + 1] ?? ''));
      return;
    }
    if (Array.isArray(t) && Array.isArray(a)) t.forEach((x, n) => walk(x, a[n]));
    else if (t && typeof t === 'object' && a && typeof a === 'object') {
      for (const [k, v] of Object.entries(t)) walk(v, (a as Record<string, unknown>)[k]);
    }
  };
  walk(JSON.parse(text), JSON.parse(JSON.stringify(actual)));
  return out;
}
