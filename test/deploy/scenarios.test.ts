/**
 * Runs every scenario in `scenarios/` against the fake cloud and checks the end state.
 * Prints one row per scenario: duration, time without a healthy target outside a
 * maintenance window, the window, AWS calls.
 */
import { UpdateAutoScalingGroupCommand } from '@aws-sdk/client-auto-scaling';
import { RestoreDBInstanceToPointInTimeCommand } from '@aws-sdk/client-rds';
import { worstCase } from '../../lambda/deploy/budget';
import { HERD_ALARM_IDS } from '../../lib/alarms';
import { OUTCOME_ERRORS } from '../../lambda/deploy/contract';
import { architectureOf } from '../../lib/architecture';
import { NO_RELEASE, parameterNames, TAGS } from '../../lib/names';
import { checkInvariants, describeBreaches } from './invariants';
import { loadScenarios, runScenario, tableRow, type ScenarioRun } from './scenario';

const rows: Record<string, string | number>[] = [];

afterAll(() => {
  if (rows.length > 0) console.table(rows);
});

function imageOf(run: ScenarioRun, release: string): string | undefined {
  return [...run.world.cloud.images.values()].find((im) => im.release === release && im.state === 'available')?.id;
}

describe.each(loadScenarios())('scenario $file', ({ scenario }) => {
  let run: ScenarioRun;

  beforeAll(async () => {
    run = await runScenario(scenario);
    rows.push(tableRow(run));
  });

  const e = scenario.expect;

  test('IAM allows every call, as the synthesized policies grant them (dependent permissions included)', async () => {
    await run.iam.check();
  });

  test(`${scenario.name}: ends ${e.outcome}`, () => {
    // Each outcome ends the execution at its own state: Succeed, or a Fail with its error.
    const end =
      e.outcome === 'succeeded' || e.outcome === 'unchanged' ? { status: 'SUCCEEDED', error: undefined }
      : e.outcome === 'refused' ? { status: 'FAILED', error: 'PreflightError' }
      : { status: 'FAILED', error: OUTCOME_ERRORS[e.outcome] };
    expect({ status: run.result.status, error: run.result.error?.name }).toEqual(end);
    if (e.outcome === 'refused') {
      expect(run.result.error?.message).toMatch(new RegExp(e.refusedWith ?? '.'));
      return;
    }
    expect(run.result.state?.outcome).toBe(e.outcome);
    if (e.cause !== undefined) expect(run.result.state?.failure?.cause).toBe(e.cause);
    if (e.causePattern !== undefined) expect(run.result.state?.failure?.cause).toMatch(new RegExp(e.causePattern));
    if (e.maxMinutes !== undefined) expect((run.endedAt - run.startedAt) / 60_000).toBeLessThanOrEqual(e.maxMinutes);
    expect(run.result.state?.compensation?.errors ?? []).toEqual(e.compensationErrors ?? []);
  });

  if (e.everyInstanceReplaced) test('every web and worker instance from before was replaced by a fresh one', () => {
    const { cloud, env } = run.world;
    const before = [...run.webAtStart, ...run.workerAtStart];
    expect(before.length).toBeGreaterThan(0);
    // The groups' live instances: a replaced one may still be draining (Terminating) when a
    // deploy that rolled web and worker at once ends.
    const now = [env.fleets.web, env.fleets.worker].flatMap((f) => (f ? cloud.groups.get(f.autoScalingGroupName)?.instances
      .filter((i) => i.lifecycle !== 'Terminating' && i.lifecycle !== 'Terminated').map((i) => i.id) ?? [] : []));
    expect(now.filter((id) => before.includes(id))).toEqual([]);
    expect(now.length).toBe(before.length);
  });

  if (e.serving !== undefined) test(`release ${e.serving} serves on every instance`, () => {
    const { cloud, env } = run.world;
    const release = e.serving ?? '';
    const none = release === NO_RELEASE;
    // Before the first release, the image parameter holds the builders' base image and nothing serves.
    const image = none ? run.world.baseImage : imageOf(run, release);
    expect(image).toBeDefined();
    for (const fleet of [env.fleets.web, env.fleets.worker]) {
      if (!fleet) continue;
      const group = cloud.groups.get(fleet.autoScalingGroupName);
      const serving = group?.instances.filter((i) => i.lifecycle === 'InService').map((i) => cloud.instances.get(i.id)?.imageId);
      expect(serving?.length).toBe(group?.desired);
      if (none) expect(serving).toEqual([]);
      expect(new Set(serving)).toEqual(new Set(serving?.length ? [image] : []));
    }
    const names = parameterNames(env.app, env.env);
    expect(cloud.parameters.get(names.currentImage)).toBe(image);
    expect(cloud.parameters.get(names.currentRelease)).toBe(e.serving);
  });

  test('the invariants an operator relies on hold (invariants.ts)', () => {
    expect(describeBreaches(checkInvariants(run))).toBe('');
  });

  test('Step Functions: within the history the budget allows for these settings', () => {
    expect(run.result.historyEvents).toBeGreaterThan(run.result.advanceCalls * 5);
    expect(run.result.historyEvents).toBeLessThan(worstCase(run.world.env.deploy).events);
  });

  test('capacity never below what the strategy promises', () => {
    // A killed web instance is an outage no strategy prevents: the invariants allow it the time a replacement takes.
    if ((scenario.faults?.events ?? []).some((ev) => ev.kind === 'kill' && ev.role === 'web')) return;
    expect(run.metrics.unservedSeconds).toBe(0);
    if (run.result.state?.strategy === 'rolling') expect(run.metrics.minHealthyPercent()).toBeGreaterThanOrEqual(e.minHealthyPercent ?? 100);
  });

  test('nothing left behind: no builder or runner, lock free, maintenance as before, no violation', () => {
    const { cloud, env } = run.world;
    const leftovers = [...cloud.instances.values()].filter(
      (i) => (i.tags[TAGS.role] === 'builder' || i.tags[TAGS.role] === 'release') && i.state !== 'terminated' && i.state !== 'shutting-down',
    );
    expect(leftovers.map((i) => i.id)).toEqual([]);
    if (e.needsAttention !== undefined) {
      // The lock stays held, with what is half done and how to repair it.
      expect(cloud.table.get('LOCK\u0000LOCK')).toMatchObject({ needsAttention: expect.stringMatching(new RegExp(e.needsAttention)) });
    } else {
      expect(cloud.table.has('LOCK\u0000LOCK')).toBe(e.lockHeldAtEnd ?? false);
    }
    expect(run.metrics.maintenanceOn()).toBe(e.maintenanceOnAtEnd ?? false);
    if (e.maintenanceOwnerAtEnd !== undefined) expect(cloud.maintenanceRule(env.loadBalancer.listenerArn, env.loadBalancer.maintenancePriority)?.tags[TAGS.deploy]).toBe(e.maintenanceOwnerAtEnd);
    expect(cloud.violations).toEqual([]);
    // What an operator suspended is still suspended; nothing else is.
    for (const fleet of [env.fleets.web, env.fleets.worker]) {
      if (!fleet) continue;
      const role = cloud.groups.get(fleet.autoScalingGroupName)?.role as 'web' | 'worker';
      expect([role, [...(cloud.groups.get(fleet.autoScalingGroupName)?.suspended ?? [])].sort()]).toEqual([role, [...(e.suspendedAtEnd?.[role] ?? [])].sort()]);
    }
  });

  test('history records the outcome and phase timings (nothing for a deploy refused, or with nothing to do)', () => {
    const items = [...run.world.cloud.table.values()].filter((i) => i.pk === 'DEPLOY' && i.deployId === (scenario.deploy.deployId ?? 'deploy-0001'));
    if (e.outcome === 'refused' || e.outcome === 'unchanged') {
      expect(items).toEqual([]);
      return;
    }
    expect(items).toHaveLength(1);
    const item = items[0] ?? {};
    expect(item.status).toBe(e.outcome);
    expect(item.actor).toBe(scenario.deploy.actor);
    expect(Array.isArray(item.phases) && item.phases.length > 0).toBe(true);
    if (e.cause !== undefined) expect(item.error).toBe(e.cause);
  });

  test('the team is told: the start and the outcome, on the topic and on EventBridge (nothing for a refusal)', () => {
    const { cloud, env } = run.world;
    const events = cloud.published.filter((p) => p.service === 'eventBridge').map((p) => (p as unknown as { detail: { status: string; deployId: string } }).detail);
    const topic = cloud.published.filter((p) => p.service === 'sns' && (p as { topicArn?: string }).topicArn === env.notificationTopicArn);
    // Delivered at least once: a step repeated after its side effect publishes again; consumers dedupe on deployId + status.
    const statuses = [...new Set(events.filter((d) => d.deployId === (scenario.deploy.deployId ?? 'deploy-0001')).map((d) => d.status))];
    const outcome =
      e.outcome === 'failed' ? (run.result.state?.compensation?.steps ?? []).some((s) => !['compensate.instances', 'compensate.maintenance', 'compensate.record'].includes(s)) ? 'rolled-back' : 'failed'
      : e.outcome;
    const expected = e.outcome === 'refused' ? [] : e.outcome === 'unchanged' ? ['unchanged'] : scenario.faults?.repairAfter ? ['started', 'needs-attention', outcome] : ['started', outcome];
    expect(statuses).toEqual(expected);
    expect(topic.length).toBe(events.length);
  });

  test('builders: stopped by their bake wrapper, imaged without a reboot, never left behind', () => {
    const builders = [...run.world.cloud.instances.values()].filter((i) => i.tags[TAGS.role] === 'builder' && i.tags[TAGS.deploy] === (scenario.deploy.deployId ?? 'deploy-0001'));
    for (const b of builders) {
      expect(b.shutdownBehavior).toBe('stop');
      expect(b.rootVolume).toEqual({ deviceName: '/dev/xvda', sizeGiB: 20, type: 'gp3', encrypted: true });
      expect(b.reboots ?? 0).toBe(0);
      expect(b.state === 'terminated' || b.state === 'shutting-down').toBe(true);
    }
  });

  test('migration runners run with the runner\'s instance profile, never the web one', () => {
    const { cloud, env } = run.world;
    const webProfile = cloud.launchTemplates.get(env.fleets.web.launchTemplateId)?.versions[0]?.instanceProfileArn;
    expect(webProfile).toBeDefined();
    expect(env.instances.runnerInstanceProfileArn).not.toBe(webProfile);
    const runners = [...cloud.instances.values()].filter((i) => i.tags[TAGS.role] === 'release');
    for (const r of runners) {
      expect({ runner: r.id, profile: r.instanceProfileArn }).toEqual({ runner: r.id, profile: env.instances.runnerInstanceProfileArn });
    }
  });

  if (e.builders !== undefined) {
    test(`launches ${e.builders} builder(s)`, () => {
      const builders = [...run.world.cloud.instances.values()].filter((i) => i.tags[TAGS.role] === 'builder');
      expect(builders).toHaveLength(e.builders ?? 0);
    });
  }

  if (e.launchTemplateVersionsPerRole !== undefined) {
    test(`creates ${e.launchTemplateVersionsPerRole} launch-template version(s) per role`, () => {
      for (const lt of run.world.cloud.launchTemplates.values()) expect(lt.versions.length - 1).toBe(e.launchTemplateVersionsPerRole);
    });
  }

  if (e.webUnchanged) {
    test('no web server changed', () => {
      const { cloud, env } = run.world;
      const ids = cloud.groups.get(env.fleets.web.autoScalingGroupName)?.instances.map((i) => i.id);
      expect(ids).toEqual(run.webAtStart);
      expect(cloud.calls.filter((c) => c.api === 'autoScaling:StartInstanceRefresh' || c.api === 'autoScaling:UpdateAutoScalingGroup')).toEqual([]);
    });
  }

  if (e.windowBeyondMigrationAtMost !== undefined) {
    test(`the maintenance window holds the migration and at most ${e.windowBeyondMigrationAtMost} s more (the new fleet booted before)`, () => {
      const migrate = (run.result.state?.timings ?? []).filter((t) => t.phase === 'migrate');
      const migrating = migrate.reduce((n, t) => n + ((t.endedAt ?? t.startedAt) - t.startedAt) / 1000, 0);
      expect(run.metrics.maintenanceSeconds).toBeGreaterThan(0);
      expect(run.metrics.maintenanceSeconds - migrating).toBeLessThanOrEqual(e.windowBeyondMigrationAtMost ?? 0);
    });
  }

  if (e.maintenanceWindowAtMost !== undefined) {
    test(`the maintenance page is up ${e.maintenanceWindowAtMost === 0 ? 'never' : `at most ${e.maintenanceWindowAtMost} s`}`, () => {
      expect(run.metrics.maintenanceSeconds).toBeLessThanOrEqual(e.maintenanceWindowAtMost ?? 0);
    });
  }

  if (e.maintenanceWindowBelowBake) {
    test('the maintenance window holds migration + new fleet, not the bake', () => {
      const { metrics, world } = run;
      expect(metrics.maintenanceFirstOn).toBeDefined();
      expect(run.imageAvailableAt).toBeDefined();
      expect(metrics.maintenanceFirstOn ?? 0).toBeGreaterThan(run.imageAvailableAt ?? Infinity);
      expect(metrics.maintenanceSeconds).toBeGreaterThan(0);
      // Shorter than the bake phase (the release's builder and its image, on a base image).
      expect(metrics.maintenanceSeconds).toBeLessThan(world.cloud.timings.bakeSeconds + world.cloud.timings.imageSeconds);
    });
  }

  if (e.secondDeployError !== undefined) {
    test('a second deploy is refused, naming the holder and since when', () => {
      expect(run.secondDeploy?.error).toEqual({ name: 'DeployLockedError', message: e.secondDeployError });
    });
  }

  if (e.deregistered !== undefined || e.kept !== undefined) {
    test('retention deregisters old images with their snapshots, never one in use', () => {
      const { cloud } = run.world;
      for (const release of e.deregistered ?? []) {
        const id = run.world.images[release] ?? '';
        expect(cloud.images.has(id)).toBe(false);
      }
      const remainingSnapshots = new Set([...cloud.images.values()].map((im) => im.snapshotId));
      expect([...cloud.snapshots.keys()].filter((s) => !remainingSnapshots.has(s))).toEqual([]);
      for (const release of e.kept ?? []) expect(cloud.images.has(run.world.images[release] ?? imageOf(run, release) ?? '')).toBe(true);
    });
  }

  if (e.layered !== undefined) {
    const l = e.layered;
    test(`layered bake: ${l.basesBaked} base image(s) baked, the release's builder booted from ${l.releaseBuilderFrom ?? 'anything'}`, () => {
      const { cloud } = run.world;
      const deployId = scenario.deploy.deployId ?? 'deploy-0001';
      const newBases = [...cloud.images.values()].filter((im) => im.tags[TAGS.role] === 'base' && im.tags[TAGS.deploy] === deployId);
      expect(newBases).toHaveLength(l.basesBaked);
      // A base this deploy baked is whole: available, never left pending or failed.
      for (const b of newBases) expect(b.state).toBe('available');
      const builders = [...cloud.instances.values()].filter((i) => i.tags[TAGS.role] === 'builder' && i.tags[TAGS.deploy] === deployId);
      expect(builders.filter((b) => b.tags[TAGS.bake] === 'base')).toHaveLength(l.basesBaked > 0 ? l.basesBaked : builders.filter((b) => b.tags[TAGS.bake] === 'base').length);
      const release = builders.filter((b) => b.tags[TAGS.bake] === 'release');
      if (l.releaseBuilderFrom === 'none') expect(release).toHaveLength(0);
      else if (l.releaseBuilderFrom !== undefined) {
        expect(release).toHaveLength(1);
        const from = release[0]?.imageId;
        const expected = l.releaseBuilderFrom === 'seededBase' ? run.world.bases.current : l.releaseBuilderFrom === 'newBase' ? newBases[0]?.id : run.world.baseImage;
        expect(from).toBe(expected);
        // The release image names the base it was baked on (retention keeps the base while the image exists).
        const image = [...cloud.images.values()].find((im) => im.release === scenario.deploy.release && im.tags[TAGS.deploy] === deployId);
        if (l.releaseBuilderFrom === 'amazonLinux') expect(image?.tags[TAGS.baseImage]).toBeUndefined();
        else expect(image?.tags[TAGS.baseImage]).toBe(expected);
      }
      for (const b of l.basesKept ?? []) expect(cloud.images.has(run.world.bases[b] ?? 'none')).toBe(true);
      for (const b of l.basesRetired ?? []) {
        expect(run.world.bases[b]).toBeDefined();
        expect(cloud.images.has(run.world.bases[b] ?? '')).toBe(false);
      }
    });
  }

  if (e.groupsAtFloor || e.outcome === 'succeeded') {
    test('every group ends at its configured floor and ceiling', () => {
      const { cloud, env } = run.world;
      for (const fleet of [env.fleets.web, env.fleets.worker]) {
        if (!fleet) continue;
        const g = cloud.groups.get(fleet.autoScalingGroupName);
        expect({ min: g?.min, max: g?.max }).toEqual({ min: fleet.minCapacity, max: fleet.maxCapacity });
        expect(g?.desired).toBeGreaterThanOrEqual(fleet.minCapacity);
        expect(g?.desired).toBeLessThanOrEqual(fleet.maxCapacity);
      }
    });
  }

  if (e.groupsEmpty) {
    test('every group is back as the stack left it: no instance, desired 0, min 0, version 1', () => {
      const { cloud, env } = run.world;
      for (const fleet of [env.fleets.web, env.fleets.worker]) {
        if (!fleet) continue;
        const g = cloud.groups.get(fleet.autoScalingGroupName);
        expect({ desired: g?.desired, min: g?.min, version: g?.ltVersion, instances: g?.instances.length }).toEqual({ desired: 0, min: 0, version: '1', instances: 0 });
      }
      const running = [...cloud.instances.values()].filter((i) => i.state !== 'terminated' && i.tags[TAGS.environment] === env.env);
      expect(running.map((i) => `${i.id} ${i.tags[TAGS.role]} ${i.state}`)).toEqual([]);
    });
  }

  if (e.runners !== undefined) {
    test(`launches ${e.runners} migration runner(s)`, () => {
      const runners = [...run.world.cloud.instances.values()].filter((i) => i.tags[TAGS.role] === 'release');
      expect(runners).toHaveLength(e.runners ?? 0);
    });
  }

  if (e.leftoversTerminated !== undefined) {
    test(`terminates the ${e.leftoversTerminated} builder/runner instance(s) a dead deploy left, and records it`, () => {
      const { cloud } = run.world;
      const leftovers = [...cloud.instances.values()].filter((i) => (i.tags[TAGS.deploy] ?? '').startsWith('dead-deploy-'));
      expect(leftovers).toHaveLength(e.leftoversTerminated ?? 0);
      for (const i of leftovers) expect(i.state).toBe('terminated');
      const item = [...cloud.table.values()].find((i) => i.pk === 'DEPLOY' && i.deployId === (scenario.deploy.deployId ?? 'deploy-0001'));
      expect(item?.leftoversTerminated).toBe(e.leftoversTerminated);
    });
  }

  if (e.peersLaunch) {
    // Last: it scales the peers' groups out after every other check has seen the end state.
    test('every peer environment can still launch its current image', async () => {
      const { cloud, env } = run.world;
      expect(env.peerEnvironments.length).toBeGreaterThan(0);
      for (const peer of env.peerEnvironments) {
        const image = cloud.parameters.get(parameterNames(env.app, peer).currentImage) ?? '';
        expect([peer, cloud.images.get(image)?.state]).toEqual([peer, 'available']);
        const groups = [...cloud.groups.values()].filter((g) => g.tags[TAGS.environment] === peer);
        expect(groups.length).toBeGreaterThan(0);
        for (const g of groups) {
          await cloud.clients().autoScaling.send(new UpdateAutoScalingGroupCommand({ AutoScalingGroupName: g.name, MinSize: 1, DesiredCapacity: 1 }));
        }
        cloud.advance(120);
        for (const g of groups) {
          const serving = g.instances.filter((i) => i.lifecycle === 'InService').map((i) => cloud.launchableImage(cloud.instances.get(i.id)?.imageId ?? '').imageId);
          expect([g.name, serving]).toEqual([g.name, [image]]);
        }
      }
      expect(cloud.violations).toEqual([]);
    });
  }

  if (e.architecture !== undefined) {
    test(`the release's image and every instance running it are ${e.architecture}`, () => {
      const { cloud } = run.world;
      const image = cloud.images.get(imageOf(run, e.serving ?? "") ?? '');
      expect(image?.architecture).toBe(e.architecture);
      const running = [...cloud.instances.values()].filter((i) => i.imageId === image?.id && i.state === 'running');
      expect(running.length).toBeGreaterThan(0);
      for (const i of running) expect([i.instanceType, architectureOf(i.instanceType)]).toEqual([i.instanceType, e.architecture]);
    });
  }

  if (e.warnings !== undefined || e.history !== undefined) {
    test('history: the warnings and fields the scenario expects', () => {
      const item = [...run.world.cloud.table.values()].find((i) => i.pk === 'DEPLOY' && i.deployId === (scenario.deploy.deployId ?? 'deploy-0001')) ?? {};
      const warnings = (item.warnings ?? []) as string[];
      for (const pattern of e.warnings ?? []) expect([pattern, warnings.some((w) => new RegExp(pattern).test(w))]).toEqual([pattern, true]);
      if (e.history) expect(item).toMatchObject(e.history);
    });
  }

  if (e.backupsLeft !== undefined) {
    test(`${e.backupsLeft} of herd's pre-migration snapshots left`, () => {
      const backups = [...run.world.cloud.dbSnapshots.values()].filter((s) => s.tags[TAGS.role] === 'backup' && s.tags[TAGS.environment] === run.world.env.env);
      expect(backups).toHaveLength(e.backupsLeft!);
    });
  }

  if (e.straddled !== undefined) {
    test(`reports that straddled two reads were read right: ${e.straddled.join(', ')}`, () => {
      expect([...new Set(run.world.cloud.straddled)].sort()).toEqual([...e.straddled!].sort());
    });
  }

  if (e.alarmStatesAtEnd !== undefined) {
    test('alarm states at the end', () => {
      for (const [id, state] of Object.entries(e.alarmStatesAtEnd!)) {
        expect([id, run.world.cloud.alarms.get(`herd-${run.world.env.env}-${id.toLowerCase()}`)?.state]).toEqual([id, state]);
      }
    });
  }

  if (e.alarmsFired !== undefined) {
    test(`alarms that fired (computed from traffic and target health): ${e.alarmsFired.join(', ') || 'none'}`, () => {
      const fired = [...run.world.cloud.alarms.values()].filter((a) => a.history.some((h) => h.state === 'ALARM'));
      const id = (name: string) => HERD_ALARM_IDS.find((x) => name === `herd-${run.world.env.env}-${x.toLowerCase()}`) ?? name;
      expect(fired.map((a) => id(a.name)).sort()).toEqual([...e.alarmsFired!].sort());
    });
  }

  if (e.throttlingSeenByStep !== undefined) {
    test(e.throttlingSeenByStep ? 'throttling outlasted the SDK\'s retries: a step backed off and tried again' : 'the SDK\'s retries absorbed every throttled attempt: no step saw one', () => {
      const backedOff = run.states.some((s) => s.transientErrors > 0);
      expect(backedOff).toBe(e.throttlingSeenByStep);
      // Absorbed, not absent: the fake did throttle attempts.
      if (!e.throttlingSeenByStep) expect(run.world.cloud.calls.some((c) => c.throttled)).toBe(true);
    });
  }

  if (e.refreshesOverlap !== undefined || e.newInstanceBatches !== undefined) {
    /** The refresh of `role`'s group towards this deploy's launch-template version, as the fake ran it. */
    const refreshOf = (role: 'web' | 'worker') => {
      const { cloud, env } = run.world;
      const name = env.fleets[role]?.autoScalingGroupName ?? '';
      const version = run.result.state?.next?.versions[role];
      return { name, refresh: cloud.groups.get(name)?.refreshes.find((r) => r.desiredVersion === version) };
    };

    if (e.refreshesOverlap !== undefined) test(e.refreshesOverlap ? 'web and worker refreshed at the same time: their refreshes overlap in virtual time' : 'web, then worker: the worker refresh starts after the web one ended', () => {
      const web = refreshOf('web').refresh;
      const worker = refreshOf('worker').refresh;
      expect(web && worker).toBeTruthy();
      const end = (r: typeof web) => r?.endTime ?? run.endedAt;
      const overlap = (web?.startTime ?? 0) < end(worker) && (worker?.startTime ?? 0) < end(web);
      expect({ overlap, webStart: web?.startTime, webEnd: web?.endTime, workerStart: worker?.startTime, workerEnd: worker?.endTime }).toMatchObject({ overlap: e.refreshesOverlap });
      if (!e.refreshesOverlap) expect(worker?.startTime ?? 0).toBeGreaterThanOrEqual(end(web));
    });

    if (e.newInstanceBatches !== undefined) test(`the refreshes launched the new instances in ${JSON.stringify(e.newInstanceBatches)} batch(es)`, () => {
      const { cloud } = run.world;
      const image = imageOf(run, run.scenario.deploy.release);
      for (const [role, batches] of Object.entries(e.newInstanceBatches ?? {}) as ['web' | 'worker', number][]) {
        const { name, refresh } = refreshOf(role);
        const launched = [...cloud.instances.values()].filter((i) => i.tags['aws:autoscaling:groupName'] === name && i.imageId === image && i.launchedAt >= (refresh?.startTime ?? Infinity));
        expect([role, new Set(launched.map((i) => i.launchedAt)).size]).toEqual([role, batches]);
      }
    });
  }

  if (e.roleKeeper !== undefined) {
    const k = e.roleKeeper;
    test(`the role keeper ran ${k.runs} time(s), after the migration${k.beforeRollout ? ', before any new instance' : ''}`, () => {
      const runs = run.world.keeperRuns;
      expect(runs).toHaveLength(k.runs);
      for (const r of runs) {
        expect({ migrationsReported: r.migrationsReported >= 1, runnersLeft: r.runnersLeft }).toEqual({ migrationsReported: true, runnersLeft: 0 });
        if (k.servingDuringRun) expect(r.serving).toEqual(k.servingDuringRun);
      }
      // The step order, as the deploy went: the runner is terminated, then the keeper runs.
      const steps = run.states.map((s) => s.step);
      if (k.runs > 0) expect(steps.indexOf('migrate.keepRoles')).toBeGreaterThan(steps.indexOf('migrate.terminateRunner'));
      // A full deploy's new fleet boots before the migration, but serves only after the switch, which comes after the keeper.
      if (k.runs > 0 && steps.includes('switch.listener')) expect(steps.indexOf('switch.listener')).toBeGreaterThan(steps.indexOf('migrate.keepRoles'));
      if (k.beforeRollout) {
        const { cloud, env } = run.world;
        const image = imageOf(run, run.scenario.deploy.release);
        const groups = [env.fleets.web.autoScalingGroupName, env.fleets.worker?.autoScalingGroupName];
        const started = [
          ...groups.flatMap((g) => cloud.groups.get(g ?? '')?.refreshes.filter((r) => r.startTime >= run.startedAt).map((r) => r.startTime) ?? []),
          ...[...cloud.instances.values()].filter((i) => groups.includes(i.tags['aws:autoscaling:groupName']) && i.imageId === image).map((i) => i.launchedAt),
        ];
        for (const r of runs) for (const at of started) expect(r.at).toBeLessThanOrEqual(at);
        for (const step of ['refresh.start', 'replace.record']) if (steps.includes(step)) expect(steps.indexOf(step)).toBeGreaterThan(steps.indexOf('migrate.keepRoles'));
      }
    });
  }

  if (e.stepsSeen !== undefined || e.stepsNeverSeen !== undefined) {
    test('the deploy went through the steps the scenario names, and never through the others it names', () => {
      const seen = new Set(run.states.map((s) => s.step));
      expect((e.stepsSeen ?? []).filter((step) => !seen.has(step))).toEqual([]);
      expect((e.stepsNeverSeen ?? []).filter((step) => seen.has(step))).toEqual([]);
    });
  }

  if (e.historyPatterns !== undefined) {
    test('history: fields match the scenario\'s patterns', () => {
      const item = [...run.world.cloud.table.values()].find((i) => i.pk === 'DEPLOY' && i.deployId === (scenario.deploy.deployId ?? 'deploy-0001')) ?? {};
      for (const [field, pattern] of Object.entries(e.historyPatterns ?? {})) expect([field, item[field]]).toEqual([field, expect.stringMatching(new RegExp(pattern))]);
    });
  }

  if (e.snapshotOverlapsBake !== undefined) {
    test(e.snapshotOverlapsBake ? 'the manual snapshot was made while the bake ran (virtual time)' : 'the manual snapshot was taken after the bake, before the migration', () => {
      const { cloud } = run.world;
      const id = (scenario.deploy.deployId ?? 'deploy-0001');
      const snapshot = [...cloud.dbSnapshots.values()].find((s) => s.tags[TAGS.deploy] === id && s.tags[TAGS.role] === 'backup');
      expect(snapshot).toBeDefined();
      const availableAt = (snapshot?.createdAt ?? 0) + cloud.timings.dbSnapshotSeconds * 1000;
      const builder = [...cloud.instances.values()].find((i) => i.tags[TAGS.role] === 'builder' && i.tags[TAGS.deploy] === id);
      const runner = [...cloud.instances.values()].find((i) => i.tags[TAGS.role] === 'release' && i.tags[TAGS.deploy] === id);
      expect(builder && run.imageAvailableAt && runner).toBeTruthy();
      const at = { snapshotStarted: snapshot?.createdAt ?? 0, snapshotAvailable: availableAt, builderLaunched: builder?.launchedAt ?? 0, imageAvailable: run.imageAvailableAt ?? 0, runnerLaunched: runner?.launchedAt ?? 0 };
      if (e.snapshotOverlapsBake) {
        expect(at.snapshotStarted).toBeLessThanOrEqual(at.builderLaunched);
        expect(at.snapshotAvailable).toBeLessThan(at.imageAvailable);
      } else {
        expect(at.snapshotStarted).toBeGreaterThanOrEqual(at.imageAvailable);
        // Waited for: available before the migration runner launched.
        expect(at.snapshotAvailable).toBeLessThanOrEqual(at.runnerLaunched);
      }
    });
  }

  if (e.restorePoint) {
    test('the restore point is recorded before the migration, and RDS restores to it once its latest restorable time passes it (never to the present)', async () => {
      const { cloud, env } = run.world;
      const point = run.result.state?.backup?.restorePoint;
      expect(point).toBeDefined();
      const id = (scenario.deploy.deployId ?? 'deploy-0001');
      const runner = [...cloud.instances.values()].find((i) => i.tags[TAGS.role] === 'release' && i.tags[TAGS.deploy] === id);
      expect(point?.at ?? Infinity).toBeLessThanOrEqual(runner?.launchedAt ?? 0);
      // When recorded, RDS could not restore to it yet: its latest restorable time trails.
      expect(point?.latestRestorableTime ?? Infinity).toBeLessThan(point?.at ?? 0);
      const restore = (target: string, at: number) => cloud.clients().rds.send(new RestoreDBInstanceToPointInTimeCommand({
        SourceDBInstanceIdentifier: env.database?.instanceIdentifier, TargetDBInstanceIdentifier: target, RestoreTime: new Date(at),
      }));
      await expect(restore('restored-now', cloud.now())).rejects.toMatchObject({ name: 'InvalidRestoreFault' });
      const from = Date.parse(String(([...cloud.table.values()].find((i) => i.pk === 'DEPLOY' && i.deployId === id)?.restorePoint as { restorableFrom?: string } | undefined)?.restorableFrom));
      if (cloud.now() < from) cloud.advance(Math.ceil((from - cloud.now()) / 1000));
      await expect(restore('restored-before-migration', point?.at ?? 0)).resolves.toBeDefined();
    });
  }

  if (e.restoreNotified !== undefined) {
    test('the failure\'s notification says how to restore the data as it was before the migration', () => {
      const { cloud, env } = run.world;
      const id = (scenario.deploy.deployId ?? 'deploy-0001');
      const events = cloud.published.filter((p) => p.service === 'eventBridge').map((p) => (p as unknown as { detail: { status: string; deployId: string; restore?: string } }).detail)
        .filter((d) => d.deployId === id && d.status !== 'started');
      expect(events.length).toBeGreaterThan(0);
      for (const d of events) expect(d.restore).toMatch(new RegExp(e.restoreNotified ?? ''));
      const messages = cloud.published.filter((p) => p.service === 'sns' && (p as { topicArn?: string }).topicArn === env.notificationTopicArn).map((p) => String((p as { message?: string }).message));
      expect(messages.some((m) => /\nrestore {3}restore to /.test(m))).toBe(true);
    });
  }

  if (e.everyApiThrottled) {
    test('every API the deploy called was throttled at least once', () => {
      const calls = run.world.cloud.calls;
      const apis = new Set(calls.map((c) => c.api));
      const throttled = new Set(calls.filter((c) => c.throttled).map((c) => c.api));
      expect([...apis].filter((a) => !throttled.has(a))).toEqual([]);
      expect(apis.size).toBeGreaterThan(10);
    });
  }
});
