/**
 * `herd deploy <id>`, `herd rollback <id>` and `herd releases` agree on which release ids
 * exist (`lib/cli/release-catalog.ts`): a release with a kept image or an uploaded artifact;
 * against the simulated environment.
 */
import { artifactKey } from '../../lib/cli/environment';
import { runHerd, testDeps } from './support/harness';
import { SimulatedEnvironment } from './support/simulated';

/** staging serves r1; r0 has an image (no artifact); v3-0123456789ab only an artifact. */
function setup() {
  const sim = new SimulatedEnvironment({ web: 2, worker: 1, serving: 'r1', baked: ['r0'] });
  sim.objects.set(`${sim.bucket}/${artifactKey('v3-0123456789ab')}`, Buffer.from('artifact'));
  const deps = () => testDeps({ clients: () => sim.clients(), now: () => sim.world.clock.now(), sleep: () => sim.sleep() });
  return { sim, deps };
}

interface Listed {
  readonly releases: { release: string; imageId?: string; artifact: boolean; servingOn: string[] }[];
}

async function listed(deps: ReturnType<typeof setup>['deps']): Promise<Listed['releases']> {
  const run = await runHerd(['releases', 'staging', '--json'], deps());
  expect(run).toMatchObject({ code: 0, err: '' });
  return (JSON.parse(run.out) as Listed).releases;
}

describe('release ids: deploy, rollback and releases agree', () => {
  test('herd releases lists the releases with an image and those with only an artifact', async () => {
    const { sim, deps } = setup();
    const releases = await listed(deps);
    expect(releases).toEqual([
      { release: 'r1', imageId: sim.world.images.r1, artifact: false, servingOn: ['staging'] },
      { release: 'r0', imageId: sim.world.images.r0, artifact: false, servingOn: [] },
      { release: 'v3-0123456789ab', artifact: true, servingOn: [] },
    ]);
    const text = await runHerd(['releases', 'staging'], deps());
    expect(text.out).toMatch(/^│ v3-0123456789ab +│ \(none: baked on deploy\) +│ - +│ - +│ yes +│ - +│$/m);
    expect(text.out).toMatch(/^deploy or roll back to one of them: herd deploy staging <release>, herd rollback staging <release>$/m);
  });

  test('herd releases lists the base images (layered bake) apart, with the releases baked on each; a base is never a release', async () => {
    const { sim, deps } = setup();
    const run = await runHerd(['releases', 'staging', '--json'], deps());
    expect(run).toMatchObject({ code: 0, err: '' });
    const json = JSON.parse(run.out) as { releases: { release: string }[]; images: { imageId: string }[]; bases: { imageId: string; amazonLinux: string; releases: string[] }[] };
    expect(json.releases.map((r) => r.release)).toEqual(['r1', 'r0', 'v3-0123456789ab']);
    expect(json.images.map((i) => i.imageId)).not.toContain(sim.world.bases.current);
    expect(json.bases).toEqual([
      expect.objectContaining({ imageId: sim.world.bases.current, amazonLinux: sim.world.baseImage, bakedBy: 'staging', releases: ['r1', 'r0'] }),
    ]);
    const text = await runHerd(['releases', 'staging'], deps());
    expect(text.out).toMatch(/^base images \(Amazon Linux \+ herd\/provision, reused by every release bake that shares them\):$/m);
    expect(text.out).toContain(`│ ${sim.world.bases.current ?? '?'} `);
  });

  test('fails identically in deploy and rollback for a release id that does not exist, which releases does not list', async () => {
    const { sim, deps } = setup();
    const message = `herd: unknown release v9-0123456789ab on staging: no image of shop is tagged with it and s3://${sim.bucket}/releases/v9-0123456789ab.tar.gz does not exist; \`herd releases staging\` lists the releases deploy and rollback accept, \`herd deploy staging <app directory or .tar.gz>\` uploads a new one\n`;
    const deploy = await runHerd(['deploy', 'staging', 'v9-0123456789ab'], deps());
    const rollback = await runHerd(['rollback', 'staging', 'v9-0123456789ab'], deps());
    expect(deploy).toEqual({ code: 2, out: '', err: message });
    expect(rollback).toEqual({ code: 2, out: '', err: message });
    expect(sim.executions.size).toBe(0);
    expect((await listed(deps)).map((r) => r.release)).not.toContain('v9-0123456789ab');
  });

  test.each([['deploy'], ['rollback']])('herd %s accepts every release herd releases lists (the serving one aside)', async (verb) => {
    const candidates = (await listed(setup().deps)).filter((r) => r.servingOn.length === 0).map((r) => r.release);
    expect(candidates).toEqual(['r0', 'v3-0123456789ab']);
    for (const release of candidates) {
      const { sim, deps } = setup();
      const run = await runHerd([verb, 'staging', release, '--detach'], deps());
      expect([release, run.code, run.err]).toEqual([release, 3, '']);
      expect([...sim.executions.values()].map((x) => x.input.release)).toEqual([release]);
    }
  });

  test('rollback to a release whose image was pruned bakes it again from its artifact, and says so', async () => {
    const { sim, deps } = setup();
    const run = await runHerd(['rollback', 'staging', 'v3-0123456789ab', '--detach'], deps());
    expect(run.code).toBe(3);
    expect(run.out.split('\n')[0]).toBe(`rolling staging back from r1 to v3-0123456789ab (its image was pruned: baked again from its artifact s3://${sim.bucket}/releases/v3-0123456789ab.tar.gz)`);
  });
});
