/**
 * Operator actions in the deploy table: what an operator changed by hand (maintenance page,
 * Auto Scaling processes, a broken lock, an aborted or repaired deploy, a promotion), who (their AWS
 * identity) and when, so `herd history` shows them next to the deploys they affect.
 *
 * Item: `pk = ACTION`, `sk = <ISO time>#<verb>`, with `actor`, `verb`, `environment`,
 * `detail` (what changed, in words) and `at` (the same ISO time). A Query on `pk = ACTION`,
 * newest first, lists them (`readOperatorActions` in `history.ts`).
 */
import { PutCommand } from '@aws-sdk/lib-dynamodb';
import type { AwsClients, CliDeps } from './deps';
import type { EnvironmentHandle } from './environment';

/** Partition of operator actions in the deploy table. */
export const ACTION_PK = 'ACTION';

/** The verbs herd records (the CLI's words). */
export type OperatorVerb =
  | 'maintenance on' | 'maintenance off' | 'autoscaling suspend' | 'autoscaling resume' | 'unlock' | 'abort' | 'repair' | 'promote'
  /** `herd config`: the keys written or removed, never their values. */
  | 'config set' | 'config unset'
  | 'restart' | 'run' | 'console'
  /** `herd maintenance rotate-bypass`: that the value changed (or how far a stopped rotation got), never the value. */
  | 'maintenance rotate-bypass';

/** One operator action as stored. */
export interface OperatorActionItem {
  readonly pk: typeof ACTION_PK;
  /** `<at>#<verb>`: sorts by time. */
  readonly sk: string;
  readonly verb: string;
  /** The caller's AWS identity (`CliDeps.actor`). */
  readonly actor: string;
  readonly environment: string;
  /** What changed, e.g. "suspended Launch, Terminate on herd-staging-web and herd-staging-worker". */
  readonly detail: string;
  /** ISO 8601. */
  readonly at: string;
}

/** What `recordOperatorAction` needs. */
export interface OperatorAction {
  readonly verb: OperatorVerb;
  readonly actor: string;
  readonly environment: string;
  readonly detail: string;
  /** Epoch milliseconds. */
  readonly at: number;
}

/** DynamoDB's item limit is 400 KB; a detail is a sentence or two. */
export const MAX_DETAIL_CHARS = 2000;

/** The item of `action`. */
export function operatorActionItem(action: OperatorAction): OperatorActionItem {
  const at = new Date(action.at).toISOString();
  const detail = action.detail.length <= MAX_DETAIL_CHARS ? action.detail : `${action.detail.slice(0, MAX_DETAIL_CHARS - 1)}…`;
  return { pk: ACTION_PK, sk: `${at}#${action.verb}`, verb: action.verb, actor: action.actor, environment: action.environment, detail, at };
}

/** Writes `action` to the deploy table `tableName` (a repeated write of the same action overwrites it: idempotent). */
export async function recordOperatorAction(clients: Pick<AwsClients, 'dynamodb'>, tableName: string, action: OperatorAction): Promise<OperatorActionItem> {
  const item = operatorActionItem(action);
  await clients.dynamodb.send(new PutCommand({ TableName: tableName, Item: { ...item } }));
  return item;
}

/**
 * Records what a verb did to `handle`'s environment, as `actor`, now. The action has already
 * happened: a failed write does not undo it or fail the command, it is reported on stderr
 * as a warning naming what was not recorded.
 */
export async function auditAction(deps: CliDeps, handle: EnvironmentHandle, verb: OperatorVerb, actor: string, detail: string): Promise<void> {
  try {
    await recordOperatorAction(handle.clients, handle.outputs.deployTableName, { verb, actor, environment: handle.name, detail, at: deps.now() });
  } catch (err) {
    const why = err instanceof Error ? `${err.name && err.name !== 'Error' ? `${err.name}: ` : ''}${err.message}` : String(err);
    deps.err.write(`herd: warning: ${verb} on ${handle.name} is done, but it could not be recorded in the deploy table ${handle.outputs.deployTableName} (${why}); \`herd history ${handle.name}\` will not show it\n`);
  }
}

/** Type guard for an operator action read back from the table. */
export function isOperatorActionItem(value: unknown): value is OperatorActionItem {
  if (typeof value !== 'object' || value === null) return false;
  const v = value as Record<string, unknown>;
  return v.pk === ACTION_PK && typeof v.sk === 'string' && typeof v.verb === 'string' && typeof v.actor === 'string' && typeof v.at === 'string' && typeof v.detail === 'string';
}
