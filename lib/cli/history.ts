/**
 * The deploy table's history: deploys (`pk = DEPLOY`) and operator actions (`pk = ACTION`,
 * `audit.ts`), each newest first or merged, and what deploys teach about how long each
 * phase takes.
 */
import { QueryCommand } from '@aws-sdk/lib-dynamodb';
import type { HistoryItem, PhaseRecord } from '../../lambda/deploy/lock';
import type { Phase } from '../../lambda/deploy/state';
import { ACTION_PK, isOperatorActionItem, type OperatorActionItem } from './audit';
import type { AwsClients } from './deps';

/** A history item as read back (the deploy step writes `HistoryItem`; `mode` marks a bake-only run). */
export type DeployRecord = HistoryItem & { readonly mode?: string };

function isRecord(value: unknown): value is DeployRecord {
  if (typeof value !== 'object' || value === null) return false;
  const v = value as Record<string, unknown>;
  return v.pk === 'DEPLOY' && typeof v.deployId === 'string' && typeof v.release === 'string' && typeof v.status === 'string' && Array.isArray(v.phases);
}

/** The items of partition `pk` that pass `guard`, newest first (sort keys start with an ISO time), at most `limit`. */
async function newestFirst<T>(clients: Pick<AwsClients, 'dynamodb'>, tableName: string, pk: string, guard: (item: unknown) => item is T, limit: number): Promise<T[]> {
  const items: T[] = [];
  let start: Record<string, unknown> | undefined;
  do {
    const res = await clients.dynamodb.send(
      new QueryCommand({
        TableName: tableName,
        KeyConditionExpression: 'pk = :pk',
        ExpressionAttributeValues: { ':pk': pk },
        ScanIndexForward: false,
        Limit: Math.min(100, limit - items.length),
        ...(start ? { ExclusiveStartKey: start } : {}),
      }),
    );
    for (const item of res.Items ?? []) if (guard(item)) items.push(item);
    start = res.LastEvaluatedKey;
  } while (start && items.length < limit);
  return items.slice(0, limit);
}

/** Deploys, newest first, at most `limit` items. */
export async function readHistory(clients: Pick<AwsClients, 'dynamodb'>, tableName: string, limit = 50): Promise<DeployRecord[]> {
  return newestFirst(clients, tableName, 'DEPLOY', isRecord, limit);
}

/** Operator actions (`audit.ts`), newest first, at most `limit`. */
export async function readOperatorActions(clients: Pick<AwsClients, 'dynamodb'>, tableName: string, limit = 50): Promise<OperatorActionItem[]> {
  return newestFirst(clients, tableName, ACTION_PK, isOperatorActionItem, limit);
}

/** One line of `herd history`: a deploy, or an operator action. */
export type HistoryEntry = { readonly kind: 'deploy'; readonly at: string; readonly deploy: DeployRecord } | { readonly kind: 'action'; readonly at: string; readonly action: OperatorActionItem };

/** Deploys (by start) and operator actions, merged newest first, at most `limit` in all. */
export async function readHistoryEntries(clients: Pick<AwsClients, 'dynamodb'>, tableName: string, limit = 50): Promise<HistoryEntry[]> {
  const [deploys, actions] = await Promise.all([readHistory(clients, tableName, limit), readOperatorActions(clients, tableName, limit)]);
  const entries: HistoryEntry[] = [
    ...deploys.map((deploy) => ({ kind: 'deploy' as const, at: deploy.startedAt, deploy })),
    ...actions.map((action) => ({ kind: 'action' as const, at: action.at, action })),
  ];
  // ISO times of one format compare as strings; at the same instant, the action after the deploy it followed.
  return entries.sort((a, b) => (a.at === b.at ? (a.kind === b.kind ? 0 : a.kind === 'action' ? -1 : 1) : a.at < b.at ? 1 : -1)).slice(0, limit);
}

/** Seconds of one deploy, start to end (undefined while it runs). */
export function durationSeconds(item: DeployRecord): number | undefined {
  if (!item.endedAt) return undefined;
  return Math.round((Date.parse(item.endedAt) - Date.parse(item.startedAt)) / 1000);
}

function median(values: number[]): number | undefined {
  if (values.length === 0) return undefined;
  const s = [...values].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? (s[mid] ?? 0) : ((s[mid - 1] ?? 0) + (s[mid] ?? 0)) / 2;
}

/**
 * Median seconds per phase over succeeded deploys like this one (same strategy, same
 * mode; a phase counts once per deploy, summed when it appears twice). Empty when there
 * is no such history.
 */
export function phaseMedians(items: readonly DeployRecord[], like: { strategy: string; mode?: string }): Partial<Record<Phase, number>> {
  const samples = new Map<Phase, number[]>();
  const similar = items.filter((i) => i.status === 'succeeded' && i.strategy === like.strategy && (i.mode ?? 'deploy') === (like.mode ?? 'deploy'));
  for (const item of similar) {
    const perPhase = new Map<Phase, number>();
    for (const p of item.phases as readonly PhaseRecord[]) perPhase.set(p.phase, (perPhase.get(p.phase) ?? 0) + p.seconds);
    for (const [phase, seconds] of perPhase) samples.set(phase, [...(samples.get(phase) ?? []), seconds]);
  }
  const medians: Partial<Record<Phase, number>> = {};
  for (const [phase, values] of samples) {
    const m = median(values);
    if (m !== undefined) medians[phase] = m;
  }
  return medians;
}
