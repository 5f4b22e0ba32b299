/** The cause an unhealthy release's diagnosis fails the deploy with: within the failure record, newest log lines kept. */
import { diagnosisCause } from '../../lambda/deploy/diagnose';
import type { Diagnosis } from '../../lambda/deploy/state';

const base: Diagnosis = {
  role: 'web',
  release: 'r2',
  reason: 'Target.ResponseCodeMismatch',
  description: 'Health checks failed with these codes: [502]',
  instances: ['i-0000000000000000a', 'i-0000000000000000b', 'i-0000000000000000c'],
  logGroup: '/herd/shop/staging/boot',
  logStream: 'i-0000000000000000c',
  logTail: ['herd-boot: starting web', "web: KeyError: 'DATABASE_URL'", 'web: [ERROR] Worker failed to boot.'],
  at: 0,
};

describe('diagnosisCause', () => {
  test('names the instances, the reason and its description, then the boot log lines', () => {
    expect(diagnosisCause(base)).toBe(
      'release r2 is unhealthy: 3 new web instance(s) failed their health check with Target.ResponseCodeMismatch (Health checks failed with these codes: [502]): ' +
        'i-0000000000000000a, i-0000000000000000b, i-0000000000000000c; boot log of i-0000000000000000c:\n' +
        "herd-boot: starting web\nweb: KeyError: 'DATABASE_URL'\nweb: [ERROR] Worker failed to boot.",
    );
  });

  test('keeps the newest lines that fit within the 500 characters a failure keeps (with the step name in front)', () => {
    const long = { ...base, instances: Array.from({ length: 14 }, (_, n) => `i-${String(n).padStart(17, '0')}`), logTail: Array.from({ length: 10 }, (_, n) => `line ${n} ${'x'.repeat(150)}`) };
    const cause = diagnosisCause(long);
    expect(`rollout.unhealthy: ${cause}`.length).toBeLessThanOrEqual(500);
    expect(cause).toContain('and 4 more');
    expect(cause).toMatch(/\n…x+$/);
    expect(cause).not.toContain('line 0 ');
    const fewer = diagnosisCause({ ...long, instances: base.instances });
    expect(fewer.endsWith(long.logTail[9]!)).toBe(true);
    expect(`rollout.unhealthy: ${fewer}`.length).toBeLessThanOrEqual(500);
  });

  test('says so when the boot log could not be read', () => {
    expect(diagnosisCause({ ...base, logTail: [], logError: 'AccessDeniedException: no' })).toMatch(/; no boot log in \/herd\/shop\/staging\/boot for i-0000000000000000c \(AccessDeniedException: no\)$/);
  });
});
