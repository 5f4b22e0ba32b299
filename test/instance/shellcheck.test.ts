import { readFileSync, readdirSync, statSync } from 'fs';
import * as path from 'path';
import { INSTANCE_DIR, REPO, describeWith, hasCommand, run } from './support';

/** Every shell script of the project: instance/*, examples/<app>/herd/*, and the setup, test and CI scripts. */
function instanceScripts(): string[] {
  const scripts = readdirSync(INSTANCE_DIR).map((name) => path.join(INSTANCE_DIR, name));
  scripts.push(...['scripts/setup.sh', 'scripts/test.sh', '.ci/run'].map((name) => path.join(REPO, name)));
  const examples = path.join(REPO, 'examples');
  for (const app of readdirSync(examples)) {
    const hooks = path.join(examples, app, 'herd');
    try {
      if (!statSync(hooks).isDirectory()) continue;
    } catch {
      continue;
    }
    scripts.push(...readdirSync(hooks).map((name) => path.join(hooks, name)));
  }
  return scripts.filter((file) => statSync(file).isFile()).sort();
}

describeWith({ shellcheck: hasCommand('shellcheck') }, 'shell scripts', () => {
  const scripts = instanceScripts();

  test('include bake.sh, boot.sh, herd-bake.sh, the example hooks and the project scripts', () => {
    expect(scripts.map((file) => path.relative(REPO, file))).toEqual(expect.arrayContaining([
      'instance/bake.sh', 'instance/boot.sh', 'instance/herd-bake.sh', 'examples/mootube/herd/build', 'examples/mootube/herd/provision',
      'scripts/setup.sh', 'scripts/test.sh', '.ci/run',
    ]));
  });

  test.each(scripts.map((file) => [path.relative(REPO, file), file]))('%s is shellcheck-clean', async (_name, file) => {
    const result = await run('shellcheck', ['--shell=bash', '--severity=style', file]);
    expect(result.stdout).toBe('');
    expect(result.code).toBe(0);
  });

  test.each(scripts.map((file) => [path.relative(REPO, file), file]))('%s is executable, bash, strict', (_name, file) => {
    expect(statSync(file).mode & 0o111).toBe(0o111);
    const text = readFileSync(file, 'utf8');
    expect(text.startsWith('#!/usr/bin/env bash\n')).toBe(true);
    expect(text).toContain('\nset -euo pipefail\n');
  });
});
