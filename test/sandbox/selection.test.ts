/** Which commands run in the sandbox: `--sandbox` anywhere before `--`, or `HERD_SANDBOX=1`; where and how fast. */
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { sandboxSelection } from '../../lib/sandbox/selection';

describe('sandboxSelection', () => {
  test('--sandbox anywhere selects the sandbox in .herd/sandbox of the working directory, at 60 times wall speed; the command loses the option', () => {
    expect(sandboxSelection(['status', '--sandbox', 'staging'], {}, '/work/app')).toEqual({ argv: ['status', 'staging'], sandbox: { dir: '/work/app/.herd/sandbox', speed: 60 } });
  });

  test('run deeper in an app\'s repository, the sandbox is the one next to the configuration the command reads', () => {
    const repo = mkdtempSync(path.join(tmpdir(), 'herd-sandbox-repo-'));
    writeFileSync(path.join(repo, 'herd.config.json'), '{}');
    mkdirSync(path.join(repo, 'src'));
    expect(sandboxSelection(['--sandbox'], {}, path.join(repo, 'src')).sandbox?.dir).toBe(path.join(repo, '.herd', 'sandbox'));
  });

  test('HERD_SANDBOX=1 selects it, HERD_SANDBOX_DIR and HERD_SANDBOX_SPEED set where and how fast', () => {
    expect(sandboxSelection(['status', 'staging'], { HERD_SANDBOX: '1', HERD_SANDBOX_DIR: 'tmp/sb', HERD_SANDBOX_SPEED: '600' }, '/work/app')).toEqual({
      argv: ['status', 'staging'],
      sandbox: { dir: '/work/app/tmp/sb', speed: 600 },
    });
  });

  test('without either (or HERD_SANDBOX=0), AWS; a --sandbox after -- is an argument', () => {
    expect(sandboxSelection(['status', 'staging'], { HERD_SANDBOX: '0' }, '/w')).toEqual({ argv: ['status', 'staging'] });
    expect(sandboxSelection(['x', '--', '--sandbox'], {}, '/w')).toEqual({ argv: ['x', '--', '--sandbox'] });
  });

  test('fails when HERD_SANDBOX_SPEED is not a positive number, naming the value', () => {
    expect(() => sandboxSelection(['--sandbox'], { HERD_SANDBOX_SPEED: '-3' }, '/w')).toThrow('HERD_SANDBOX_SPEED must be a positive number of virtual seconds per wall second (received "-3"); unset it for 60');
  });
});
