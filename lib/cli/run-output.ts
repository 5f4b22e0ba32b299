/**
 * The CloudWatch Logs side of `herd run`: the command's output as the CloudWatch agent ships
 * it from the instance (`/var/log/herd/<app>/run.log` → log group `/herd/<app>/<env>/run`,
 * stream `<instance-id>`), read with GetLogEvents from the head, each next read from the
 * previous answer's `nextForwardToken` (the same token comes back at the end of the stream).
 */
import { GetLogEventsCommand } from '@aws-sdk/client-cloudwatch-logs';
import { logGroupName } from '../names';
import type { EnvironmentHandle } from './environment';
import { isAwsCode } from './errors';

/** The log group of `herd run` output. */
export function runLogGroup(handle: Pick<EnvironmentHandle, 'app' | 'name'>): string {
  return logGroupName(handle.app, handle.name, 'run');
}

/** Follows one run's stream: each `next()` returns the lines that arrived since the last. */
export class RunOutput {
  private token: string | undefined;
  /** Lines returned so far. */
  seen = 0;

  constructor(
    private readonly handle: EnvironmentHandle,
    readonly instanceId: string,
  ) {}

  /** New lines (none while the agent has not created the stream yet). */
  async next(): Promise<string[]> {
    const lines: string[] = [];
    for (let page = 0; page < 20; page++) {
      let res;
      try {
        res = await this.handle.clients.logs.send(
          new GetLogEventsCommand({
            logGroupName: runLogGroup(this.handle),
            logStreamName: this.instanceId,
            startFromHead: true,
            ...(this.token ? { nextToken: this.token } : {}),
          }),
        );
      } catch (err) {
        if (isAwsCode(err, 'ResourceNotFoundException')) return lines;
        throw err;
      }
      const events = res.events ?? [];
      for (const e of events) lines.push((e.message ?? '').replace(/\n$/, ''));
      const same = res.nextForwardToken === undefined || res.nextForwardToken === this.token;
      if (res.nextForwardToken) this.token = res.nextForwardToken;
      if (same || events.length === 0) break;
    }
    this.seen += lines.length;
    return lines;
  }
}
