import { existsSync, mkdirSync, readFileSync, readdirSync, readlinkSync, writeFileSync } from 'fs';
import * as path from 'path';
import { BAKE_STEPS, builderUserData } from '../../lambda/deploy/bake';
import type { DeployClients } from '../../lambda/deploy/clients';
import { DeployFailure } from '../../lambda/deploy/errors';
import { RELEASE_STEPS, runCommandUserData, runnerUserData } from '../../lambda/deploy/release';
import type { EnvironmentHandle } from '../../lib/cli/environment';
import { readRunResult } from '../../lib/cli/run-instance';
import type { DeployState } from '../../lambda/deploy/state';
import { REPORT_GRACE_SECONDS, readReport, tail, type AdvanceContext, type RunReport } from '../../lambda/deploy/step';
import { prepareRelease, type PreparedRelease } from '../../lib/cli/artifact';
import { parameterNames } from '../../lib/names';
import { FakeAwsError } from '../../lib/simulation/errors';
import { fakeDeployClients } from '../../lib/simulation/transport';
import { ManualClock, WIRE_APP, WIRE_ENV, advanceContext, deployEnvironment, deployState, stepOf } from '../wire/fixtures';
import { describeDenial } from '../support/iam/evaluator';
import { instanceIam, type InstanceRole } from '../support/iam/instance-iam';
import {
  AGENT_CTL, BAKE, BOOT, INSTANCE_DIR, IS_ROOT, bakeStubs, describeWith, hasCommand, run, runOrThrow, scratchRoot, startImds,
  tempDir, uidIn, writeApp, writeDnfStub,
} from './support';

/**
 * Seam tests: the deploy step's REAL generated user data runs (bash, as root) against the
 * REAL instance scripts, and the reports those scripts put are read back by the deploy
 * step's REAL steps (`bake.waitBuilder`, `migrate.waitRunner`, through `readReport`).
 *
 *   deploy step                         instance
 *   builderUserData(state, ctx)  ──►    aws s3 cp <scripts zip>; unzip to /opt/herd/instance;
 *                                       herd-bake.sh --app --release --artifact --report
 *   bake.waitBuilder             ◄──    ssm put-parameter …/bake-runs/<id> {exitCode, logTail, processes}
 *   runnerUserData(app, env)     ──►    /opt/herd/bin/herd-boot --role release (installed by bake.sh)
 *   migrate.waitRunner           ◄──    ssm put-parameter …/release-runs/<id> {exitCode, logTail}
 *
 * The fake machine: `aws`, `shutdown`, `dnf`, `cloud-init`, `systemctl`, `logger` and the
 * CloudWatch agent's ctl are stubs first on PATH that log their calls (`dnf` also puts
 * the agent's ctl under its --installroot, as the package would). The `aws` stub
 * serves `s3 cp` from files under $STUB_DIR/s3/<bucket>/<key> (the scripts bucket holds a
 * zip of the real `instance/` directory, laid out like the CDK directory asset: the
 * scripts at the zip's root; the artifacts bucket holds the tarball `herd deploy` packs
 * with `prepareRelease`), answers the runner's parameters and secrets, and records puts.
 * The deploy step's SSM and EC2 clients are fakes over the same records: GetParameter
 * returns what the instance put; DescribeInstances says `stopped` once the instance
 * called `shutdown -h now`. The metadata service is `startImds` (IMDSv2 only). curl, jq,
 * unzip, tar, useradd and setpriv are real.
 *
 * The user data spells the instance's absolute paths; `confine` (below) rewrites exactly
 * those to a scratch root, test-only, and refuses to run a script that still names one.
 */

const BUILDER_ID = 'i-0b0b0b0b0b0b0b0b0';
const RUNNER_ID = 'i-0c0c0c0c0c0c0c0c0';
const IMDS_TOKEN = 'imds-token-seams';
const REAL_IMDS = 'http://169.254.169.254';
/** The database master's secret (the owner's login: migrations) and the application's (web and worker). */
const DB_SECRET_ARN = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:shop/staging/db-AbCdEf';
const DB_PASSWORD = 'seam-s3cret';
const APP_DB_SECRET_ARN = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:shop/staging/db-app-GhIjKl';

