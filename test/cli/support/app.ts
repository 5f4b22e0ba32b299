/** A tiny app directory to deploy. */
import { randomBytes } from 'node:crypto';
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

/** An app directory with `bytes` of random data (gzip cannot shrink it): a large artifact. */
export function largeAppDirectory(bytes: number, version = 'large'): string {
  const dir = appDirectory(version);
  writeFileSync(path.join(dir, 'media.bin'), randomBytes(bytes));
  return dir;
}
