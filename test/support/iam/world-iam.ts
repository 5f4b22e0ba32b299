/**
 * IAM for a simulated world: the synthesized templates of the world's environment (same app,
 * environment and peers), their roles' policies resolved to the world's ids and ARNs, and an
 * authorizer on the fake cloud that turns every call into IAM requests as it is made (the
 * resources' tags as they are then). `check()` evaluates them all and fails naming each
 * denied call; `allow()` records calls that do not go through the fake (the CLI's own S3,
 * Step Functions, CloudFormation).
 */
import type { EnvironmentSettings, HerdSettings } from '../../../lib/config/types';
import { defaultKeyPolicy } from '../../../lib/simulation/services/kms';
import { iamRequestsOf, type ApiCall, type IamRequest, type IamScope } from '../../../lib/simulation/iam/requests';
import { SIMULATED_ACCOUNT, SIMULATED_REGION, type World } from '../../../lib/simulation/world';
import { describeDenial, evaluate, type Denial, type Principal } from './evaluator';
import { synthesizedTemplates } from './synth';
import { matchJoin, TemplateResolver, type PolicyDocument, type TemplateJson } from './template-policies';

/** Roles of the environment stack, by the principal name the fake's calls carry. */
export const ENVIRONMENT_PRINCIPALS: Readonly<Record<string, string>> = {
  'deploy-step': 'DeployStepAdvanceServiceRole',
  reaper: 'DeployStepReaperServiceRole',
  'deploy-guard': 'DeployGuardFunctionServiceRole',
  builder: 'DeployStepBuilderRole',
  runner: 'DeployStepRunnerRole',
  web: 'WebInstanceRole',
  worker: 'WorkerInstanceRole',
};

/** The release-state stack's custom resource role. */
export const RELEASE_STATE_PRINCIPAL = 'release-state';
const RELEASE_STATE_ROLE = 'ReleaseStateFunctionServiceRole';

/** The configuration herd's stacks are synthesized with for a world: its app, its environment and its peers. */
export function worldSettings(app: string, env: string, peers: readonly string[] = [], settings: Partial<EnvironmentSettings> = {}): HerdSettings {
  return {
    app,
    environments: [env, ...peers].map((name, n) => ({ name, profile: 'small' as const, network: { cidr: `10.${40 + n}.0.0/16` }, ...(name === env ? settings : {}) })),
  };
}

export function roleByPrefix(roles: ReturnType<TemplateResolver['roles']>, prefix: string, name: string): Principal {
  const matches = [...roles.values()].filter((r) => r.logicalId.startsWith(prefix) && /^[A-Z0-9]{8}$/.test(r.logicalId.slice(prefix.length)));
  if (matches.length !== 1) throw new Error(`IAM: ${matches.length} roles ${prefix}* in the template`);
  const role = matches[0]!;
  return { name, arn: role.arn, policies: role.policies };
}

export interface IamCheck {
  readonly principals: Map<string, Principal>;
  readonly scope: IamScope;
  /** Every call seen, with its IAM requests. */
  readonly calls: { readonly call: ApiCall; readonly requests: readonly IamRequest[] }[];
  /** Records a call made outside the fake cloud (its requests mapped now). */
  record(call: ApiCall): void;
  /** The denied requests of every call recorded so far. */
  denials(): Promise<Denial[]>;
  /** Fails, naming each denied call, principal, action, resource and the missing statement. */
  check(): Promise<void>;
}

/**
 * The policy of a KMS key the fake cloud holds (`services/kms.ts`: keys a test adds), by its
 * ARN. GetKeyPolicy of a key of the account the fake does not hold answers NotFoundException
 * whatever the caller's permissions, so that call is evaluated with KMS's default policy.
 */