const AWS_STUB = `#!/usr/bin/env bash
# Fake aws CLI (test/instance/seams.test.ts): logs every call as JSON {region, argv};
# S3 objects are files under $STUB_DIR/s3/<bucket>/<key>; parameters.json ({name: value})
# and secrets.json ({arn: string}) answer the runner; puts go to puts.jsonl.
set -euo pipefail
argv="$(for a in "$@"; do printf '%s' "$a" | jq -Rs .; done | jq -sc .)"
jq -nc --arg region "\${AWS_DEFAULT_REGION:-}" --argjson argv "$argv" '{region: $region, argv: $argv}' >>"$STUB_DIR/aws.jsonl"
arg() { local want="$1"; shift; while [[ $# -gt 0 ]]; do [[ $1 == "$want" ]] && { printf '%s' "$2"; return; }; shift; done; return 1; }
case "$1 $2" in
  "s3 cp")
    object="$STUB_DIR/s3/\${3#s3://}"
    if [[ ! -f $object ]]; then
      echo "fatal error: An error occurred (404) when calling the HeadObject operation: Key \\"\${3#s3://*/}\\" does not exist" >&2
      exit 1
    fi
    cp "$object" "$4" ;;
  "ssm get-parameters-by-path")
    jq --arg p "$(arg --path "$@")" '{Parameters: [to_entries[] | select(.key | startswith($p))
      | {Name: .key, Type: "SecureString", Value: .value}]}' "$STUB_DIR/parameters.json" ;;
  "secretsmanager get-secret-value")
    id="$(arg --secret-id "$@")"
    jq -e --arg id "$id" 'has($id)' "$STUB_DIR/secrets.json" >/dev/null
    jq --arg id "$id" '{ARN: $id, Name: "x", SecretString: .[$id]}' "$STUB_DIR/secrets.json" ;;
  "ssm put-parameter")
    jq -nc --arg name "$(arg --name "$@")" --arg value "$(arg --value "$@")" --arg type "$(arg --type "$@")" \\
      '{name: $name, type: $type, value: $value}' >>"$STUB_DIR/puts.jsonl"
    echo '{"Version": 1, "Tier": "Standard"}' ;;
  *) echo "aws stub: unexpected call: $*" >&2; exit 2 ;;
esac
`;

function logStub(name: string): string {
  return `#!/usr/bin/env bash\nprintf '%s\\n' "$*" >>"$STUB_DIR/${name}.log"\n`;
}

const STUBS = ['shutdown', 'cloud-init', 'systemctl', 'logger', 'amazon-cloudwatch-agent-ctl'];

/** The app: three processes; `release:` fails with exit 3 and a message when RELEASE_FAIL is set. */
const PROCFILE = [
  'web: python3 -m http.server $PORT',
  'worker: sleep infinity',
  'release: echo "migrating $HERD_RELEASE on $DATABASE_HOST as uid $(id -u)"; if [ -n "${RELEASE_FAIL:-}" ]; then echo "relation \\"users\\" does not exist" >&2; exit 3; fi',
  '',
].join('\n');
const PROCESSES = ['web', 'worker', 'release'];

/** The runner's environment `staging`: one plain setting, one secret reference. */
const PARAMETERS = {
  '/herd/shop/staging/env/DATABASE_HOST': 'db.staging.internal',
  '/herd/shop/staging/secret-env/DATABASE_PASSWORD': `${APP_DB_SECRET_ARN}#password`,
  '/herd/shop/staging/secret-env-owner/DATABASE_PASSWORD': `${DB_SECRET_ARN}#password`,
};
/** A secret `herd config staging set --secret STRIPE_API_KEY` made (its name is `configSecretName`). */
const CONFIG_SECRET_ARN = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:herd/shop/staging/config/STRIPE_API_KEY-AbCdEf';
const CONFIG_SECRET_VALUE = 'sk_test_from_herd_config';
const SECRETS = {
  [DB_SECRET_ARN]: JSON.stringify({ username: 'shop', password: DB_PASSWORD }),
  [APP_DB_SECRET_ARN]: JSON.stringify({ username: 'shop_app', password: 'seam-app-s3cret' }),
  [CONFIG_SECRET_ARN]: CONFIG_SECRET_VALUE,
};

