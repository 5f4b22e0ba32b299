/** A tiny app directory to deploy. */
import { chmodSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';

export function appDirectory(version = '1'): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'herd-cli-app-'));
  writeFileSync(path.join(dir, 'Procfile'), 'web: python -m http.server $PORT\nrelease: true\n');
  mkdirSync(path.join(dir, 'herd'));
  writeFileSync(path.join(dir, 'herd', 'build'), '#!/bin/bash\necho build\n');
  chmodSync(path.join(dir, 'herd', 'build'), 0o755);
  writeFileSync(path.join(dir, 'VERSION'), `${version}\n`);
  return dir;
}