function fakeKeyPolicy(scope: IamScope, request: IamRequest): PolicyDocument | undefined {
  if (!scope.cloud || !request.resource.startsWith(`arn:aws:kms:${scope.region}:${scope.account}:key/`)) return undefined;
  const key = [...scope.cloud.kmsKeys.values()].find((k) => k.arn === request.resource);
  if (!key && request.action !== 'kms:GetKeyPolicy') return undefined;
  return JSON.parse(key?.policy ?? defaultKeyPolicy(scope.account)) as PolicyDocument;
}

/**
 * A check of calls against `principals`, scoped to `scope`. `resourcePolicies`: policies of
 * resources whose service requires one besides the caller's (KMS key policies), by ARN.
 */
export function iamCheck(principals: Map<string, Principal>, scope: IamScope, resourcePolicies: ReadonlyMap<string, PolicyDocument> = new Map()): IamCheck {
  const calls: { call: ApiCall; requests: IamRequest[] }[] = [];
  const denials = async (): Promise<Denial[]> => {
    const out: Denial[] = [];
    const seen = new Set<string>();
    for (const { call, requests } of calls) {
      const principal = principals.get(call.principal);
      if (!principal) throw new Error(`IAM: no policies for principal ${call.principal} (calling ${call.service}:${call.api})`);
      for (const request of requests) {
        const result = await evaluate(principal, request, resourcePolicies.get(request.resource) ?? fakeKeyPolicy(scope, request));
        const key = JSON.stringify([principal.name, call.service, call.api, request.action, request.resource, request.context]);
        if (result !== 'Allowed' && !seen.has(key)) {
          seen.add(key);
          out.push({ principal, call, request, result });
        }
      }
    }
    return out;
  };
  return {
    principals,
    scope,
    calls,
    record: (call) => calls.push({ call, requests: iamRequestsOf(call, scope) }),
    denials,
    check: async () => {
      const denied = await denials();
      if (denied.length > 0) throw new Error(`IAM denied ${denied.length} request(s):\n${denied.map(describeDenial).join('\n')}`);
    },
  };
}

/** The resolver of an environment template, with the world's ids learnt from the advance function's environment. */
export function worldResolver(template: TemplateJson, world: Pick<World, "env" | "cloud">): TemplateResolver {
  const advance = Object.values(template.Resources).find((r) => r.Type === 'AWS::Lambda::Function' && String(r.Properties?.Description ?? '').includes('advances a deploy'));
  const deployEnvironment = (advance?.Properties?.Environment as { Variables?: Record<string, unknown> } | undefined)?.Variables?.DEPLOY_ENVIRONMENT;
  const known = matchJoin(deployEnvironment, world.env);
  // The fleets' instance profiles: the world's launch templates name them.
  const profileOf = (ltId: string | undefined) => (ltId ? world.cloud.launchTemplates.get(ltId)?.versions[0]?.instanceProfileArn : undefined);
  for (const [id, r] of Object.entries(template.Resources)) {
    if (r.Type !== 'AWS::IAM::InstanceProfile') continue;
    const role = id.startsWith('Web') ? 'web' : id.startsWith('Worker') ? 'worker' : undefined;
    const arn = role ? profileOf(world.env.fleets[role]?.launchTemplateId) : undefined;
    if (arn) known.set(JSON.stringify({ 'Fn::GetAtt': [id, 'Arn'] }), arn);
  }
  // The deploy state machine, as the simulations name it (the reaper resumes executions of it).
  for (const [id, r] of Object.entries(template.Resources)) {
    if (r.Type !== 'AWS::StepFunctions::StateMachine') continue;
    const name = `herd-${world.env.env}-deploy`;
    known.set(JSON.stringify({ Ref: id }), `arn:aws:states:${SIMULATED_REGION}:${SIMULATED_ACCOUNT}:stateMachine:${name}`);
    known.set(JSON.stringify({ 'Fn::GetAtt': [id, 'Name'] }), name);
  }
  return new TemplateResolver(template, { account: SIMULATED_ACCOUNT, region: SIMULATED_REGION, stackName: world.env.stackName ?? `herd-${world.env.env}`, known });
}

