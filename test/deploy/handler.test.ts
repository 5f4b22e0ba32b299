/**
 * The thin advance handler: environment parsing, input validation, and real steps. The
 * handler builds its clients with `createDeployClients` when its module loads, as in the
 * Lambda; here that factory's clients send to the fake cloud through the real SDK
 * (`fakeDeployClients`), so the handler's own clients serialize, retry and fail as in AWS.
 */
import { handler, resetEnvironmentForTests } from '../../lambda/deploy/handler';
import type { DeployClients } from '../../lambda/deploy/clients';
import { isDeployState, type DeployState } from '../../lambda/deploy/state';
import { fakeDeployClients } from '../../lib/simulation/transport';
import { createWorld, type World } from '../../lib/simulation/world';

/** The world the handler's clients talk to (replaced before each test). */
let mockWorld: World | undefined;

jest.mock('../../lambda/deploy/clients', () => {
  const actual = jest.requireActual('../../lambda/deploy/clients');
  // The handler keeps the clients it made at load: each call goes to the current test's world.
  const lazy = new Proxy({}, { get: (_target, service: string) => ({ send: (command: object) => mockClientsOf(service).send(command as never) }) });
  // `fakeDeployClients` builds its clients with the real factory (and a per-service configuration).
  return { ...actual, createDeployClients: (...args: unknown[]) => (args.length > 1 ? actual.createDeployClients(...args) : lazy) };
});

const clientSets = new WeakMap<World, DeployClients>();
function mockClientsOf(service: string): { send: (command: never) => Promise<unknown> } {
  if (!mockWorld) throw new Error('no world for the handler\'s clients');
  let set = clientSets.get(mockWorld);
  if (!set) {
    set = fakeDeployClients(mockWorld.cloud, { principal: 'deploy-step' });
    clientSets.set(mockWorld, set);
  }
  return (set as unknown as Record<string, { send: (command: never) => Promise<unknown> }>)[service]!;
}

const LOCK = 'LOCK\u0000LOCK';
let world: World;
let env: World['env'];

beforeEach(() => {
  world = createWorld({ web: 2, worker: 1, serving: 'r1' });
  env = world.env;
  mockWorld = world;
  resetEnvironmentForTests();
  process.env.DEPLOY_ENVIRONMENT = JSON.stringify(env);
});

afterAll(() => {
  delete process.env.DEPLOY_ENVIRONMENT;
});

async function firstState(): Promise<DeployState> {
  return handler({ release: 'r2', actor: 'alice', deployId: 'deploy-0001' });
}

const historyItems = () => [...world.cloud.table.values()].filter((i) => i.pk === 'DEPLOY');

