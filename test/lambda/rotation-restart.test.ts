/**
 * A rotation of the application's database secret restarts the fleets
 * (`lib/rotation-restart.ts`, `lambda/rotation-restart/restart.ts`).
 */
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { App, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { Rule } from 'aws-cdk-lib/aws-events';
import { restartAfterRotation, ROTATION_ACTOR, type RotationRestartClients } from '../../lambda/rotation-restart/restart';
import { parseDeployInput } from '../../lambda/deploy/state';
import { rotationSucceededPattern } from '../../lib/rotation-restart';
import { MOTO_SERVER } from '../support/moto';

const MOTO_PYTHON = path.join(path.dirname(MOTO_SERVER), 'python');

const APP_SECRET = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:DatabaseCredentialsAppSecret-AbCdEf';
const OTHER_SECRET = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:SecretKey-GhIjKl';

/**
 * A `RotationSucceeded` event as EventBridge delivers it: the CloudTrail entry the Secrets
 * Manager user guide shows ("AWS CloudTrail entries for Secrets Manager", rotation) in the
 * envelope of "AWS service events delivered via AWS CloudTrail".
 */
function rotationEvent(secretId: string, eventName = 'RotationSucceeded') {
  return {
    'version': '0',
    'id': '6f7a1c2e-0000-4000-8000-000000000001',
    'detail-type': 'AWS Service Event via CloudTrail',
    'source': 'aws.secretsmanager',
    'account': '123456789012',
    'time': '2026-12-02T03:00:00Z',
    'region': 'eu-west-1',
    'resources': [],
    'detail': {
      eventVersion: '1.08',
      userIdentity: { accountId: '123456789012', invokedBy: 'secretsmanager.amazonaws.com' },
      eventTime: '2026-12-02T03:00:00Z',
      eventSource: 'secretsmanager.amazonaws.com',
      eventName,
      awsRegion: 'eu-west-1',
      sourceIPAddress: 'secretsmanager.amazonaws.com',
      userAgent: 'secretsmanager.amazonaws.com',
      requestParameters: null,
      responseElements: null,
      additionalEventData: { SecretId: secretId },
      requestID: 'f0e1d2c3-0000-4000-8000-000000000002',
      eventID: 'a1b2c3d4-0000-4000-8000-000000000003',
      readOnly: false,
      eventType: 'AwsServiceEvent',
      managementEvent: true,
      recipientAccountId: '123456789012',
      eventCategory: 'Management',
    },
  };
}

/**
 * Whether EventBridge's matching, as moto implements it (`moto.events.models.EventPattern`, the
 * one its PutEvents routes with; its TestEventPattern API answers nothing), sends `event` to a
 * rule with `pattern`.
 */
function matches(pattern: unknown, event: unknown): boolean {
  const program = [
    'import json, sys',
    'from moto.events.models import EventPattern, EventPatternParser',
    'raw = sys.argv[1]',
    'print(json.dumps(EventPattern(raw, EventPatternParser(raw).parse()).matches_event(json.loads(sys.argv[2]))))',
  ].join('\n');
  const run = spawnSync(MOTO_PYTHON, ['-c', program, JSON.stringify(pattern), JSON.stringify(event)], { encoding: 'utf8' });
  if (run.status !== 0) throw new Error(`moto's EventPattern failed: ${run.stderr}`);
  return JSON.parse(run.stdout) as boolean;
}

describe('the rule (its pattern, evaluated by moto\'s EventBridge matching)', () => {
  /** The pattern as the rule's template holds it (CDK renders `detailType` as `detail-type`). */
  const pattern = () => {
    // Without aws-cdk-lib's built-in CloudFormation validation: it only warns, and its start costs seconds (test/support/app.ts).
    const stack = new Stack(new App({ builtinCloudFormationValidation: false }));
    new Rule(stack, 'R', { eventPattern: rotationSucceededPattern([APP_SECRET]) });
    return Object.values(Template.fromStack(stack).findResources('AWS::Events::Rule'))[0]?.Properties?.EventPattern;
  };

  test('matches the application secret\'s RotationSucceeded', () => {
    expect(matches(pattern(), rotationEvent(APP_SECRET))).toBe(true);
  });

  test('not another secret\'s rotation, nor a failed or started one', () => {
    expect(matches(pattern(), rotationEvent(OTHER_SECRET))).toBe(false);
    expect(matches(pattern(), rotationEvent(APP_SECRET, 'RotationFailed'))).toBe(false);
    expect(matches(pattern(), rotationEvent(APP_SECRET, 'RotationStarted'))).toBe(false);
  });
});

describe('the restart it starts', () => {
  const SETTINGS = {
    env: 'staging',
    stateMachineArn: 'arn:aws:states:eu-west-1:123456789012:stateMachine:deploy',
    tableName: 'deploys',
    topicArn: 'arn:aws:sns:eu-west-1:123456789012:herd',
    currentReleaseParameter: '/herd/shop/staging/current-release',
    secretArns: [APP_SECRET],
  };
  const NOW = Date.parse('2026-12-02T03:00:05Z');

  function clients(options: { release?: string; lock?: Record<string, string> }) {
    const sent: Array<{ service: string; command: string; input: Record<string, unknown> }> = [];
    const record = (service: string, answer: (input: Record<string, unknown>) => unknown) => ({
      send: async (c: { constructor: { name: string }; input: Record<string, unknown> }) => {
        sent.push({ service, command: c.constructor.name, input: c.input });
        return answer(c.input);
      },
    });
    const all = {
      ssm: record('ssm', () => {
        if (options.release === undefined) throw Object.assign(new Error('not found'), { name: 'ParameterNotFound' });
        return { Parameter: { Value: options.release } };
      }),
      sfn: record('sfn', () => ({})),
      sns: record('sns', () => ({})),
      dynamodb: record('dynamodb', () => ({ Item: options.lock ? { pk: 'LOCK', sk: 'LOCK', ...options.lock } : undefined })),
    } as unknown as RotationRestartClients;
    return { all, sent };
  }

  test('a free environment serving r1: a restart of both roles on r1, by `rotation`', async () => {
    const { all, sent } = clients({ release: 'r1' });
    const outcome = await restartAfterRotation(rotationEvent(APP_SECRET), SETTINGS, all, NOW);
    const start = sent.find((s) => s.command === 'StartExecutionCommand');
    expect(outcome).toEqual({ started: start?.input.name, release: 'r1' });
    expect(start?.input.stateMachineArn).toBe(SETTINGS.stateMachineArn);
    expect(JSON.parse(String(start?.input.input))).toEqual({ release: 'r1', actor: ROTATION_ACTOR, deployId: start?.input.name, mode: 'restart' });
    // The deploy step takes it as it takes `herd restart`'s (scenario 64 runs exactly this input on the fake cloud).
    expect(parseDeployInput(JSON.parse(String(start?.input.input)))).toMatchObject({ mode: 'restart', actor: 'rotation', release: 'r1' });
    expect(sent.filter((s) => s.service === 'sns')).toEqual([]);
  });

  test('a deploy holds the lock: no restart; the topic says why and what to do', async () => {
    const lock = { deployId: 'deploy-0007', actor: 'alice', since: '2026-12-02T02:55:00.000Z', release: 'r2' };
    const { all, sent } = clients({ release: 'r1', lock });
    const outcome = await restartAfterRotation(rotationEvent(APP_SECRET), SETTINGS, all, NOW);
    expect(sent.filter((s) => s.service === 'sfn')).toEqual([]);
    const published = sent.filter((s) => s.service === 'sns').map((s) => s.input);
    expect(published).toEqual([{
      TopicArn: SETTINGS.topicArn,
      Subject: 'herd staging: credentials rotated, restart NOT started',
      Message: `secret ${APP_SECRET} was rotated, but the restart that loads it was not started: environment staging is locked by deploy deploy-0007 (alice, release r2) since 2026-12-02T02:55:00.000Z; ` +
        'if that deploy is no longer running, break the lock with `herd unlock staging --deploy deploy-0007`. The servers keep working with the previous credentials until the next rotation; ' +
        'once that deploy ends, run `herd restart staging` (a deploy that replaced every server loaded them already).',
    }]);
    expect(outcome).toEqual({ skipped: published[0]?.Message });
  });

  test('nothing serves yet: nothing to restart, nothing started', async () => {
    for (const release of [undefined, 'none']) {
      const { all, sent } = clients({ ...(release ? { release } : {}) });
      const outcome = await restartAfterRotation(rotationEvent(APP_SECRET), SETTINGS, all, NOW);
      expect(outcome).toEqual({ skipped: expect.stringContaining('nothing serves on staging yet') });
      expect(sent.map((s) => s.service)).toEqual(['ssm']);
    }
  });

  test('an event of another secret or kind is refused before anything is read', async () => {
    const { all, sent } = clients({ release: 'r1' });
    await expect(restartAfterRotation(rotationEvent(OTHER_SECRET), SETTINGS, all, NOW)).rejects.toThrow(`rotation restart: not a RotationSucceeded event of ${APP_SECRET}`);
    await expect(restartAfterRotation(rotationEvent(APP_SECRET, 'RotationFailed'), SETTINGS, all, NOW)).rejects.toThrow('rotation restart: not a RotationSucceeded event');
    expect(sent).toEqual([]);
  });
});