/**
 * Turns IAM evaluation on for `world`: every call to its fake cloud is mapped to IAM requests
 * for the principal that made it (`cloud.clients(principal)`), to be evaluated by `check()`.
 */
export interface WorldIamOptions {
  /** Other environments of the app (default: the world's peers). */
  readonly peers?: readonly string[];
  /** Principals besides the stack's roles (the operator). */
  readonly extraPrincipals?: readonly Principal[];
  /** Settings of the world's environment the stack is synthesized with (e.g. `ebsKmsKeyArn`). */
  readonly settings?: Partial<EnvironmentSettings>;
  /** Policies of resources outside the stack whose service evaluates them (a customer-managed key's key policy), by ARN. */
  readonly resourcePolicies?: ReadonlyMap<string, PolicyDocument>;
}

export function checkWorldIam(world: World, options: WorldIamOptions = {}): IamCheck {
  const peers = options.peers ?? world.env.peerEnvironments;
  const templates = synthesizedTemplates(worldSettings(world.env.app, world.env.env, peers, options.settings))[world.env.env];
  if (!templates) throw new Error(`IAM: no templates for ${world.env.env}`);
  const resolver = worldResolver(templates.environment, world);
  const roles = resolver.roles();
  const principals = new Map<string, Principal>();
  for (const [name, prefix] of Object.entries(ENVIRONMENT_PRINCIPALS)) principals.set(name, roleByPrefix(roles, prefix, name));
  for (const p of options.extraPrincipals ?? []) principals.set(p.name, p);
  const profiles = resolver.instanceProfileRoles();
  const topics = new Map<string, string>();
  for (const [id, r] of Object.entries(templates.environment.Resources)) {
    if (r.Type === 'AWS::SNS::Topic' && r.Properties?.KmsMasterKeyId !== undefined) topics.set(resolver.ref(id), String(resolver.resolve(r.Properties.KmsMasterKeyId)));
  }
  const scope: IamScope = {
    account: SIMULATED_ACCOUNT,
    region: SIMULATED_REGION,
    cloud: world.cloud,
    roleOfInstanceProfile: (arn) => profiles.get(arn),
    keyOfTopic: (arn) => topics.get(arn),
    ...(world.env.instances.ebsKmsKeyArn ? { ebsKeyArn: world.env.instances.ebsKmsKeyArn } : {}),
  };
  const check = iamCheck(principals, scope, new Map([...resolver.keyPolicies(), ...(options.resourcePolicies ?? [])]));
  world.cloud.authorizer = (call) => check.record(call);
  return check;
}

/** The release-state custom resource's principal for `app`/`env`, from its synthesized stack. */
export function releaseStatePrincipal(app: string, env: string, settings: Partial<EnvironmentSettings> = {}): Principal {
  const templates = synthesizedTemplates(worldSettings(app, env, [], settings))[env];
  if (!templates) throw new Error(`IAM: no templates for ${env}`);
  const resolver = new TemplateResolver(templates.releaseState, { account: SIMULATED_ACCOUNT, region: SIMULATED_REGION, stackName: `herd-${env}-release-state` });
  return roleByPrefix(resolver.roles(), RELEASE_STATE_ROLE, RELEASE_STATE_PRINCIPAL);
}

/**
 * Turns IAM evaluation on for the release-state custom resource's calls to `world`'s fake
 * cloud (`cloud.clients(RELEASE_STATE_PRINCIPAL)`), against its role in the release-state
 * stack of `app`/`env`.
 */
export function checkReleaseStateIam(world: World, app: string, env: string, settings: Partial<EnvironmentSettings> = {}): IamCheck {
  const principal = releaseStatePrincipal(app, env, settings);
  const check = iamCheck(new Map([[principal.name, principal]]), { account: SIMULATED_ACCOUNT, region: SIMULATED_REGION, cloud: world.cloud, roleOfInstanceProfile: () => undefined });
  world.cloud.authorizer = (call) => check.record(call);
  return check;
}
