/** The anchors reproduce the scripted Fabric deploy's measured figures from its step times, and behave with fleet size. */
import {
  SEED_FABRIC_STEPS,
  anchorsFor,
  fabricParallel,
  fabricPrepareActivate,
  fabricSeries,
  fabulawsFull,
  fabulawsSerial,
  instanceReadySeconds,
  type AnchorTimings,
} from '../../lib/plan/anchors';
import { DEFAULT_TIMINGS, timingValues } from '../../lib/plan/timings';

const timings: AnchorTimings = { cloud: timingValues(DEFAULT_TIMINGS), fabric: SEED_FABRIC_STEPS, fabulawsSleepSeconds: 45, pollSeconds: 10 };

describe('Fabric anchors reproduce the seed (deploy code 5, requirements 20, backup 15, migrate 12, collectstatic 10, switch 1, reload 1)', () => {
  test('in series, 2 servers: 128 s total, 24 s then 88 s of potential downtime', () => {
    const r = fabricSeries(2);
    expect(r.totalSeconds).toBe(128);
    expect(r.skewPerServer).toEqual([24, 88]);
    expect(r.skewSeconds).toBe(88);
  });

  test('in series, the downtime grows by one server (64 s) per server: 24, 88, 152, 216', () => {
    expect(fabricSeries(4).skewPerServer).toEqual([24, 88, 152, 216]);
    expect(fabricSeries(4).totalSeconds).toBe(256);
  });

  test('in parallel with roles: 64 s total, 24 s per server', () => {
    const r = fabricParallel(2);
    expect(r.totalSeconds).toBe(64);
    expect(r.skewPerServer).toEqual([24, 24]);
  });

  test('prepare/activate split: 64 s total, 13 s of downtime', () => {
    const r = fabricPrepareActivate(2);
    expect(r.totalSeconds).toBe(64);
    expect(r.skewSeconds).toBe(13);
    expect(fabricPrepareActivate(100).skewSeconds).toBe(13);
  });
});

describe('Fabulaws anchors', () => {
  test('a new instance is ready after boot + the first passing check after the app starts (26 + 10 s)', () => {
    expect(instanceReadySeconds(timings.cloud)).toBe(36);
  });

  test('deploy_serial: bake + deploy_worker + per server (deregistration 30 + max(45 s sleep, shutdown 10 + ready 36))', () => {
    const r = fabulawsSerial(2, timings);
    expect(r.totalSeconds).toBe(270 + 150 + 48 + 2 * (30 + 46));
    expect(r.minHealthyPercent).toBe(50);
    expect(r.noHealthyTargetSeconds).toBe(0);
    expect(fabulawsSerial(1, timings).noHealthyTargetSeconds).toBe(30 + 46);
  });

  test('deploy_serial grows linearly with the fleet; deploy_full does not', () => {
    const d = fabulawsSerial(11, timings).totalSeconds - fabulawsSerial(10, timings).totalSeconds;
    expect(d).toBe(76);
    expect(fabulawsFull(100, timings).totalSeconds).toBe(fabulawsFull(2, timings).totalSeconds);
  });

  test('deploy_full: maintenance = page on + deploy_worker + drain + page off', () => {
    const r = fabulawsFull(10, timings);
    expect(r.maintenanceWindowSeconds).toBe(1 + 48 + 30 + 1);
    expect(r.totalSeconds).toBe(270 + 150 + 36 + 80);
  });

  test('every anchor for a fleet', () => {
    expect(anchorsFor(2, timings).map((a) => a.tool)).toEqual([
      'Fabulaws deploy_serial',
      'Fabulaws deploy_full',
      'Fabric, in series',
      'Fabric, parallel with roles',
      'Fabric, prepare/activate',
    ]);
  });

  test('fails when the fleet is not a whole number of servers', () => {
    expect(() => fabricSeries(0)).toThrow('an anchor needs a whole number of servers >= 1 (received 0)');
    expect(() => fabulawsFull(2.5, timings)).toThrow('an anchor needs a whole number of servers >= 1 (received 2.5)');
  });
});
