/**
 * The CLI's local app-contract check says what bake.sh says: each message is one of
 * bake.sh's `refuse "…"` lines (with its shell variables in place of the values), and the
 * cases bake.sh's own tests refuse are refused here with the same words.
 */
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { CONTRACT_MESSAGES, contractViolation } from '../../lib/cli/app-contract';

const BAKE_SH = readFileSync(path.join(__dirname, '..', '..', 'instance', 'bake.sh'), 'utf8');

function app(files: Record<string, string>, executables: string[] = []): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'herd-contract-'));
  for (const [name, content] of Object.entries(files)) {
    mkdirSync(path.dirname(path.join(dir, name)), { recursive: true });
    writeFileSync(path.join(dir, name), content);
    chmodSync(path.join(dir, name), executables.includes(name) ? 0o755 : 0o644);
  }
  return dir;
}

describe('each message is word for word one of bake.sh\'s refusals', () => {
  // The message built with bake.sh's shell variables as values, as its source spells them.
  const asShell: Record<keyof typeof CONTRACT_MESSAGES, string> = {
    procfileNotRegular: CONTRACT_MESSAGES.procfileNotRegular(),
    procfileMissing: CONTRACT_MESSAGES.procfileMissing(),
    malformed: CONTRACT_MESSAGES.malformed('$line_no' as unknown as number),
    invalidName: CONTRACT_MESSAGES.invalidName('$line_no' as unknown as number, '$name'),
    reservedBoot: CONTRACT_MESSAGES.reservedBoot('$line_no' as unknown as number),
    emptyCommand: CONTRACT_MESSAGES.emptyCommand('$line_no' as unknown as number, '$name'),
    definedTwice: CONTRACT_MESSAGES.definedTwice('$line_no' as unknown as number, '$name'),
    noWeb: CONTRACT_MESSAGES.noWeb(),
    hookNotRegular: CONTRACT_MESSAGES.hookNotRegular('$hook'),
    hookNotExecutable: CONTRACT_MESSAGES.hookNotExecutable('$hook'),
  };
  test.each(Object.entries(asShell))('%s', (_key, message) => {
    expect(BAKE_SH).toContain(`refuse "${message}"`);
  });
});

describe('contractViolation refuses what bake.sh refuses', () => {
  const cases: Array<[string, Record<string, string>, string[], string]> = [
    ['fails when there is no Procfile', { 'app.py': '' }, [], "Procfile: not found at the artifact's root"],
    ['fails when the Procfile has no web process', { Procfile: 'worker: run-worker\n' }, [], "Procfile: no web process (a 'web:' line is required)"],
    ['fails when a Procfile line is malformed', { Procfile: 'web: serve\njust a command\n' }, [], "Procfile line 2: malformed, expected '<process>: <command>'"],
    ['fails when a process name is invalid', { Procfile: 'web: serve\nBad_Name: x\n' }, [], "Procfile line 2: process name 'Bad_Name' is invalid (must match [a-z][a-z0-9_-]*)"],
    ['fails when a process has no command', { Procfile: 'web:\n' }, [], "Procfile line 1: process 'web' has an empty command"],
    ['fails when a process is defined twice', { Procfile: 'web: a\nweb: b\n' }, [], "Procfile line 2: process 'web' is defined twice"],
    ['fails when a process is named boot', { Procfile: 'web: a\nboot: b\n' }, [], "Procfile line 2: process name 'boot' is reserved (herd-boot logs to /var/log/herd/<app>/boot.log)"],
    ['fails when herd/build is not executable', { Procfile: 'web: serve\n', 'herd/build': '#!/bin/sh\n' }, [], 'herd/build: present but not executable (chmod +x herd/build)'],
    ['fails when herd/provision is not executable', { Procfile: 'web: serve\n', 'herd/provision': '#!/bin/sh\n' }, [], 'herd/provision: present but not executable (chmod +x herd/provision)'],
    ['fails when herd/build is a directory', { Procfile: 'web: serve\n', 'herd/build/x': '' }, [], 'herd/build: must be a regular file'],
  ];
  test.each(cases)('%s', (_name, files, executables, message) => {
    expect(contractViolation(app(files, executables))).toBe(message);
  });

  test('accepts comments, blank lines, CRLF, a last line without a newline and executable hooks', () => {
    const dir = app({ Procfile: '# processes\r\n\r\nweb: gunicorn app\r\nworker: celery', 'herd/build': '#!/bin/sh\n' }, ['herd/build']);
    expect(contractViolation(dir)).toBeUndefined();
  });

  test('a Procfile the ignore rules leave out counts as missing', () => {
    const dir = app({ Procfile: 'web: serve\n' });
    expect(contractViolation(dir, (p) => p !== 'Procfile')).toBe("Procfile: not found at the artifact's root");
  });
});
