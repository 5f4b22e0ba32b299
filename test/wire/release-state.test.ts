/**
 * Wire level: the release-parameters custom resource (`lambda/release-state`) and the deploy
 * guard (`lambda/deploy-guard`) against SSM and DynamoDB as moto implements them:
 * PutParameter without Overwrite (the real service's ParameterAlreadyExists must be
 * recognised), `aws:ec2:image` data type, GetParameter, DeleteParameter (ParameterNotFound),
 * and the guard's conditional lock read and fingerprint item. Also the deploy step's
 * `writeCurrent`, which overwrites.
 *
 * Every call here is supported by moto; nothing is faked. (moto validates `aws:ec2:image`
 * synchronously; the asynchronous validation SSM does is the fake cloud's, in
 * test/lambda/release-state.test.ts.)
 */
import { GetParameterCommand, ParameterAlreadyExists, PutParameterCommand } from '@aws-sdk/client-ssm';
import { startDeploy } from '../../lambda/deploy/advance';
import { acquireLock } from '../../lambda/deploy/lock';
import { writeCurrent } from '../../lambda/deploy/release';
import { applyGuard } from '../../lambda/deploy-guard/guard';
import { applyReleaseParameters, type ReleaseParametersProperties } from '../../lambda/release-state/release-state';
import { NO_RELEASE, parameterNames } from '../../lib/names';
import { startMoto } from '../support/moto';
import { baseImageId, createDeployTable, destroyClients, wireClients, type WireClients } from './cloud';
import { advanceContext, deployEnvironment, deployState } from './fixtures';

const names = parameterNames('shop', 'staging');
/** The public AL2023 parameter's stand-in (moto's own public parameters vary by version). */
const BASE = '/herd-test/base-image';
const TABLE = 'herd-staging-deploys';

describe('wire: release parameters and the deploy guard on SSM and DynamoDB (moto)', () => {
  const moto = startMoto();
  let clients: WireClients;
  let initialImage: string;
  const noWait = { timeoutSeconds: 5, sleep: async () => undefined };

  beforeAll(async () => {
    clients = wireClients(await moto.ready);
  });
  afterAll(() => destroyClients(clients));
  beforeEach(async () => {
    await moto.server().reset();
    initialImage = await baseImageId(clients);
    await clients.ssm.send(new PutParameterCommand({ Name: BASE, Value: initialImage, Type: 'String' }));
    await createDeployTable(clients, TABLE);
  });

  const props: ReleaseParametersProperties = {
    currentImageParameter: names.currentImage,
    currentReleaseParameter: names.currentRelease,
    baseImageParameter: BASE,
    noRelease: NO_RELEASE,
  };

  async function parameter(name: string): Promise<{ value?: string; dataType?: string; version?: number } | undefined> {
    try {
      const p = (await clients.ssm.send(new GetParameterCommand({ Name: name }))).Parameter;
      return { value: p?.Value, dataType: p?.DataType, version: p?.Version };
    } catch (err) {
      if (err instanceof Error && err.name === 'ParameterNotFound') return undefined;
      throw err;
    }
  }

  test('the service answers an existing parameter written without Overwrite with ParameterAlreadyExists', async () => {
    await clients.ssm.send(new PutParameterCommand({ Name: names.currentRelease, Value: 'r1', Type: 'String' }));
    const err: unknown = await clients.ssm
      .send(new PutParameterCommand({ Name: names.currentRelease, Value: 'r2', Type: 'String', Overwrite: false }))
      .then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(ParameterAlreadyExists);
    expect((await parameter(names.currentRelease))?.value).toBe('r1');
  });

  test('Create on a new environment: no release, the base image as an aws:ec2:image parameter', async () => {
    const result = await applyReleaseParameters('Create', props, clients, noWait);
    expect(result).toEqual({ PhysicalResourceId: `${names.currentRelease}#parameters`, Data: { Release: NO_RELEASE, Image: initialImage } });
    expect(await parameter(names.currentRelease)).toMatchObject({ value: NO_RELEASE, dataType: 'text', version: 1 });
    expect(await parameter(names.currentImage)).toMatchObject({ value: initialImage, dataType: 'aws:ec2:image', version: 1 });
  });

  test('Update after a deploy keeps the deploy\'s parameters', async () => {
    await applyReleaseParameters('Create', props, clients, noWait);
    // The deploy step took over the parameters (it overwrites them).
    const ctx = advanceContext(clients, deployEnvironment());
    await writeCurrent(ctx, deployState(ctx, { deployId: 'deploy-0001', release: 'r2' }), initialImage, 'r2');
    expect(await parameter(names.currentRelease)).toMatchObject({ value: 'r2', version: 2 });

    // A later `cdk deploy`: the resource never rolls the release back.
    const again = await applyReleaseParameters('Update', props, clients, noWait);
    expect(again.Data).toEqual({ Release: 'r2', Image: initialImage });
    expect(await parameter(names.currentRelease)).toMatchObject({ value: 'r2', version: 2 });
    expect(await parameter(names.currentImage)).toMatchObject({ value: initialImage, version: 2 });
  });

  test('Delete removes the parameters, and is idempotent', async () => {
    await applyReleaseParameters('Create', props, clients, noWait);
    const result = await applyReleaseParameters('Delete', props, clients, noWait);
    expect(result.Data).toEqual({ Release: NO_RELEASE, Image: '' });
    expect(await parameter(names.currentRelease)).toBeUndefined();
    expect(await parameter(names.currentImage)).toBeUndefined();
    await applyReleaseParameters('Delete', props, clients, noWait);
  });

  test('the guard refuses a fleet change while a deploy holds the lock, lets the rollback through, and resets the release when deleted', async () => {
    await applyReleaseParameters('Create', props, clients, noWait);
    const guard = (fingerprint: string) => ({ tableName: TABLE, environment: 'staging', fingerprint, currentReleaseParameter: names.currentRelease, noRelease: NO_RELEASE });
    await applyGuard('Create', guard('t1|ami|none'), clients);
    await applyGuard('Update', guard('t2|ami|none'), clients);

    const env = { ...deployEnvironment(), tableName: TABLE };
    const ctx = advanceContext(clients, env);
    await acquireLock(clients, TABLE, startDeploy({ release: 'r3', actor: 'alice', deployId: 'deploy-0003' }, env, ctx.clock));
    await expect(applyGuard('Update', guard('t3|ami|none'), clients)).rejects.toThrow(/^herd refused this stack update: deploy deploy-0003 \(alice, release r3\)/);
    await expect(applyGuard('Update', guard('t2|ami|none'), clients)).resolves.toMatchObject({ PhysicalResourceId: `${TABLE}#deploy-guard` });

    await clients.ssm.send(new PutParameterCommand({ Name: names.currentRelease, Value: 'r2', Type: 'String', Overwrite: true }));
    await applyGuard('Delete', guard('t2|ami|r2'), clients);
    expect((await parameter(names.currentRelease))?.value).toBe(NO_RELEASE);
  });
});