describe('advance handler', () => {
  test('turns an execution input into the first state without calling AWS', async () => {
    const state = await firstState();
    expect(isDeployState(state)).toBe(true);
    expect(state).toMatchObject({ step: 'lock.acquire', release: 'r2', actor: 'alice', strategy: 'rolling', waitSeconds: 0, done: false });
    expect(state.plan).toEqual(['lock', 'bake', 'launchTemplate', 'migrate', 'refresh', 'verify', 'record']);
    expect(state.artifactKey).toBe('releases/r2.tar.gz');
    expect(world.cloud.calls).toHaveLength(0);
  });

  test('takes the lock with a conditional write, then runs the pre-flight checks', async () => {
    const state = await handler(await firstState());
    expect(state.step).toBe('lock.preflight');
    expect(world.cloud.table.get(LOCK)).toMatchObject({ pk: 'LOCK', sk: 'LOCK', deployId: 'deploy-0001', actor: 'alice', release: 'r2' });
    expect(world.cloud.callCounts()['dynamodb:PutItem']).toBe(1);
    const next = await handler(state);
    expect(next.failure).toBeUndefined();
    expect(next.step).toBe('lock.notify');
    expect(historyItems().map((i) => i.status)).toEqual(['running']);
  });

  test('fails while CloudFormation updates the environment stack, freeing the lock again and writing no history', async () => {
    world.cloud.stacks.set(env.stackName ?? 'herd-staging', { status: 'UPDATE_IN_PROGRESS' });
    await expect(handler(await firstState())).rejects.toThrow(
      'stack herd-staging is UPDATE_IN_PROGRESS: CloudFormation is changing environment staging (launch templates and groups among it); nothing was changed. Deploy again once `cdk deploy` has finished.',
    );
    expect(world.cloud.table.has(LOCK)).toBe(false);
    expect(world.cloud.callCounts()['dynamodb:DeleteItem']).toBe(1);
    expect(historyItems()).toHaveLength(0);
  });

  test('fails when the environment stack is stuck after a failed update, naming its status', async () => {
    world.cloud.stacks.set(env.stackName ?? 'herd-staging', { status: 'UPDATE_ROLLBACK_FAILED' });
    await expect(handler(await firstState())).rejects.toThrow(/^stack herd-staging is UPDATE_ROLLBACK_FAILED: its last change did not complete/);
    expect(world.cloud.table.has(LOCK)).toBe(false);
  });

  test('fails when another deploy holds the lock, naming it', async () => {
    const holder = { pk: 'LOCK', sk: 'LOCK', deployId: 'deploy-0000', actor: 'bob', release: 'r9', since: '2026-11-05T09:00:00.000Z' };
    world.cloud.table.set(LOCK, { ...holder });
    const start = await firstState();
    await expect(handler(start)).rejects.toThrow(
      'environment staging is locked by deploy deploy-0000 (bob, release r9) since 2026-11-05T09:00:00.000Z; if that deploy is no longer running, break the lock with `herd unlock staging --deploy deploy-0000`',
    );
    expect(world.cloud.table.get(LOCK)).toEqual(holder);
    expect(world.cloud.callCounts()['dynamodb:DeleteItem']).toBeUndefined();
  });

  test('a call still throttled after the SDK\'s own retries leaves the state as it was and asks for a backoff', async () => {
    world.cloud.throttle = (service) => service === 'dynamodb';
    const start = await firstState();
    const next = await handler(start);
    expect(next).toEqual({ ...start, transientErrors: 1, waitSeconds: 2 });
    // The SDK tried 6 times (the Lambda's maxAttempts) before the step saw the throttling.
    expect(world.cloud.callCounts()['dynamodb:PutItem']).toBe(6);
    expect(world.cloud.table.has(LOCK)).toBe(false);
  });

  test('fails when the input is malformed, listing every problem', async () => {
    await expect(handler({ release: '../etc', strategy: 'blue-green' })).rejects.toThrow(
      'invalid deploy input: release must match /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/ (received "../etc"); strategy must be one of rolling, full (received "blue-green"); actor must be a non-empty string of at most 200 characters (received undefined)',
    );
  });

  test('fails, before any side effect, when rebuildBase (herd bake --base) is not a boolean or comes with a restart', async () => {
    await expect(handler({ release: 'r2', actor: 'alice', rebuildBase: 'yes' })).rejects.toThrow('invalid deploy input: rebuildBase must be true or false (received "yes")');
    await expect(handler({ release: 'r1', actor: 'alice', mode: 'restart', rebuildBase: true })).rejects.toThrow('rebuildBase is for a deploy or a bake: a restart bakes nothing');
    expect(world.cloud.table.has(LOCK)).toBe(false);
  });

  test('fails when a rolling deploy asks to migrate inside a maintenance window', async () => {
    await expect(handler({ release: 'r2', actor: 'alice', strategy: 'rolling', migrationOrder: 'maintenance' })).rejects.toThrow(
      'migrationOrder "maintenance" needs strategy "full" (a rolling deploy has no maintenance window)',
    );
  });

  test('fails when DEPLOY_ENVIRONMENT is not set', async () => {
    delete process.env.DEPLOY_ENVIRONMENT;
    await expect(firstState()).rejects.toThrow('invalid deploy environment: DEPLOY_ENVIRONMENT is not set');
  });

  test('fails when DEPLOY_ENVIRONMENT is malformed, listing every problem', async () => {
    process.env.DEPLOY_ENVIRONMENT = JSON.stringify({
      ...env,
      fleets: {
        web: { autoScalingGroupName: 'herd-staging-web', launchTemplateId: 'web', minCapacity: 5, maxCapacity: 3 },
        worker: { autoScalingGroupName: 'herd-staging-worker', launchTemplateId: 'lt-0a', minCapacity: 1.5 },
      },
      loadBalancer: { ...env.loadBalancer, maintenancePriority: 0 },
      instances: { ...env.instances, builderVolumeGiB: 4, scripts: { bucket: 'assets', key: 'instance.tar.gz' } },
      amiRetention: 0,
    });
    await expect(firstState()).rejects.toThrow(
      'invalid deploy environment: environment.fleets.web.launchTemplateId must match /^lt-[0-9a-f]+$/ (received "web"); ' +
        'environment.fleets.web.minCapacity (5) must be <= maxCapacity (3); ' +
        'environment.fleets.worker.minCapacity must be an integer from 0 to 500 (received 1.5); ' +
        'environment.fleets.worker.maxCapacity must be an integer from 1 to 500 (received undefined); ' +
        'environment.loadBalancer.maintenancePriority must be a number from 1 to 50000 (received 0); ' +
        'environment.instances.builderVolumeGiB must be an integer from 8 to 16384 (received 4); ' +
        'environment.instances.scripts.key must match /^[^/].*\\.zip$/ (received "instance.tar.gz"); ' +
        'environment.amiRetention must be a number from 1 to 100 (received 0)',
    );
  });

  test('fails when DEPLOY_ENVIRONMENT has no peerEnvironments (a stack older than the function)', async () => {
    const { peerEnvironments: _peers, ...older } = env;
    process.env.DEPLOY_ENVIRONMENT = JSON.stringify(older);
    await expect(firstState()).rejects.toThrow(
      'invalid deploy environment: environment.peerEnvironments must be a list of environment names matching /^[a-z0-9-]+$/ (received undefined)',
    );
  });

  test('fails when DEPLOY_ENVIRONMENT has no runner instance profile (a stack older than the function), or not an IAM ARN', async () => {
    const { runnerInstanceProfileArn: _runner, ...older } = env.instances;
    process.env.DEPLOY_ENVIRONMENT = JSON.stringify({ ...env, instances: older });
    await expect(firstState()).rejects.toThrow(
      'invalid deploy environment: environment.instances.runnerInstanceProfileArn must be a non-empty string (received undefined)',
    );
    resetEnvironmentForTests();
    process.env.DEPLOY_ENVIRONMENT = JSON.stringify({ ...env, instances: { ...env.instances, runnerInstanceProfileArn: 'herd-staging-runner' } });
    await expect(firstState()).rejects.toThrow(
      'invalid deploy environment: environment.instances.runnerInstanceProfileArn must match /^arn:aws[a-z-]*:iam::/ (received "herd-staging-runner")',
    );
  });

  test('fails when peerEnvironments repeats a name or names the environment itself', async () => {
    process.env.DEPLOY_ENVIRONMENT = JSON.stringify({ ...env, peerEnvironments: ['production', env.env, 'production'] });
    await expect(firstState()).rejects.toThrow(
      'invalid deploy environment: environment.peerEnvironments must not repeat a name (received ["production","staging","production"]); ' +
        'environment.peerEnvironments must not name the environment itself ("staging")',
    );
  });

  test('fails when a peer is not an environment name', async () => {
    process.env.DEPLOY_ENVIRONMENT = JSON.stringify({ ...env, peerEnvironments: ['Production'] });
    await expect(firstState()).rejects.toThrow(
      'invalid deploy environment: environment.peerEnvironments must be a list of environment names matching /^[a-z0-9-]+$/ (received ["Production"])',
    );
  });

  test('fails when DEPLOY_ENVIRONMENT is not JSON', async () => {
    process.env.DEPLOY_ENVIRONMENT = '{app:';
    await expect(firstState()).rejects.toThrow(/^invalid deploy environment: DEPLOY_ENVIRONMENT is not JSON \(/);
  });
});
