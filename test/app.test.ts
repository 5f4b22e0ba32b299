import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import defaultSettings from '../herd.config';

const ROOT = path.join(__dirname, '..');
const TSX = path.join(ROOT, 'node_modules', '.bin', 'tsx');

/** cdk.json's context (the feature flags), which the CDK CLI hands the app. */
const CDK_JSON_CONTEXT = (JSON.parse(fs.readFileSync(path.join(ROOT, 'cdk.json'), 'utf8')) as { context: Record<string, unknown> }).context;

/** Runs the CDK app as the CDK CLI does, with `herd:config` pointing at `config` when given. */
function runApp(outdir: string, config?: string) {
  const context = config ? { 'herd:config': config } : {};
  return spawnSync(TSX, [path.join(ROOT, 'bin', 'app.ts')], {
    cwd: ROOT,
    encoding: 'utf8',
    env: { ...process.env, CDK_OUTDIR: outdir, CDK_CONTEXT_JSON: JSON.stringify({ ...CDK_JSON_CONTEXT, ...context, 'aws:cdk:bundling-stacks': [] }) },
  });
}

describe('bin/app.ts', () => {
  let dir: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'herd-app-'));
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  test('synthesizes a herd-<env> and a herd-<env>-release-state stack per environment offline', () => {
    // Two of the default configuration's environments, one per profile: every environment of it
    // goes through the same synthesis and policy checks in test/stacks/compliance.test.ts, and
    // in a process of its own here it took minutes.
    const config = path.join(dir, 'two.json');
    fs.writeFileSync(config, JSON.stringify({
      ...defaultSettings,
      environments: defaultSettings.environments.filter((e) => e.name === 'testing' || e.name === 'production'),
    }));
    const outdir = path.join(dir, 'out');
    const run = runApp(outdir, config);
    expect(run.stderr).not.toContain('ERROR');
    expect(run.status).toBe(0);
    const templates = fs.readdirSync(outdir).filter((f) => f.endsWith('.template.json')).sort();
    expect(templates).toEqual([
      'herd-production-release-state.template.json', 'herd-production.template.json',
      'herd-testing-release-state.template.json', 'herd-testing.template.json',
    ]);
  });

  test('fails when the configuration is invalid, listing every problem and writing no template', () => {
    const config = path.join(dir, 'bad.json');
    fs.writeFileSync(config, JSON.stringify({
      app: 'mootube',
      environments: [
        { name: 'testing', network: { cidr: '10.10.0.0/16' }, web: { minCapacity: 4, maxCapacity: 2 } },
        { name: 'Production', deploy: { strategy: 'yolo' } },
      ],
    }));
    const outdir = path.join(dir, 'out');
    const run = runApp(outdir, config);
    expect(run.status).toBe(1);
    expect(run.stderr).toContain(
      'herd configuration has 3 problems; nothing was synthesized:\n' +
      '  - testing.web.minCapacity (4) must be <= maxCapacity (2)\n' +
      '  - Production.name ("Production") must be DNS-safe: 1-32 lower-case letters, digits or hyphens, starting with a letter, not ending with a hyphen\n' +
      '  - Production.deploy.strategy ("yolo") must be one of "rolling", "full"\n',
    );
    const written = fs.existsSync(outdir) ? fs.readdirSync(outdir).filter((f) => f.endsWith('.template.json')) : [];
    expect(written).toEqual([]);
  });

  test('fails when the configuration file does not exist', () => {
    const run = runApp(path.join(dir, 'out'), path.join(dir, 'missing.json'));
    expect(run.status).toBe(1);
    expect(run.stderr).toContain(`herd configuration file not found: ${path.join(dir, 'missing.json')}. Pass an existing .ts, .js or .json file.`);
  });
});