/** Shell single-quoting. */
function q(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

/**
 * TEST-ONLY confinement of generated user data (production user data is not changed for
 * tests). It rewrites exactly:
 *   - `http://169.254.169.254` → the IMDSv2 stand-in (`startImds`);
 *   - `/opt/herd/…` and `/tmp/…` → `<root>/opt/herd/…`, `<root>/tmp/…`;
 *   - the final `exec …` line gets `--root <root>`: the scratch-root option herd-bake.sh
 *     (passed to bake.sh) and herd-boot document;
 * then throws if any absolute system path or the real metadata address is left, so a new
 * path in the user data fails this test instead of touching the host.
 */
function confine(userData: string, root: string, imdsUrl: string): string {
  const execLines = userData.split('\n').filter((l) => l.startsWith('exec '));
  if (execLines.length !== 1) throw new Error(`expected one exec line in the user data:\n${userData}`);
  const confined = userData
    .split(REAL_IMDS).join(imdsUrl)
    .replace(/(?<=[\s'"=])\/(opt\/herd|tmp)\//g, `${root}/$1/`)
    .split('\n').map((l) => (l.startsWith('exec ') ? `${l} --root ${q(root)}` : l)).join('\n');
  const escaped = confined.split(root).join('<root>');
  const leak = /(?<=[\s'"=(])\/(opt|tmp|srv|etc|var|usr|home|root|run|dev|boot|mnt|lib|lib64|bin|sbin)\b/.exec(escaped);
  if (leak || escaped.includes('169.254.169.254')) {
    throw new Error(`user data still names a host path (${leak?.[0] ?? REAL_IMDS}); extend confine():\n${escaped}`);
  }
  return confined;
}

interface AwsCall {
  readonly region: string;
  readonly argv: readonly string[];
}

interface Put {
  readonly name: string;
  readonly type: string;
  readonly value: string;
}

/** One fake machine: its root, stub bin directory and the records its stubs keep. */
class Machine {
  readonly stubDir = tempDir('stubs');
  readonly console = path.join(this.stubDir, 'console');
  readonly tmp = tempDir('tmp');

  constructor(readonly root: string) {
    const bin = path.join(this.stubDir, 'bin');
    mkdirSync(bin);
    writeFileSync(path.join(bin, 'aws'), AWS_STUB, { mode: 0o755 });
    for (const name of STUBS) writeFileSync(path.join(bin, name), logStub(name), { mode: 0o755 });
    writeDnfStub(bin);
    writeFileSync(path.join(this.stubDir, 'parameters.json'), JSON.stringify(PARAMETERS));
    writeFileSync(path.join(this.stubDir, 'secrets.json'), JSON.stringify(SECRETS));
    writeFileSync(this.console, '');
    mkdirSync(path.join(root, 'tmp'), { recursive: true, mode: 0o1777 });
  }

  /** Puts a local file at s3://<bucket>/<key>. */
  object(bucket: string, key: string, file: string): void {
    const target = path.join(this.stubDir, 's3', bucket, key);
    mkdirSync(path.dirname(target), { recursive: true });
    runOrThrow('cp', [file, target]);
  }

  /** Runs confined user data as cloud-init would: bash, as root, with a bare environment. */
  async boot(userData: string, imdsUrl: string) {
    const script = path.join(this.stubDir, 'user-data');
    writeFileSync(script, confine(userData, this.root, imdsUrl), { mode: 0o700 });
    return run('/bin/bash', [script], {
      env: {
        PATH: `${path.join(this.stubDir, 'bin')}:${process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin'}`,
        STUB_DIR: this.stubDir,
        HERD_IMDS_URL: imdsUrl, // herd-bake.sh's and herd-boot's documented test hook
        HERD_CONSOLE: this.console,
        TMPDIR: this.tmp,
      },
    });
  }

  calls(stub: string): string[] {
    const file = path.join(this.stubDir, `${stub}.log`);
    return existsSync(file) ? readFileSync(file, 'utf8').split('\n').filter((l) => l !== '') : [];
  }

  awsCalls(): AwsCall[] {
    return this.jsonLines<AwsCall>('aws.jsonl');
  }

  puts(): Put[] {
    return this.jsonLines<Put>('puts.jsonl');
  }

  /** EC2's view of the instance: stopped once it powered itself off. */
  state(): string {
    return this.calls('shutdown').some((c) => c.startsWith('-h now')) ? 'stopped' : 'running';
  }

  private jsonLines<T>(name: string): T[] {
    const file = path.join(this.stubDir, name);
    return existsSync(file) ? readFileSync(file, 'utf8').split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as T) : [];
  }
}

/**
 * The deploy step's clients (real SDK clients) over one machine: SSM GetParameter answers what
 * the instance put, EC2 DescribeInstances the machine's power state; any other call fails the
 * test.
 */
function clientsOver(machine: Machine, instanceId: string): DeployClients {
  return fakeDeployClients({
    async answer(service, api, input) {
      if (service === 'ssm' && api === 'GetParameter') {
        const put = machine.puts().reverse().find((p) => p.name === input.Name);
        if (!put) throw new FakeAwsError('ParameterNotFound', `parameter ${String(input.Name ?? '')} not found`, 400);
        return { Parameter: { Name: put.name, Type: put.type, Value: put.value, Version: 1 } };
      }
      if (service === 'ec2' && api === 'DescribeInstances') {
        const ids = input.InstanceIds as string[] | undefined;
        if (ids?.[0] !== instanceId) throw new Error(`DescribeInstances of ${JSON.stringify(input)}`);
        return { Reservations: [{ Instances: [{ InstanceId: instanceId, State: { Name: machine.state() } }] }] };
      }
      throw new Error(`unexpected AWS call ${service}:${api}`);
    },
  });
}

/** What a deploy step throws (or undefined). */
async function failureOf(promise: Promise<unknown>): Promise<Error | undefined> {
  try {
    await promise;
    return undefined;
  } catch (err) {
    return err as Error;
  }
}

describeWith({
  'root (bake creates users)': IS_ROOT, 'jq': hasCommand('jq'), 'curl': hasCommand('curl'), 'useradd': hasCommand('useradd'),
  'setpriv': hasCommand('setpriv'), 'zip': hasCommand('zip'), 'unzip': hasCommand('unzip'), 'tar': hasCommand('tar'),
}, 'seams: deploy step user data ⇄ instance scripts ⇄ deploy step report parsers', () => {
  // The instance roles of the synthesized stack; the scripts zip is the object the stack names (its asset hash).
  const iam = instanceIam(deployEnvironment(), { databaseSecretArn: DB_SECRET_ARN, appDatabaseSecretArn: APP_DB_SECRET_ARN });
  const fixture = deployEnvironment();
  const env = { ...fixture, instances: { ...fixture.instances, scripts: { ...fixture.instances.scripts, key: iam.scriptsKey } } };
  /** The denials of `calls` (aws argv) made as `role`, as test failures read them. */
  const denied = async (role: InstanceRole, calls: readonly AwsCall[]) => (await iam.check(role, calls.map((c) => c.argv)).denials()).map(describeDenial);
  const names = parameterNames(WIRE_APP, WIRE_ENV);
  let builderImds: { url: string; close(): Promise<void> };
  let runnerImds: { url: string; close(): Promise<void> };
  let instanceZip: string;
  let appDir: string;
  let prepared: PreparedRelease;
  const cleanups: (() => void)[] = [];

  beforeAll(async () => {
    builderImds = await startImds(BUILDER_ID, IMDS_TOKEN);
    runnerImds = await startImds(RUNNER_ID, IMDS_TOKEN);
    // The CDK directory asset of `instance/`: its files at the zip's root.
    instanceZip = path.join(tempDir('asset'), 'instance.zip');
    runOrThrow('zip', ['-q', '-r', '-X', instanceZip, '.'], { cwd: INSTANCE_DIR });
    // The artifact, as `herd deploy` packs it.
    appDir = writeApp({ Procfile: PROCFILE, 'app.py': 'print("shop")\n' });
    prepared = await prepareRelease(appDir, 'v1');
    cleanups.push(() => prepared.cleanup());
  });

  afterAll(async () => {
    for (const c of cleanups) c();
    await builderImds.close();
    await runnerImds.close();
  });

  /** A deploy of `release` as the deploy step starts it, with clients over `machine`. */
  function deployOn(machine: Machine, instanceId: string, release: string): { ctx: AdvanceContext; state: DeployState } {
    const ctx = advanceContext(clientsOver(machine, instanceId), env, new ManualClock());
    return { ctx, state: deployState(ctx, { deployId: 'deploy-seams-0001', release }) };
  }

  /** Launches a builder for `release` whose artifact object holds `tarball`. */
  async function builder(release: string, tarball: string) {
    const machine = new Machine(scratchRoot());
    const { ctx, state } = deployOn(machine, BUILDER_ID, release);
    machine.object(env.instances.scripts.bucket, env.instances.scripts.key, instanceZip);
    machine.object(env.artifacts.bucket, state.artifactKey, tarball);
    const userData = builderUserData(state, ctx);
    const result = await machine.boot(userData, builderImds.url);
    state.builderId = BUILDER_ID;
    return { machine, ctx, state, userData, result };
  }

  /** Launches a migration runner from an image whose root is a copy of `imageRoot`. */
  async function runner(imageRoot: string, release: string, parameters: Record<string, string> = PARAMETERS) {
    const root = path.join(tempDir('runner'), 'root');
    runOrThrow('cp', ['-a', imageRoot, root]);
    const machine = new Machine(root);
    writeFileSync(path.join(machine.stubDir, 'parameters.json'), JSON.stringify(parameters));
    const { ctx, state } = deployOn(machine, RUNNER_ID, release);
    const userData = runnerUserData(state.app, state.env);
    const result = await machine.boot(userData, runnerImds.url);
    state.migration = { runnerId: RUNNER_ID };
    return { machine, ctx, state, userData, result };
  }

  test('the generated user data is shellcheck-clean bash', async () => {
    if (!hasCommand('shellcheck')) return; // shellcheck.test.ts reports a missing shellcheck
    const { ctx, state } = deployOn(new Machine(scratchRoot()), BUILDER_ID, prepared.release);
    for (const userData of [builderUserData(state, ctx), runnerUserData(state.app, state.env), runCommandUserData(state.app, state.env, { command: "python manage.py shell -c 'print(1)'", runAs: 'web', timeoutSeconds: 3600, logRetentionDays: 14 })]) {
      const result = await run('shellcheck', ['--shell=bash', '--severity=style', '-'], { input: userData });
      expect(result.stdout).toBe('');
      expect(result.code).toBe(0);
    }
  });

  describe('builder: builderUserData → herd-bake.sh → bake-runs report → bake.waitBuilder', () => {
    let b: Awaited<ReturnType<typeof builder>>;
    let reportName: string;

    beforeAll(async () => {
      b = await builder(prepared.release, prepared.tarball ?? '');
      reportName = `${names.bakeRunsPrefix}${BUILDER_ID}`;
    });

    test('the artifact key the CLI uploads is the one the builder is told to read', () => {
      expect(b.state.artifactKey).toBe(prepared.key);
    });

    test('the user data fetches the scripts zip and unzips it to /opt/herd/instance (the scripts at the zip root)', () => {
      expect(b.result.stderr).toContain(`herd-bake: baked shop release ${prepared.release} (processes: ${PROCESSES.join(' ')})\n`);
      expect(b.result.code).toBe(0);
      expect(b.machine.awsCalls()[0]).toEqual({
        region: 'eu-west-1',
        argv: ['s3', 'cp', `s3://${env.instances.scripts.bucket}/${env.instances.scripts.key}`, `${b.machine.root}/tmp/herd-instance.zip`],
      });
      const unzipped = path.join(b.machine.root, 'opt', 'herd', 'instance');
      expect(readdirSync(unzipped).sort()).toEqual(readdirSync(INSTANCE_DIR).sort());
      for (const file of readdirSync(INSTANCE_DIR)) {
        expect(readFileSync(path.join(unzipped, file), 'utf8')).toBe(readFileSync(path.join(INSTANCE_DIR, file), 'utf8'));
      }
      expect(readdirSync(path.join(b.machine.root, 'tmp'))).toEqual([]);
      // unzip and jq are present: the only dnf call is bake.sh's, the agent into the image.
      expect(b.machine.calls('dnf')).toEqual([`--installroot ${b.machine.root} install -y amazon-cloudwatch-agent`]);
      expect(existsSync(path.join(b.machine.root, AGENT_CTL))).toBe(true);
    });

    test('herd-bake.sh got the app, release, artifact and report prefix, and baked into the root', () => {
      const [, download, put, ...rest] = b.machine.awsCalls();
      expect(download?.argv).toEqual([
        's3', 'cp', `s3://${env.artifacts.bucket}/${prepared.key}`,
        expect.stringMatching(new RegExp(`^${b.machine.tmp}/herd-bake\\.[A-Za-z0-9]+/artifact\\.tar\\.gz$`)),
        '--region', 'eu-west-1', '--only-show-errors',
      ]);
      expect(put?.argv.slice(0, 6)).toEqual(['ssm', 'put-parameter', '--name', reportName, '--type', 'String']);
      expect(rest).toEqual([]);
      expect(readlinkSync(path.join(b.machine.root, 'srv', 'shop', 'current'))).toBe(`releases/${prepared.release}`);
      expect(readFileSync(path.join(b.machine.root, 'etc', 'herd', 'release'), 'utf8')).toContain(`\nHERD_RELEASE=${prepared.release}\n`);
      expect(readFileSync(path.join(b.machine.root, 'opt', 'herd', 'bin', 'herd-boot'), 'utf8')).toBe(readFileSync(BOOT, 'utf8'));
      expect(readdirSync(b.machine.tmp)).toEqual([]);
    });

    test('IAM: the builder role allows every aws call the builder made; a runner could not have reported its bake', async () => {
      expect(await denied('builder', b.machine.awsCalls())).toEqual([]);
      const report = b.machine.awsCalls().filter((c) => c.argv[1] === 'put-parameter');
      expect(await denied('runner', report)).toEqual([expect.stringContaining(`runner (arn:aws:iam::123456789012:role/DeployStepRunnerRole`)]);
      expect((await denied('runner', report))[0]).toContain(`is denied ssm:PutParameter on arn:aws:ssm:eu-west-1:123456789012:parameter${reportName} [ImplicitlyDenied]`);
    });

    test('the report it put is read by the deploy step as exit 0 with the Procfile processes', async () => {
      expect(b.machine.puts().map((p) => [p.name, p.type])).toEqual([[reportName, 'String']]);
      expect(b.machine.puts()[0]?.value.length).toBeLessThanOrEqual(4096);
      const report = await readReport(b.ctx, reportName);
      expect(report).toEqual<RunReport>({ exitCode: 0, logTail: expect.stringContaining(`herd bake: installed shop release ${prepared.release}`), processes: PROCESSES });
    });

    test('powered off (after the watchdog was armed), tidied; bake.waitBuilder goes on to create the image', async () => {
      const watchdog = env.deploy.timeouts.bakeMinutes + 5;
      expect(b.machine.calls('shutdown')).toEqual([`-h +${watchdog} herd builder watchdog`, '-h now']);
      expect(b.machine.calls('cloud-init')).toEqual(['clean --logs']);
      await expect(stepOf(BAKE_STEPS, 'bake.waitBuilder')(b.state, b.ctx)).resolves.toEqual({ goto: 'bake.createImage' });
      expect(b.state.image).toEqual({ imageId: '', reused: false, processes: PROCESSES });
    });

    test('the image it baked runs a migration runner that reports success', async () => {
      const r = await runner(b.machine.root, prepared.release);
      expect(r.result.code).toBe(0);
      await expect(stepOf(RELEASE_STEPS, 'migrate.waitRunner')(r.state, r.ctx)).resolves.toEqual({ goto: 'migrate.terminateRunner' });
      expect(r.machine.calls('shutdown')).toEqual(['-h now']);
    });
  });

  test('builder, failing: an artifact whose content is not the release fails the deploy with the mismatch', async () => {
    const other = await prepareRelease(writeApp({ Procfile: PROCFILE, 'app.py': 'print("not this release")\n' }), 'v1');
    cleanups.push(() => other.cleanup());
    expect(other.release).not.toBe(prepared.release);
    const b = await builder(prepared.release, other.tarball ?? '');
    const message = `herd-bake: artifact s3://${env.artifacts.bucket}/${prepared.key} has release id ${other.release}, ` +
      `expected ${prepared.release}: upload the artifact that matches the release`;
    expect(b.result.code).toBe(4);

    const report = await readReport(b.ctx, `${names.bakeRunsPrefix}${BUILDER_ID}`);
    expect(report?.exitCode).toBe(4);
    expect(report?.processes).toBeUndefined();
    expect(report?.logTail.endsWith(`\n${message}\n`)).toBe(true);

    const failure = await failureOf(stepOf(BAKE_STEPS, 'bake.waitBuilder')(b.state, b.ctx));
    expect(failure).toBeInstanceOf(DeployFailure);
    expect(failure?.message).toBe(`bake failed on builder ${BUILDER_ID} (exit 4): ${tail(report?.logTail ?? '')}`);
    expect(failure?.message.endsWith(`\n${message}`)).toBe(true);
    expect(b.machine.calls('shutdown')).toEqual([`-h +${env.deploy.timeouts.bakeMinutes + 5} herd builder watchdog`, '-h now']);
    expect(b.machine.calls('cloud-init')).toEqual([]);
  });

  test('builder, setup failing (no scripts zip): the ERR trap powers it off and the deploy step fails once the report could have shown', async () => {
    const machine = new Machine(scratchRoot());
    const { ctx, state } = deployOn(machine, BUILDER_ID, prepared.release);
    machine.object(env.artifacts.bucket, state.artifactKey, prepared.tarball ?? '');
    const result = await machine.boot(builderUserData(state, ctx), builderImds.url);
    state.builderId = BUILDER_ID;
    expect(result.code).not.toBe(0);
    expect(result.stderr).toContain('An error occurred (404) when calling the HeadObject operation');
    expect(machine.calls('shutdown')).toEqual([`-h +${env.deploy.timeouts.bakeMinutes + 5} herd builder watchdog`, '-h now herd builder: setup failed']);
    expect(machine.puts()).toEqual([]);
    // A report written just before the power-off may not be readable yet: one more look, a minute on.
    expect(await stepOf(BAKE_STEPS, 'bake.waitBuilder')(state, ctx)).toEqual({ poll: 10 });
    (ctx.clock as ManualClock).advance(REPORT_GRACE_SECONDS);
    const failure = await failureOf(stepOf(BAKE_STEPS, 'bake.waitBuilder')(state, ctx));
    expect(failure).toBeInstanceOf(DeployFailure);
    expect(failure?.message).toBe(`builder ${BUILDER_ID} is stopped and never reported its bake`);
  });

  describe('runner: runnerUserData → herd-boot --role release → release-runs report → migrate.waitRunner', () => {
    let imageRoot: string;
    let release: string;

    beforeAll(async () => {
      imageRoot = scratchRoot();
      const baked = await run(BAKE, ['--app', WIRE_APP, '--artifact', appDir, '--label', 'v1', '--root', imageRoot],
        { env: bakeStubs().env });
      if (baked.code !== 0) throw new Error(baked.stderr);
      release = baked.stdout.trim();
    });

    test('the image bake.sh baked holds the release the CLI computed', () => {
      expect(release).toBe(prepared.release);
    });

    test('a release command that succeeds: exit 0 and its output, read by the deploy step; powered off', async () => {
      const r = await runner(imageRoot, release);
      expect(r.result.code).toBe(0);
      const reportName = `${names.releaseRunsPrefix}${RUNNER_ID}`;
      expect(r.machine.awsCalls().map((c) => c.argv.slice(0, 4))).toEqual([
        ['ssm', 'get-parameters-by-path', '--path', names.envPrefix],
        ['ssm', 'get-parameters-by-path', '--path', names.secretEnvPrefix],
        ['ssm', 'get-parameters-by-path', '--path', names.secretEnvOwnerPrefix],
        ['secretsmanager', 'get-secret-value', '--secret-id', DB_SECRET_ARN],
        ['ssm', 'put-parameter', '--name', reportName],
      ]);
      expect(r.machine.awsCalls().every((c) => c.argv.includes('--region') && c.argv[c.argv.indexOf('--region') + 1] === 'eu-west-1')).toBe(true);
      const uid = uidIn(r.machine.root, WIRE_APP);
      expect(await readReport(r.ctx, reportName)).toEqual<RunReport>({
        exitCode: 0,
        logTail: `migrating ${release} on db.staging.internal as uid ${uid}\n`,
      });
      await expect(stepOf(RELEASE_STEPS, 'migrate.waitRunner')(r.state, r.ctx)).resolves.toEqual({ goto: 'migrate.terminateRunner' });
      expect(r.state.migration?.exitCode).toBe(0);
      expect(r.machine.calls('shutdown')).toEqual(['-h now']);
      expect(r.machine.calls('systemctl')).toEqual([]);
      // IAM: the runner role allows every call; web and worker servers read the same
      // parameters but neither the master secret nor a runner's report, nor may the builder.
      expect(await denied('runner', r.machine.awsCalls())).toEqual([]);
      const boot = r.machine.awsCalls().filter((c) => c.argv[1] === 'get-parameters-by-path');
      const master = r.machine.awsCalls().filter((c) => c.argv[1] === 'get-secret-value');
      const report = r.machine.awsCalls().filter((c) => c.argv[1] === 'put-parameter');
      for (const role of ['web', 'worker'] as const) {
        expect([role, await denied(role, boot)]).toEqual([role, []]);
        expect([role, await denied(role, master)]).toEqual([role, [expect.stringContaining(`is denied secretsmanager:GetSecretValue on ${DB_SECRET_ARN}`)]]);
        // What their own boot reads instead: the application's login (`secret-env/`).
        const app = master.map((c) => ({ ...c, argv: c.argv.map((a) => (a === DB_SECRET_ARN ? APP_DB_SECRET_ARN : a)) }));
        expect([role, await denied(role, app)]).toEqual([role, []]);
        expect([role, await denied(role, report)]).toEqual([role, [expect.stringContaining(`is denied ssm:PutParameter on arn:aws:ssm:eu-west-1:123456789012:parameter${reportName}`)]]);
      }
      expect(await denied('builder', report)).toHaveLength(1);
    });

    test('a secret setting herd config wrote: boot reads its secret into the app\'s environment, as the runner, web and worker roles may', async () => {
      const r = await runner(imageRoot, release, { ...PARAMETERS, [`${names.secretEnvPrefix}STRIPE_API_KEY`]: CONFIG_SECRET_ARN });
      expect(r.result.code).toBe(0);
      const reads = r.machine.awsCalls().filter((c) => c.argv[1] === 'get-secret-value');
      expect(reads.map((c) => c.argv[3]).sort()).toEqual([CONFIG_SECRET_ARN, DB_SECRET_ARN].sort());
      const config = reads.filter((c) => c.argv[3] === CONFIG_SECRET_ARN);
      for (const role of ['runner', 'web', 'worker'] as const) expect([role, await denied(role, config)]).toEqual([role, []]);
      expect(await denied('builder', reads.filter((c) => c.argv[3] === CONFIG_SECRET_ARN))).toHaveLength(1);
      expect(readFileSync(path.join(r.machine.root, 'etc', 'herd', `${WIRE_APP}.env`), 'utf8')).toContain(`\nSTRIPE_API_KEY="${CONFIG_SECRET_VALUE}"\n`);
    });

    test('a release command that fails (exit 3): the deploy step fails with its exit code and output; powered off', async () => {
      const r = await runner(imageRoot, release, { ...PARAMETERS, '/herd/shop/staging/env/RELEASE_FAIL': '1' });
      expect(r.result.code).toBe(3);
      const uid = uidIn(r.machine.root, WIRE_APP);
      const logTail = `migrating ${release} on db.staging.internal as uid ${uid}\nrelation "users" does not exist\n`;
      expect(await readReport(r.ctx, `${names.releaseRunsPrefix}${RUNNER_ID}`)).toEqual<RunReport>({ exitCode: 3, logTail });
      const failure = await failureOf(stepOf(RELEASE_STEPS, 'migrate.waitRunner')(r.state, r.ctx));
      expect(failure).toBeInstanceOf(DeployFailure);
      expect(failure?.message).toBe(`migration failed on runner ${RUNNER_ID} (exit 3): ${logTail.trim()}`);
      expect(r.machine.calls('shutdown')).toEqual(['-h now']);
    });
  });
  describe('herd run: runCommandUserData → herd-boot --role run → run-results report → readRunResult', () => {
    test('the command runs with the role\'s environment; the CLI reads its exit code, output and line count; only the runner role may report', async () => {
      const imageRoot = scratchRoot();
      const baked = await run(BAKE, ['--app', WIRE_APP, '--artifact', appDir, '--label', 'v1', '--root', imageRoot], { env: bakeStubs().env });
      if (baked.code !== 0) throw new Error(baked.stderr);
      const machine = new Machine(imageRoot);
      const { ctx } = deployOn(machine, RUNNER_ID, baked.stdout.trim());
      const command = 'echo "as $HERD_ROLE on $DATABASE_HOST"; echo done; exit 4';
      const userData = runCommandUserData(WIRE_APP, WIRE_ENV, { command, runAs: 'worker', timeoutSeconds: 120 });
      const result = await machine.boot(userData, runnerImds.url);
      expect(result.code).toBe(4);
      const reportName = `${names.runResultsPrefix}${RUNNER_ID}`;
      expect(machine.awsCalls().map((c) => c.argv.slice(0, 4)).at(-1)).toEqual(['ssm', 'put-parameter', '--name', reportName]);
      const handle = { app: WIRE_APP, name: WIRE_ENV, context: ctx } as unknown as EnvironmentHandle;
      expect(await readRunResult(handle, RUNNER_ID)).toEqual({ exitCode: 4, logTail: 'as worker on db.staging.internal\ndone\n', lines: 2 });
      // The watchdog first, then herd-boot's own power-off.
      expect(machine.calls('shutdown')).toEqual(["-h +17 herd run watchdog", '-h now']);
      expect(await denied('runner', machine.awsCalls())).toEqual([]);
      const report = machine.awsCalls().filter((c) => c.argv[1] === 'put-parameter');
      expect(await denied('web', report)).toEqual([expect.stringContaining(`is denied ssm:PutParameter on arn:aws:ssm:eu-west-1:123456789012:parameter${reportName}`)]);
    }, 60_000);
  });
});
