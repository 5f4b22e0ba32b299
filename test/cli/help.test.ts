/** `herd --help` and every `herd <verb> --help` explain themselves with an example. */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import type { Command } from 'commander';
import { EXIT, EXIT_CODES, exitCodesHelp, exitCodesMarkdown } from '../../lib/cli/errors';
import { buildProgram } from '../../lib/cli/program';
import { runHerd, testDeps } from './support/harness';

const noClients = () => {
  throw new Error('help needs no AWS');
};

function paths(command: Command, prefix: string[] = []): string[][] {
  return command.commands.flatMap((c) => [[...prefix, c.name()], ...paths(c, [...prefix, c.name()])]);
}

const verbs = paths(buildProgram(testDeps({ clients: noClients })));

test('every verb is there', () => {
  expect(verbs.map((v) => v.join(' '))).toEqual(
    expect.arrayContaining(['deploy', 'watch', 'status', 'history', 'rollback', 'promote', 'bake', 'releases', 'releases prune', 'maintenance on', 'maintenance off', 'autoscaling suspend', 'autoscaling resume', 'config', 'restart', 'unlock']),
  );
});

test.each(verbs.map((v) => [v.join(' ')]))('herd %s --help shows an example', async (verb) => {
  const run = await runHerd([...verb.split(' '), '--help'], testDeps({ clients: noClients }));
  expect(run.code).toBe(0);
  expect(run.err).toBe('');
  expect(run.out).toMatch(new RegExp(`^Usage: herd ${verb} `));
  expect(run.out).toMatch(new RegExp(`Examples?:\\n {2}\\$ herd ${verb.split(' ')[0]} `));
});

test('npx herd --help runs the installed bin and lists the verbs with examples', () => {
  const root = path.resolve(__dirname, '..', '..');
  const res = spawnSync(process.execPath, [path.join(root, 'bin', 'herd.js'), '--help'], { cwd: root, encoding: 'utf8' });
  expect(res.status).toBe(0);
  expect(res.stdout).toMatch(/^Usage: herd <command> \[options\]/);
  expect(res.stdout).toMatch(/^ {2}deploy \[options\] <env> <release\|path>/m);
  expect(res.stdout).toMatch(/Examples:\n {2}\$ herd deploy staging/);
});

test('fails when the verb is unknown', async () => {
  const run = await runHerd(['deplyo', 'staging'], testDeps({ clients: noClients }));
  expect(run.code).toBe(2);
  expect(run.err.split('\n')[0]).toBe("herd: unknown command 'deplyo'");
});

describe('exit codes: one table, the same in the code, the help and the README', () => {
  test('EXIT_CODES names every code of EXIT once, in order', () => {
    expect(EXIT_CODES.map((e) => [e.name, e.code])).toEqual(Object.entries(EXIT));
  });

  test('herd --help prints the table', async () => {
    const run = await runHerd(['--help'], testDeps({ clients: noClients }));
    expect(run.out).toContain(`${exitCodesHelp()}\n`);
    for (const e of EXIT_CODES) expect(run.out).toMatch(new RegExp(`^ {2}${e.code} {2}\\S`, 'm'));
  });

  test('the README shows the same table', () => {
    const readme = readFileSync(path.join(__dirname, '..', '..', 'README.md'), 'utf8');
    expect(/<!-- exit-codes -->\n([\s\S]*?)\n<!-- \/exit-codes -->/.exec(readme)?.[1]).toBe(exitCodesMarkdown());
  });
});
