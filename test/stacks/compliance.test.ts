import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { Stack } from 'aws-cdk-lib';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { buildApp } from '../support/app';

const ROOT = path.join(__dirname, '..', '..');
const CFN_LINT = path.join(ROOT, '.venv', 'bin', 'cfn-lint');

describe('every environment of the default configuration', () => {
  let outdir: string;
  beforeAll(() => {
    outdir = fs.mkdtempSync(path.join(os.tmpdir(), 'herd-synth-'));
    // cdk-nag AwsSolutions is registered as in bin/app.ts: synth throws on any unacknowledged finding.
    buildApp(undefined, { outdir, nag: true }).app.synth();
  });
  afterAll(() => fs.rmSync(outdir, { recursive: true, force: true }));

  test('synthesizes with zero unacknowledged cdk-nag AwsSolutions findings', () => {
    const templates = fs.readdirSync(outdir).filter((f) => f.endsWith('.template.json')).sort();
    expect(templates).toEqual([
      'herd-production-release-state.template.json', 'herd-production.template.json',
      'herd-staging-release-state.template.json', 'herd-staging.template.json',
      'herd-testing-release-state.template.json', 'herd-testing.template.json',
    ]);
  });

  test('passes cfn-lint with no errors', () => {
    if (!fs.existsSync(CFN_LINT)) {
      throw new Error(`cfn-lint not found at ${CFN_LINT}: run scripts/setup.sh (the README's test command does) to create the .venv`);
    }
    const templates = fs.readdirSync(outdir).filter((f) => f.endsWith('.template.json')).map((f) => path.join(outdir, f));
    const run = spawnSync(CFN_LINT, ['--non-zero-exit-code', 'error', '--format', 'parseable', ...templates], { encoding: 'utf8' });
    const errors = run.stdout.split('\n').filter((line) => /:E\d{4}:/.test(line));
    expect(errors).toEqual([]);
    expect(run.status).toBe(0);
  });
});

describe('cdk-nag', () => {
  test('fails synthesis on an unacknowledged finding', () => {
    const outdir = fs.mkdtempSync(path.join(os.tmpdir(), 'herd-nag-'));
    try {
      const built = buildApp(undefined, { outdir, nag: true });
      // An unencrypted, unlogged bucket: AwsSolutions-S1 and S10 must stop the synth.
      new s3.Bucket(built.stacks.testing as Stack, 'CarelessBucket');
      expect(() => built.app.synth()).toThrow(/herd-testing\/CarelessBucket\/Resource[\s\S]*AwsSolutions-S1/);
      expect(fs.readFileSync(path.join(outdir, 'validation-report.json'), 'utf8')).toContain('AwsSolutions-S10');
    } finally {
      fs.rmSync(outdir, { recursive: true, force: true });
    }
  });
});
