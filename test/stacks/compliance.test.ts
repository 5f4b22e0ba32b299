import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { App, Stack, Validations } from 'aws-cdk-lib';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { GUARD_NAMESPACE } from '../../lib/nag';
import defaultSettings from '../../herd.config';
import { buildApp } from '../support/app';
import { loadCheckovSkips, runCheckov, skipCovers, unskipped } from '../support/checkov';

const ROOT = path.join(__dirname, '..', '..');
const CFN_LINT = path.join(ROOT, '.venv', 'bin', 'cfn-lint');
const SECURITY_DOC = path.join(ROOT, 'docs', 'security.md');

/** Every cfn-guard acknowledgment in `app`: rule name and reason, once each. */
function guardAcknowledgments(app: App): { rule: string; reason: string }[] {
  const found = new Map<string, { rule: string; reason: string }>();
  for (const construct of app.node.findAll()) {
    for (const entry of construct.node.metadata) {
      if (entry.type !== Validations.ACKNOWLEDGED_RULES_METADATA_KEY) continue;
      for (const [id, reason] of Object.entries(entry.data as Record<string, string>)) {
        if (!id.startsWith(`${GUARD_NAMESPACE}::`)) continue;
        const rule = id.slice(GUARD_NAMESPACE.length + 2);
        found.set(`${rule}\n${reason}`, { rule, reason });
      }
    }
  }
  return [...found.values()];
}

describe('every environment of the default configuration', () => {
  let outdir: string;
  let app: App;
  let templates: string[];
  beforeAll(() => {
    outdir = fs.mkdtempSync(path.join(os.tmpdir(), 'herd-synth-'));
    // cdk-nag AwsSolutions and cfn-guard are registered as in bin/app.ts, with cdk.json's
    // feature flags as `cdk synth` has them: synth throws on any unacknowledged finding.
    app = buildApp(undefined, { outdir, nag: true, cdkJson: true }).app;
    app.synth();
    templates = fs.readdirSync(outdir).filter((f) => f.endsWith('.template.json')).map((f) => path.join(outdir, f));
  });
  afterAll(() => fs.rmSync(outdir, { recursive: true, force: true }));

  test('synthesizes with zero unacknowledged cdk-nag AwsSolutions and cfn-guard (Control Tower) findings', () => {
    expect(templates.map((t) => path.basename(t)).sort()).toEqual([
      'herd-production-release-state.template.json', 'herd-production.template.json',
      'herd-staging-release-state.template.json', 'herd-staging.template.json',
      'herd-testing-release-state.template.json', 'herd-testing.template.json',
    ]);
  });

  test('passes cfn-lint with no errors', () => {
    if (!fs.existsSync(CFN_LINT)) {
      throw new Error(`cfn-lint not found at ${CFN_LINT}: run scripts/setup.sh (the README's test command does) to create the .venv`);
    }
    const run = spawnSync(CFN_LINT, ['--non-zero-exit-code', 'error', '--format', 'parseable', ...templates], { encoding: 'utf8' });
    const errors = run.stdout.split('\n').filter((line) => /:E\d{4}:/.test(line));
    expect(errors).toEqual([]);
    expect(run.status).toBe(0);
  });

  test('passes checkov but for the checked-in skips, each of which still matches a failure', () => {
    const checkovFailures = runCheckov(templates);
    const skips = loadCheckovSkips();
    expect(unskipped(checkovFailures, skips)).toEqual([]);
    const stale = skips.filter((s) => !checkovFailures.some((f) => skipCovers(s, f))).map((s) => s.id);
    expect(stale).toEqual([]);
  });

  test('docs/security.md lists every checkov skip and every cfn-guard acknowledgment with its reason', () => {
    const doc = fs.readFileSync(SECURITY_DOC, 'utf8').replace(/\s+/g, ' ');
    const missing = [
      ...loadCheckovSkips().filter((s) => !doc.includes(`${s.id} | ${s.reason.replace(/\s+/g, ' ')} |`)).map((s) => `checkov ${s.id}: ${s.reason}`),
      ...guardAcknowledgments(app).filter((a) => !doc.includes(`${a.rule} | ${a.reason} |`)).map((a) => `cfn-guard ${a.rule}: ${a.reason}`),
    ];
    expect(missing).toEqual([]);
  });
});

describe('checkov', () => {
  test('reports a careless resource that no skip covers', () => {
    const outdir = fs.mkdtempSync(path.join(os.tmpdir(), 'herd-checkov-'));
    try {
      // A stack named like an environment's, so that the skips scoped to it apply as they would.
      const app = new App({ outdir });
      new s3.Bucket(new Stack(app, 'herd-testing'), 'CarelessBucket');
      app.synth();
      const failures = unskipped(runCheckov([path.join(outdir, 'herd-testing.template.json')]), loadCheckovSkips());
      expect(failures).toEqual(expect.arrayContaining([
        expect.stringMatching(/^CKV_AWS_18 herd-testing\.template\.json:AWS::S3::Bucket\.CarelessBucket/),
        expect.stringMatching(/^CKV_AWS_21 herd-testing\.template\.json:AWS::S3::Bucket\.CarelessBucket/),
      ]));
    } finally {
      fs.rmSync(outdir, { recursive: true, force: true });
    }
  });
});

