/**
 * Which configuration a command uses: `HERD_CONFIG`, else the nearest `herd.config.*` from
 * the working directory up, so herd run in an app's repository reads that app's file.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { findConfigFile } from '../../lib/config/load';

const ROOT = path.resolve(__dirname, '..', '..');

function repository(): string {
  return mkdtempSync(path.join(tmpdir(), 'herd-config-'));
}

test('the nearest herd.config.* from the working directory up is used, .ts before .js before .json', () => {
  const repo = repository();
  writeFileSync(path.join(repo, 'herd.config.json'), '{}');
  const deep = path.join(repo, 'src', 'app');
  mkdirSync(deep, { recursive: true });
  expect(findConfigFile(deep, {})).toBe(path.join(repo, 'herd.config.json'));
  writeFileSync(path.join(repo, 'herd.config.ts'), 'export default {};');
  expect(findConfigFile(deep, {})).toBe(path.join(repo, 'herd.config.ts'));
  // A nearer one wins over the repository's.
  writeFileSync(path.join(repo, 'src', 'herd.config.js'), 'module.exports = {};');
  expect(findConfigFile(deep, {})).toBe(path.join(repo, 'src', 'herd.config.js'));
});

test('HERD_CONFIG names the file, relative to the working directory', () => {
  const repo = repository();
  writeFileSync(path.join(repo, 'herd.config.ts'), 'export default {};');
  expect(findConfigFile(repo, { HERD_CONFIG: 'deploy/herd.json' })).toBe(path.join(repo, 'deploy', 'herd.json'));
  expect(findConfigFile(repo, { HERD_CONFIG: '  ' })).toBe(path.join(repo, 'herd.config.ts'));
});

test('no configuration anywhere up the tree: the error says where herd looked and how to name one', () => {
  const dir = repository();
  // tmpdir() has no herd.config.* above it on this machine; the message names the directory.
  expect(() => findConfigFile(dir, {})).toThrow(
    `no herd configuration: no herd.config.ts, herd.config.js, herd.config.json in ${dir} or a parent directory, and HERD_CONFIG is not set. ` +
      'Run herd in your app\'s repository (where its herd.config.ts is), or set HERD_CONFIG=path/to/herd.config.ts (README: "Using herd with your own app")',
  );
});

test('the installed herd run from an app\'s repository reads that app\'s herd.config.ts', () => {
  const repo = repository();
  // What the README tells an app to write: a type import from the herd checkout, no runtime import.
  writeFileSync(
    path.join(repo, 'herd.config.ts'),
    [
      `import type { HerdSettings } from '${path.join(ROOT, 'lib', 'config', 'types')}';`,
      "const config: HerdSettings = { app: 'shop', environments: [{ name: 'qa', profile: 'small', network: { cidr: '10.40.0.0/16' } }] };",
      'export default config;',
      '',
    ].join('\n'),
  );
  const res = spawnSync(process.execPath, [path.join(ROOT, 'bin', 'herd.js'), 'status', 'staging'], { cwd: repo, encoding: 'utf8', env: { ...process.env, HERD_CONFIG: '' } });
  // Refused before any AWS call: `staging` is herd's example, not this app's.
  expect(res.stderr).toMatch(/unknown environment "?staging"?.*qa/);
  expect(res.status).toBe(2);
});
