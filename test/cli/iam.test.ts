/**
 * The operator IAM policies (`herd iam-policy`, `lib/cli/iam-policy.ts`): every CLI verb
 * runs in the simulated environment and each of its calls is evaluated against the matching
 * policy — the read-only one for `status`, `logs`, `doctor`, `history` and `plan`, the deploy one for every
 * verb — after each test (`test/cli/support/simulated.ts`). The README shows both, and a
 * removed statement fails the evaluation naming the permission.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { join } from 'node:path';
import { COMMANDS } from '../../lib/cli/program';
import { README_POLICY_TARGET, READ_ONLY_VERBS, operatorPolicy } from '../../lib/cli/iam-policy';
import { configureRuns } from '../../lib/simulation/services/runs';
import { SSM_AGENT_ONLINE_SECONDS, setSessionUserName } from '../../lib/simulation/services/session-manager';
import { describeDenial, type Principal } from '../support/iam/evaluator';
import { appDirectory } from './support/app';
import { runHerd, testDeps } from './support/harness';
import { addSecret } from '../../lib/simulation/services/secrets-manager';
import { OPERATOR_PRINCIPALS, SimulatedEnvironment } from './support/simulated';

function setup(principal: string = OPERATOR_PRINCIPALS.deploy) {
  const sim = new SimulatedEnvironment({ web: 2, worker: 1, serving: 'r1', baked: ['r0'] });
  // What herd doctor reads besides: the database's secret.
  addSecret(sim.world.cloud, 'db', sim.outputs().DatabaseSecretArn);
  const deps = () => testDeps({ clients: () => sim.clients(principal), now: () => sim.world.clock.now(), sleep: () => sim.sleep() });
  return { sim, deps };
}

/** Verbs a test below ran (top-level commands), to prove every verb was evaluated. */
const exercised = new Set<string>();
async function herd(args: string[], deps: Parameters<typeof runHerd>[1]) {
  exercised.add(args[0] ?? '');
  return runHerd(args, deps);
}

describe('the read-only operator policy', () => {
  test.each(READ_ONLY_VERBS.map((v) => [v]))('allows every call of herd %s', async (verb) => {
    const { deps } = setup(OPERATOR_PRINCIPALS['read-only']);
    const run = await herd([verb, 'staging'], deps());
    expect({ code: run.code, err: run.err }).toEqual({ code: 0, err: '' });
  });

  test('fails when a read-only operator turns the maintenance page on, naming the permission and the missing statement', async () => {
    const { sim, deps } = setup(OPERATOR_PRINCIPALS['read-only']);
    await herd(['maintenance', 'on', 'staging'], deps());
    const denied = await sim.iam.denials();
    sim.iam.calls.splice(0);
    const text = denied.map(describeDenial).join('\n');
    expect(text).toContain('operator-read-only (arn:aws:iam::123456789012:user/alice) is denied elasticloadbalancing:CreateRule on arn:aws:elasticloadbalancing:eu-west-1:123456789012:listener/app/herd-staging/');
    expect(text).toContain('missing statement: {"Effect":"Allow","Action":"elasticloadbalancing:CreateRule"');
  });
});

