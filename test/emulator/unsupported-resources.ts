/**
 * The only change the emulator test makes to herd's synthesized cloud assembly: resources of
 * the types ministack's CloudFormation does not know are removed from one stack's template
 * (it rejects the whole template otherwise: "Template format error: Unrecognized resource
 * types: […]"), and the template's asset hash is updated so `cdk deploy --app <assembly>`
 * publishes and deploys the filtered template.
 *
 * Nothing else is removed, except a resource whose properties point at a removed one, and
 * only if its type is listed in `DEPENDENT_TYPES` (a route through the removed NAT gateway
 * means nothing without it); any other reference to a removed resource (a property, an
 * output) is an error, so a new use of these types is looked at rather than silently lost.
 */
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';

/** Resource types ministack 1.5.33 does not implement (or cannot serve, said there), and what the stack loses without them. */
export const UNSUPPORTED_RESOURCE_TYPES: Readonly<Record<string, string>> = {
  'AWS::EC2::EIP': 'the NAT gateway\'s public address',
  'AWS::EC2::NatGateway': 'outbound internet access from the private subnets (no packet is routed in the emulator)',
  'AWS::EC2::FlowLog': 'the VPC flow log to CloudWatch Logs',
  'AWS::EC2::SecurityGroupIngress': 'security-group rules CDK writes as resources of their own (between groups); the emulator evaluates no network access',
  'AWS::EC2::SecurityGroupEgress': 'the same, for egress',
  // Implemented (ministack runs the role keeper), but its RDS endpoint resolves to no PostgreSQL:
  // the keeper's SQL is tested against a real one in test/lambda/role-keeper.test.ts.
  'Custom::HerdDatabaseRoles': 'the application\'s PostgreSQL roles, which the role keeper makes on the database (there is none behind the emulator\'s RDS endpoint)',
  'AWS::SecretsManager::RotationSchedule': 'the database credentials\' rotation on a schedule (the hosted rotation functions the SecretsManager transform makes) and the cache AUTH token\'s (herd\'s function, tested on the fake cloud in test/lambda/cache-token-rotation.test.ts)',
  'AWS::SecretsManager::ResourcePolicy': 'the policy CDK adds to a rotated secret (the database\'s): the account may not delete it outside its stack',
};

/** Types removed because a property points at a removed resource, and why that is all they lose. */
export const DEPENDENT_TYPES: Readonly<Record<string, string>> = {
  'AWS::EC2::Route': 'a private subnet\'s default route through the NAT gateway',
  // Only the NAT gateways' alarms refer to a removed resource (their NatGatewayId dimension).
  'AWS::CloudWatch::Alarm': 'a NAT gateway\'s alarm (port allocation errors, dropped packets)',
};

interface TemplateResource {
  Type: string;
  Properties?: unknown;
  DependsOn?: string | string[];
  [key: string]: unknown;
}

interface Template {
  Resources: Record<string, TemplateResource>;
  Outputs?: Record<string, unknown>;
  [key: string]: unknown;
}

/** What `filterUnsupportedResources` removed: logical id → type. */
export interface FilterReport {
  readonly removed: Readonly<Record<string, string>>;
  readonly dependents: Readonly<Record<string, string>>;
}

/** Logical ids a template fragment references (`Ref`, `Fn::GetAtt`, `${Id}` / `${Id.Attr}` in `Fn::Sub`). */
function references(value: unknown, into: Set<string> = new Set()): Set<string> {
  if (Array.isArray(value)) {
    for (const v of value) references(v, into);
  } else if (typeof value === 'object' && value !== null) {
    for (const [key, v] of Object.entries(value)) {
      if (key === 'Ref' && typeof v === 'string') into.add(v);
      else if (key === 'Fn::GetAtt') into.add(Array.isArray(v) ? String(v[0]) : String(v).split('.')[0]);
      else if (key === 'Fn::Sub') {
        const text = Array.isArray(v) ? v[0] : v;
        if (typeof text === 'string') for (const m of text.matchAll(/\$\{([A-Za-z0-9]+)(?:\.[A-Za-z0-9.]+)?\}/g)) into.add(m[1]);
        references(Array.isArray(v) ? v.slice(1) : [], into);
      } else references(v, into);
    }
  }
  return into;
}

/** Removes the unsupported resources (and their listed dependents) from a template, in place. */
export function filterTemplate(template: Template): FilterReport {
  const removed: Record<string, string> = {};
  const dependents: Record<string, string> = {};
  for (const [id, resource] of Object.entries(template.Resources)) {
    if (resource.Type in UNSUPPORTED_RESOURCE_TYPES) removed[id] = resource.Type;
  }
  const gone = () => new Set([...Object.keys(removed), ...Object.keys(dependents)]);
  // Dependents of dependents too, until nothing changes.
  for (let changed = true; changed;) {
    changed = false;
    const out = gone();
    for (const [id, resource] of Object.entries(template.Resources)) {
      if (out.has(id)) continue;
      const hits = [...references(resource.Properties)].filter((r) => out.has(r));
      if (hits.length === 0) continue;
      if (!(resource.Type in DEPENDENT_TYPES)) {
        throw new Error(`${id} (${resource.Type}) refers to ${hits.join(', ')}, which the emulator test removes: list its type in DEPENDENT_TYPES only if it means nothing without them`);
      }
      dependents[id] = resource.Type;
      changed = true;
    }
  }
  const out = gone();
  for (const id of out) delete template.Resources[id];
  for (const resource of Object.values(template.Resources)) {
    if (resource.DependsOn === undefined) continue;
    const kept = (Array.isArray(resource.DependsOn) ? resource.DependsOn : [resource.DependsOn]).filter((d) => !out.has(d));
    if (kept.length > 0) resource.DependsOn = kept;
    else delete resource.DependsOn;
  }
  for (const [name, output] of Object.entries(template.Outputs ?? {})) {
    const hits = [...references(output)].filter((r) => out.has(r));
    if (hits.length > 0) throw new Error(`output ${name} refers to ${hits.join(', ')}, which the emulator test removes`);
  }
  return { removed, dependents };
}

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

/**
 * Filters `<stack>.template.json` of the cloud assembly in `assemblyDir` and points the
 * assembly at the new template: CDK names a template's S3 object after its SHA-256, in the
 * stack's asset manifest and in `manifest.json` (`stackTemplateAssetObjectUrl`), so both
 * learn the new hash (otherwise `cdk deploy` would find the old name in the bucket and skip
 * the upload, or CloudFormation would read a stale template).
 */
export function filterAssemblyStack(assemblyDir: string, stackName: string): FilterReport {
  const templateFile = path.join(assemblyDir, `${stackName}.template.json`);
  const original = readFileSync(templateFile, 'utf8');
  const oldHash = sha256(original);
  const template = JSON.parse(original) as Template;
  const report = filterTemplate(template);
  const filtered = JSON.stringify(template, undefined, 1);
  const newHash = sha256(filtered);
  writeFileSync(templateFile, filtered);
  for (const file of [path.join(assemblyDir, `${stackName}.assets.json`), path.join(assemblyDir, 'manifest.json')]) {
    const text = readFileSync(file, 'utf8');
    if (!text.includes(oldHash)) throw new Error(`${file} does not name ${stackName}'s template by its hash ${oldHash}: the cloud assembly format changed`);
    writeFileSync(file, text.split(oldHash).join(newHash));
  }
  return report;
}