describe('policy checks at synthesis (cdk-nag, cfn-guard)', () => {
  test('fail synthesis on an unacknowledged finding, naming the rule and the resource', () => {
    const outdir = fs.mkdtempSync(path.join(os.tmpdir(), 'herd-nag-'));
    try {
      // The testing environment alone: its two stacks make the synth and the checks a third as long.
      const testingOnly = { ...defaultSettings, environments: defaultSettings.environments.filter((e) => e.name === 'testing') };
      const built = buildApp(testingOnly, { outdir, nag: true, cdkJson: true });
      // An unlogged bucket without TLS enforcement: cdk-nag AwsSolutions-S1 and S10, and
      // Control Tower CT.S3.PR.2 (cfn-guard s3_bucket_logging_enabled_check) must stop the synth.
      new s3.Bucket(built.stacks.testing as Stack, 'CarelessBucket');
      expect(() => built.app.synth()).toThrow(/herd-testing\/CarelessBucket\/Resource[\s\S]*AwsSolutions-S1[\s\S]*s3_bucket_logging_enabled_check/);
      const report = JSON.parse(fs.readFileSync(path.join(outdir, 'validation-report.json'), 'utf8')) as {
        pluginReports: { pluginName: string; violations: { ruleName: string; violatingConstructs: { constructPath?: string }[] }[] }[];
      };
      const flagged = (plugin: string) => report.pluginReports.filter((r) => r.pluginName === plugin)
        .flatMap((r) => r.violations.flatMap((v) => v.violatingConstructs.map((c) => `${v.ruleName} ${c.constructPath}`)));
      expect(flagged('AwsSolutions')).toEqual(expect.arrayContaining(['AwsSolutions-S10 herd-testing/CarelessBucket/Resource']));
      const guard = flagged(GUARD_NAMESPACE);
      expect(guard).toEqual(expect.arrayContaining(['s3_bucket_logging_enabled_check herd-testing/CarelessBucket/Resource']));
      expect(guard.filter((f) => !f.endsWith(' herd-testing/CarelessBucket/Resource'))).toEqual([]);
    } finally {
      fs.rmSync(outdir, { recursive: true, force: true });
    }
  });

  test('fail synthesis on a finding only cfn-guard makes, in a stack with other cfn-guard acknowledgments', () => {
    // cfn-guard reports violations without a severity; once a stack acknowledges any rule,
    // aws-cdk-lib recomputed the report's success as "no error left" and let this synth pass
    // (lib/policy-checks.ts marks every cfn-guard violation as an error).
    const outdir = fs.mkdtempSync(path.join(os.tmpdir(), 'herd-guard-'));
    try {
      const testingOnly = { ...defaultSettings, environments: defaultSettings.environments.filter((e) => e.name === 'testing') };
      const built = buildApp(testingOnly, { outdir, nag: true, cdkJson: true });
      const stack = built.stacks.testing as Stack;
      const accessLogs = (stack.node.findChild('AccessLogs') as unknown as { bucket: s3.IBucket }).bucket;
      // Everything cdk-nag AwsSolutions asks of a bucket, but not versioned (Control Tower CT.S3.PR.11).
      new s3.Bucket(stack, 'UnversionedBucket', {
        encryption: s3.BucketEncryption.S3_MANAGED,
        enforceSSL: true,
        blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
        serverAccessLogsBucket: accessLogs,
        serverAccessLogsPrefix: 's3/unversioned/',
      });
      expect(() => built.app.synth()).toThrow(/s3_bucket_versioning_enabled_check/);
      const report = JSON.parse(fs.readFileSync(path.join(outdir, 'validation-report.json'), 'utf8')) as {
        pluginReports: { pluginName: string; violations: { ruleName: string; violatingConstructs: { constructPath?: string }[] }[] }[];
      };
      const flagged = (plugin: string) => report.pluginReports.filter((r) => r.pluginName === plugin)
        .flatMap((r) => r.violations.flatMap((v) => v.violatingConstructs.map((c) => `${v.ruleName} ${c.constructPath}`)));
      expect(flagged('AwsSolutions')).toEqual([]);
      expect(flagged(GUARD_NAMESPACE)).toEqual(expect.arrayContaining(['s3_bucket_versioning_enabled_check herd-testing/UnversionedBucket/Resource']));
    } finally {
      fs.rmSync(outdir, { recursive: true, force: true });
    }
  });
});