describe('the deploy operator policy', () => {
  test('allows every call of a deploy from an app directory (upload, start, follow), status, logs, doctor, history, plan, iam-policy, and watch of a detached deploy', async () => {
    const { sim, deps } = setup();
    expect((await herd(['deploy', 'staging', appDirectory('a'), '--label', 'v2'], deps())).code).toBe(0);
    for (const verb of ['status', 'logs', 'doctor', 'history', 'plan', 'iam-policy']) {
      const run = await herd([verb, 'staging'], deps());
      expect([verb, run.code, run.err]).toEqual([verb, 0, '']);
    }
    expect((await herd(['deploy', 'staging', appDirectory('b'), '--detach'], deps())).code).toBe(3);
    await sim.run(10);
    expect(await herd(['watch', 'staging'], deps())).toMatchObject({ code: 0, err: '' });
  });

  test('allows every call of bake, rollback, releases and releases prune', async () => {
    const { deps } = setup();
    const bake = await herd(['bake', 'staging', appDirectory('b')], deps());
    expect(bake.code).toBe(0);
    const release = /of release (\S+) is ready/.exec(bake.out)?.[1] ?? '';
    expect((await herd(['rollback', 'staging', release], deps())).code).toBe(0);
    expect((await herd(['releases', 'staging'], deps())).code).toBe(0);
    expect((await herd(['releases', 'prune', 'staging', '--yes'], deps())).code).toBe(0);
  });

  test('allows every call of promote (the source environment\'s release parameters, the image, the deploy, the audit)', async () => {
    const sim = new SimulatedEnvironment({ web: 2, worker: 1, serving: 'r1', baked: ['r0'], peers: [{ env: 'production', serving: 'r0' }] });
    const deps = () => testDeps({ clients: () => sim.clients(OPERATOR_PRINCIPALS.deploy), now: () => sim.world.clock.now(), sleep: () => sim.sleep() });
    expect(await herd(['promote', 'production', 'staging'], deps())).toMatchObject({ code: 0, err: '' });
  });

  test('allows every call of maintenance on/off/rotate-bypass, autoscaling suspend/resume, abort, repair and unlock', async () => {
    const { sim, deps } = setup();
    expect((await herd(['maintenance', 'on', 'staging'], deps())).code).toBe(0);
    expect((await herd(['maintenance', 'rotate-bypass', 'staging'], deps()))).toMatchObject({ code: 0, err: '' });
    expect((await herd(['maintenance', 'off', 'staging'], deps())).code).toBe(0);
    expect((await herd(['autoscaling', 'suspend', 'staging', 'AZRebalance'], deps())).code).toBe(0);
    expect((await herd(['autoscaling', 'resume', 'staging', 'AZRebalance'], deps())).code).toBe(0);
    expect((await herd(['deploy', 'staging', appDirectory('c'), '--detach'], deps())).code).toBe(3);
    await sim.run(60);
    const aborted = await herd(['abort', 'staging'], deps());
    expect(aborted.err).toBe('');
    // Nothing needs repair and no lock is held now: both refuse, after reading what they need.
    expect((await herd(['repair', 'staging'], deps())).code).toBe(2);
    expect((await herd(['unlock', 'staging', '--deploy', 'nobody'], deps())).code).toBe(2);
  });

  test('fails when the rotation statements are removed, naming ModifyRule on the bypass rule and PutSecretValue on the bypass secret', async () => {
    const { sim, deps } = setup();
    const operator = sim.iam.principals.get(OPERATOR_PRINCIPALS.deploy) as Principal;
    const [policy] = operator.policies;
    sim.iam.principals.set(OPERATOR_PRINCIPALS.deploy, {
      ...operator,
      policies: [{ name: policy!.name, document: { ...policy!.document, Statement: policy!.document.Statement.filter((s) => s.Sid !== 'RotateMaintenanceBypass' && s.Sid !== 'RotateMaintenanceBypassRule') } }],
    });
    await herd(['maintenance', 'rotate-bypass', 'staging'], deps());
    const denied = (await sim.iam.denials()).map(describeDenial).join('\n');
    sim.iam.calls.splice(0);
    expect(denied).toContain('is denied elasticloadbalancing:ModifyRule on arn:aws:elasticloadbalancing:eu-west-1:123456789012:listener-rule/app/herd-staging/');
    expect(denied).toContain('is denied secretsmanager:PutSecretValue on arn:aws:secretsmanager:eu-west-1:123456789012:secret:herd/shop/staging/maintenance-bypass-AbCdEf');
  });

  test('sandbox makes no AWS call: outside the sandbox it refuses before any', async () => {
    const { sim, deps } = setup();
    expect((await herd(['sandbox', 'faults'], deps())).code).toBe(2);
    expect(sim.iam.calls).toEqual([]);
  });

  test('allows every call of config list, set, set --secret (create, update, restore), unset and restart (config set --restart)', async () => {
    const { sim, deps } = setup();
    const typing = () => sim.world.cloud.advance(5);
    expect(await herd(['config', 'staging', 'set', 'FEATURE=on', '--restart'], deps())).toMatchObject({ code: 0, err: '' });
    expect(await herd(['config', 'staging', 'set', '--secret', 'TOKEN=one'], deps())).toMatchObject({ code: 0, err: '' });
    expect(await herd(['config', 'staging', 'set', '--secret', 'TOKEN=two'], deps())).toMatchObject({ code: 0, err: '' });
    typing();
    expect(await herd(['config', 'staging', 'list', '--json'], deps())).toMatchObject({ code: 0, err: '' });
    expect(await herd(['config', 'staging', 'unset', 'FEATURE', 'TOKEN'], deps())).toMatchObject({ code: 0, err: '' });
    expect(await herd(['config', 'staging', 'set', '--secret', 'TOKEN=three'], deps())).toMatchObject({ code: 0, err: '' });
    expect(await herd(['restart', 'staging', '--role', 'worker'], deps())).toMatchObject({ code: 0, err: '' });
  });

  test('allows every call of run: the launch (tags, launch template, image, subnet, runner role), the output, the report, the terminate; and of a run stopped with Ctrl-C', async () => {
    const { sim } = setup();
    const runDeps = (interruptAt?: number) => {
      let polls = 0;
      const d = testDeps({
        clients: () => sim.clients(),
        now: () => sim.world.clock.now(),
        sleep: async (ms) => {
          polls += 1;
          if (polls === interruptAt) d.interrupt();
          sim.world.cloud.advance(ms / 1000);
        },
      });
      return d;
    };
    const ran = await herd(['run', 'staging', '--', 'python', 'manage.py', 'check'], runDeps());
    expect([ran.code, ran.err]).toEqual([0, '']);
    expect((await herd(['run', 'staging', '--role', 'worker', '--', 'sleep', '1'], runDeps(3))).code).toBe(1);
    expect((await herd(['run', 'staging', '--detach', '--', 'true'], runDeps())).code).toBe(3);
  });

  test('allows every call of console: the session on an instance and on a fresh one, ending it, the fresh instance\'s launch and end', async () => {
    const { sim } = setup();
    setSessionUserName(sim.world.cloud, 'alice');
    configureRuns(sim.world.cloud, { 'sleep 3600': { lines: [], seconds: 3600 } });
    sim.world.cloud.advance(SSM_AGENT_ONLINE_SECONDS);
    const dir = mkdtempSync(path.join(tmpdir(), 'herd-iam-console-'));
    writeFileSync(path.join(dir, 'session-manager-plugin'), '#!/bin/sh\nexit 0\n', { mode: 0o755 });
    const saved = { PATH: process.env.PATH, AWS_REGION: process.env.AWS_REGION };
    process.env.PATH = `${dir}${path.delimiter}${saved.PATH}`;
    process.env.AWS_REGION = 'eu-west-1';
    try {
      const d = () => testDeps({ clients: () => sim.clients(), now: () => sim.world.clock.now(), sleep: async (ms) => sim.world.cloud.advance(ms / 1000) });
      expect((await herd(['console', 'staging'], d())).code).toBe(0);
      expect((await herd(['console', 'staging', '--fresh'], d())).code).toBe(0);
    } finally {
      process.env.PATH = saved.PATH;
      if (saved.AWS_REGION === undefined) delete process.env.AWS_REGION;
      else process.env.AWS_REGION = saved.AWS_REGION;
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('fails when a read-only operator runs a command, naming ec2:RunInstances and the missing statement', async () => {
    const { sim } = setup(OPERATOR_PRINCIPALS['read-only']);
    const d = testDeps({ clients: () => sim.clients(OPERATOR_PRINCIPALS['read-only']), now: () => sim.world.clock.now(), sleep: async (ms) => sim.world.cloud.advance(ms / 1000) });
    await herd(['run', 'staging', '--detach', '--', 'true'], d);
    const denied = await sim.iam.denials();
    sim.iam.calls.splice(0);
    const text = denied.map(describeDenial).join('\n');
    expect(text).toContain('operator-read-only (arn:aws:iam::123456789012:user/alice) is denied ec2:RunInstances on arn:aws:ec2:eu-west-1:123456789012:instance/*');
    expect(text).toContain('is denied iam:PassRole on arn:aws:iam::123456789012:role/DeployStepRunnerRole');
  });

  test('every verb of the CLI was run by the tests above', () => {
    expect(COMMANDS.length).toBeGreaterThan(0);
    const verbs = ['deploy', 'watch', 'status', 'logs', 'doctor', 'history', 'rollback', 'promote', 'abort', 'repair', 'bake', 'releases', 'maintenance', 'autoscaling', 'config', 'restart', 'run', 'console', 'unlock', 'plan', 'iam-policy', 'sandbox'];
    expect(COMMANDS.length).toBe(verbs.length);
    expect([...exercised].sort()).toEqual([...verbs].sort());
  });

  test('fails when a statement is removed, naming the principal, the action, the resource and the missing statement', async () => {
    const { sim, deps } = setup();
    const operator = sim.iam.principals.get(OPERATOR_PRINCIPALS.deploy) as Principal;
    const [policy] = operator.policies;
    sim.iam.principals.set(OPERATOR_PRINCIPALS.deploy, {
      ...operator,
      policies: [{ name: policy!.name, document: { ...policy!.document, Statement: policy!.document.Statement.filter((s) => s.Sid !== 'StartDeploys') } }],
    });
    await herd(['deploy', 'staging', appDirectory('d'), '--detach'], deps());
    const denied = await sim.iam.denials();
    sim.iam.calls.splice(0);
    expect(denied.map(describeDenial)).toEqual([
      [
        'operator (arn:aws:iam::123456789012:user/alice) is denied states:StartExecution on arn:aws:states:eu-west-1:123456789012:stateMachine:herd-staging-deploy [ImplicitlyDenied]',
        '  call: sfn:StartExecution',
        '  missing statement: {"Effect":"Allow","Action":"states:StartExecution","Resource":"arn:aws:states:eu-west-1:123456789012:stateMachine:herd-staging-deploy"}',
        '  no statement of operator names states:StartExecution',
      ].join('\n'),
    ]);
  });
});

describe('the README', () => {
  test('shows both operator policies as herd iam-policy generates them', () => {
    const readme = readFileSync(join(__dirname, '..', '..', 'README.md'), 'utf8');
    for (const mode of ['deploy', 'read-only'] as const) {
      const block = new RegExp(`<!-- iam-policy:${mode} -->\\n\`\`\`json\\n([\\s\\S]*?)\`\`\`\\n<!-- /iam-policy:${mode} -->`).exec(readme)?.[1];
      const expected = `${JSON.stringify(operatorPolicy(README_POLICY_TARGET, mode), null, 2)}\n`;
      expect([mode, block]).toEqual([mode, expected]);
    }
  });
});
