import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'fs';
import * as path from 'path';
import {
  BAKE, IS_ROOT, bakeStubs, describeWith, hasCommand, run, runOrThrow, scratchRoot, tempDir, uidIn, writeApp,
  startImds,
} from './support';

/**
 * herd-boot runs against a baked scratch root (bake.sh ran with its dnf stub). Its
 * environment is faked: `aws`, `systemctl`, `shutdown`, `logger` and the CloudWatch
 * agent's ctl are stubs first on PATH that log their calls; the instance metadata service
 * is an HTTP server in this process that insists on IMDSv2 tokens; curl and jq are real.
 */

const INSTANCE_ID = 'i-0123456789abcdef0';
const IMDS_TOKEN = 'imds-token-42';
const CANARY_SECRET = 'canary-s3cret-7f3a9c';
const DB_SECRET_ARN = 'arn:aws:secretsmanager:eu-west-1:111122223333:secret:fixture/staging/db-AbCdEf';
const KEY_SECRET_ARN = 'arn:aws:secretsmanager:eu-west-1:111122223333:secret:fixture/staging/key-GhIjKl';
const TRICKY_VALUE = 'a "quoted" $HOME `tick` back\\slash\nsecond line';

const AWS_STUB = `#!/usr/bin/env bash
# Fake aws CLI: reads $STUB_DIR/parameters.json ({name: value}) and secrets.json ({arn: string}).
# Logs its arguments to aws.log and the retry settings it was given to aws-env.log.
# $STUB_DIR/throttle holds how many of the next calls AWS throttles (or "always"); with
# $STUB_DIR/throttle-only, only calls whose arguments contain that text are throttled.
set -euo pipefail
printf '%s\\n' "$*" >>"$STUB_DIR/aws.log"
printf 'AWS_RETRY_MODE=%s AWS_MAX_ATTEMPTS=%s\\n' "\${AWS_RETRY_MODE-<unset>}" "\${AWS_MAX_ATTEMPTS-<unset>}" >>"$STUB_DIR/aws-env.log"
if [[ -f $STUB_DIR/throttle ]] && { [[ ! -f $STUB_DIR/throttle-only ]] || [[ $* == *"$(cat "$STUB_DIR/throttle-only")"* ]]; }; then
  left="$(cat "$STUB_DIR/throttle")"
  if [[ $left == always ]] || ((left > 0)); then
    [[ $left == always ]] || echo $((left - 1)) >"$STUB_DIR/throttle"
    case "$1 $2" in
      "ssm get-parameters-by-path") op=GetParametersByPath ;;
      "secretsmanager get-secret-value") op=GetSecretValue ;;
      "ssm put-parameter") op=PutParameter ;;
      *) op=Unknown ;;
    esac
    echo "" >&2
    echo "An error occurred (ThrottlingException) when calling the $op operation (reached max retries: 9): Rate exceeded" >&2
    exit 254
  fi
fi
if [[ -f $STUB_DIR/aws-error ]]; then cat "$STUB_DIR/aws-error" >&2; exit 254; fi
arg() { local want="$1"; shift; while [[ $# -gt 0 ]]; do [[ $1 == "$want" ]] && { printf '%s' "$2"; return; }; shift; done; return 1; }
case "$1 $2" in
  "ssm get-parameters-by-path")
    jq --arg p "$(arg --path "$@")" '{Parameters: [to_entries[] | select(.key | startswith($p))
      | {Name: .key, Type: "SecureString", Value: .value}]}' "$STUB_DIR/parameters.json" ;;
  "secretsmanager get-secret-value")
    id="$(arg --secret-id "$@")"
    if ! jq -e --arg id "$id" 'has($id)' "$STUB_DIR/secrets.json" >/dev/null; then
      echo "An error occurred (ResourceNotFoundException) when calling the GetSecretValue operation: Secrets Manager can't find the specified secret." >&2
      exit 254
    fi
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

const FIXTURE_PROCFILE = [
  'web: python3 -m http.server $PORT',
  'worker: sleep infinity',
  'release: echo "migrating $HERD_RELEASE as uid $(id -u) in $PWD with $DATABASE_PASSWORD"; seq 1 ${RELEASE_LINES:-0}; exit ${RELEASE_EXIT:-0}',
  '',
].join('\n');

interface Fakes {
  readonly root: string;
  readonly stubDir: string;
  readonly console: string;
  readonly env: NodeJS.ProcessEnv;
}

describeWith({
  'root (bake creates users)': IS_ROOT, 'jq': hasCommand('jq'), 'curl': hasCommand('curl'),
  'setpriv': hasCommand('setpriv'), 'useradd': hasCommand('useradd'),
}, 'herd-boot (boot.sh)', () => {
  let imds: { url: string; close(): Promise<void> };
  let imdsUrl: string;
  let bakedRoot: string;
  let releaseId: string;
  let noWorkerRoot: string;

  beforeAll(async () => {
    imds = await startImds(INSTANCE_ID, IMDS_TOKEN);
    imdsUrl = imds.url;

    bakedRoot = scratchRoot();
    const app = writeApp({ Procfile: FIXTURE_PROCFILE });
    const baked = await run(BAKE, ['--app', 'fixture', '--artifact', app, '--label', 'v7', '--root', bakedRoot],
      { env: bakeStubs().env });
    if (baked.code !== 0) throw new Error(baked.stderr);
    releaseId = baked.stdout.trim();

    noWorkerRoot = scratchRoot();
    const webOnly = writeApp({ Procfile: 'web: python3 -m http.server $PORT\n' });
    const bakedWebOnly = await run(BAKE, ['--app', 'fixture', '--artifact', webOnly, '--root', noWorkerRoot],
      { env: bakeStubs().env });
    if (bakedWebOnly.code !== 0) throw new Error(bakedWebOnly.stderr);
  });

  afterAll(async () => {
    await imds.close();
  });

  /** A fresh copy of a baked root, stubs, and the configuration of environment `staging`. */
  function given(options: {
    parameters?: Record<string, string>;
    secrets?: Record<string, string>;
    awsError?: string;
    from?: string;
    withoutAgent?: boolean;
    /** How many of the next aws calls are throttled (ThrottlingException, exit 254), or always. */
    throttle?: number | 'always';
    /** Only aws calls whose arguments contain this text are throttled. */
    throttleOnly?: string;
    /** HERD_BOOT_RETRY_BASE_SECONDS for the boot. */
    retryBaseSeconds?: string;
    /** A `sleep` stub first on PATH that logs its argument to sleep.log and returns at once. */
    stubSleep?: boolean;
    /** More variables for the boot's environment. */
    extraEnv?: NodeJS.ProcessEnv;
  } = {}): Fakes {
    const root = path.join(tempDir('boot'), 'root');
    runOrThrow('cp', ['-a', options.from ?? bakedRoot, root]);
    const stubDir = tempDir('stubs');
    const bin = path.join(stubDir, 'bin');
    mkdirSync(bin);
    writeFileSync(path.join(bin, 'aws'), AWS_STUB, { mode: 0o755 });
    for (const name of ['systemctl', 'shutdown', 'logger', 'amazon-cloudwatch-agent-ctl']) {
      if (name === 'amazon-cloudwatch-agent-ctl' && options.withoutAgent === true) continue;
      writeFileSync(path.join(bin, name), logStub(name), { mode: 0o755 });
    }
    writeFileSync(path.join(stubDir, 'parameters.json'), JSON.stringify(options.parameters ?? {
      '/herd/fixture/staging/env/DATABASE_HOST': 'db.staging.internal',
      '/herd/fixture/staging/env/TRICKY': TRICKY_VALUE,
      '/herd/fixture/staging/secret-env/DATABASE_PASSWORD': `${DB_SECRET_ARN}#password`,
      '/herd/fixture/staging/secret-env/DJANGO_SECRET_KEY': KEY_SECRET_ARN,
      '/herd/fixture/other/env/DATABASE_HOST': 'db.other.internal',
    }));
    writeFileSync(path.join(stubDir, 'secrets.json'), JSON.stringify(options.secrets ?? {
      [DB_SECRET_ARN]: JSON.stringify({ username: 'fixture', password: CANARY_SECRET }),
      [KEY_SECRET_ARN]: 'django-key-$ecret',
    }));
    if (options.awsError !== undefined) writeFileSync(path.join(stubDir, 'aws-error'), options.awsError);
    if (options.throttle !== undefined) writeFileSync(path.join(stubDir, 'throttle'), `${options.throttle}\n`);
    if (options.throttleOnly !== undefined) writeFileSync(path.join(stubDir, 'throttle-only'), options.throttleOnly);
    if (options.stubSleep === true) writeFileSync(path.join(bin, 'sleep'), logStub('sleep'), { mode: 0o755 });
    const consoleFile = path.join(stubDir, 'console');
    writeFileSync(consoleFile, '');
    return {
      root,
      stubDir,
      console: consoleFile,
      env: {
        PATH: `${bin}:${process.env.PATH}`,
        STUB_DIR: stubDir,
        HERD_IMDS_URL: imdsUrl,
        HERD_CONSOLE: consoleFile,
        ...(options.retryBaseSeconds === undefined ? {} : { HERD_BOOT_RETRY_BASE_SECONDS: options.retryBaseSeconds }),
        ...options.extraEnv,
      },
    };
  }

  function boot(fakes: Fakes, role: string, extra: string[] = ['--region', 'eu-west-1']) {
    return run(path.join(fakes.root, 'opt', 'herd', 'bin', 'herd-boot'),
      ['--app', 'fixture', '--env', 'staging', '--role', role, '--root', fakes.root, ...extra], { env: fakes.env });
  }

  function calls(fakes: Fakes, stub: string): string[] {
    const file = path.join(fakes.stubDir, `${stub}.log`);
    return existsSync(file) ? readFileSync(file, 'utf8').split('\n').filter((l) => l !== '') : [];
  }

  function bootLogOf(fakes: Fakes): string {
    return path.join(fakes.root, 'var', 'log', 'herd', 'fixture', 'boot.log');
  }

  function agentConfigOf(fakes: Fakes) {
    return JSON.parse(readFileSync(path.join(fakes.root, 'etc', 'herd', 'fixture.cloudwatch-agent.json'), 'utf8'));
  }

  /** The rendered collect_list for environment `staging` of the fixture app (web, worker, release). */
  function renderedCollectList(retention: number) {
    const entry = (file: string, group: string, stream: string) => ({
      file_path: file,
      log_group_name: `/herd/fixture/staging/${group}`,
      log_stream_name: stream,
      timezone: 'UTC',
      retention_in_days: retention,
    });
    return [
      ...['web', 'worker', 'release'].map((p) => entry(`/var/log/herd/fixture/${p}.log`, p, '{instance_id}')),
      entry('/var/log/herd/fixture/boot.log', 'boot', '{instance_id}'),
      entry('/var/log/cloud-init-output.log', 'boot', '{instance_id}-cloud-init'),
    ];
  }

  function puts(fakes: Fakes): Array<{ name: string; type: string; value: string }> {
    const file = path.join(fakes.stubDir, 'puts.jsonl');
    return existsSync(file)
      ? readFileSync(file, 'utf8').split('\n').filter((l) => l !== '').map((l) => JSON.parse(l))
      : [];
  }

  /** What a process started with the env file sees (bash reads it as systemd does). */
  function sourced(envFile: string, name: string): string {
    return runOrThrow('env', ['-i', '/bin/bash', '-c', 'set -a; . "$1"; printf "%s" "${!2}"', '_', envFile, name]);
  }

  function expectFailedLoudly(fakes: Fakes, result: { code: number | null; stderr: string }, message: string): void {
    const line = `herd-boot: ERROR: ${message}`;
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(`${line}\n`);
    expect(readFileSync(fakes.console, 'utf8')).toContain(`${line}\n`);
    expect(calls(fakes, 'logger')).toContain(`-t herd-boot -p user.err -- ${line}`);
    expect(calls(fakes, 'systemctl')).toEqual([]);
    expect(readdirSync(path.join(fakes.root, 'etc', 'herd')).sort()).toEqual(['release']);
    expect(readFileSync(bootLogOf(fakes), 'utf8')).toContain(`${line}\n`);
  }

  describe('role web', () => {
    let fakes: Fakes;
    let result: { code: number | null; stdout: string; stderr: string };
    let envFile: string;

    beforeAll(async () => {
      fakes = given();
      result = await boot(fakes, 'web');
      envFile = path.join(fakes.root, 'etc', 'herd', 'fixture.env');
    });

    test('succeeds and starts only the web unit', () => {
      expect(result.stderr).toContain('herd-boot: started fixture-web.service\n');
      expect(result.code).toBe(0);
      expect(calls(fakes, 'systemctl')).toEqual(['enable --now fixture-web.service']);
      expect(calls(fakes, 'shutdown')).toEqual([]);
    });

    test('reads the environment\'s parameters with decryption, through the region given', () => {
      expect(calls(fakes, 'aws')).toEqual([
        'ssm get-parameters-by-path --path /herd/fixture/staging/env/ --recursive --with-decryption --region eu-west-1 --output json',
        'ssm get-parameters-by-path --path /herd/fixture/staging/secret-env/ --recursive --with-decryption --region eu-west-1 --output json',
        `secretsmanager get-secret-value --secret-id ${DB_SECRET_ARN} --region eu-west-1 --output json`,
        `secretsmanager get-secret-value --secret-id ${KEY_SECRET_ARN} --region eu-west-1 --output json`,
      ]);
    });

    test('renders the env file: root-owned, mode 0600, exact content', () => {
      const stat = statSync(envFile);
      expect(stat.mode & 0o777).toBe(0o600);
      expect(stat.uid).toBe(0);
      expect(readFileSync(envFile, 'utf8')).toBe([
        '# Rendered by herd-boot from /herd/fixture/staging; do not edit.',
        'HERD_APP=fixture',
        'HERD_ENV=staging',
        'HERD_ROLE=web',
        `HERD_RELEASE=${releaseId}`,
        `HERD_INSTANCE_ID=${INSTANCE_ID}`,
        'DATABASE_HOST="db.staging.internal"',
        'TRICKY="a \\"quoted\\" \\$HOME \\`tick\\` back\\\\slash\nsecond line"',
        `DATABASE_PASSWORD="${CANARY_SECRET}"`,
        'DJANGO_SECRET_KEY="django-key-\\$ecret"',
        'PORT=8000',
        '',
      ].join('\n'));
      expect(readdirSync(path.join(fakes.root, 'etc', 'herd')).sort())
        .toEqual(['fixture.cloudwatch-agent.json', 'fixture.env', 'release']);
    });

    test('values survive the quoting exactly', () => {
      expect(sourced(envFile, 'TRICKY')).toBe(TRICKY_VALUE);
      expect(sourced(envFile, 'DJANGO_SECRET_KEY')).toBe('django-key-$ecret');
    });

    test('renders the log shipping config for the environment, retention 14 days by default, and loads it', () => {
      const file = path.join(fakes.root, 'etc', 'herd', 'fixture.cloudwatch-agent.json');
      expect(readFileSync(file, 'utf8')).not.toContain('@HERD_');
      expect(statSync(file).mode & 0o777).toBe(0o644);
      expect(agentConfigOf(fakes)).toEqual({
        logs: { logs_collected: { files: { collect_list: renderedCollectList(14) } } },
      });
      expect(calls(fakes, 'amazon-cloudwatch-agent-ctl'))
        .toEqual(['-a fetch-config -m ec2 -s -c file:/etc/herd/fixture.cloudwatch-agent.json']);
    });

    test('appends every message it printed to boot.log (root, 0640), and no secret', () => {
      const bootLog = readFileSync(bootLogOf(fakes), 'utf8');
      expect(bootLog).toBe(result.stderr);
      expect(bootLog).toContain(`herd-boot: rendered ${envFile} for fixture/staging (release ${releaseId}, role web)\n`);
      expect(bootLog.endsWith('herd-boot: started fixture-web.service\n')).toBe(true);
      expect(bootLog).not.toContain(CANARY_SECRET);
      expect(bootLog).not.toContain('django-key');
      const stat = statSync(bootLogOf(fakes));
      expect(stat.mode & 0o777).toBe(0o640);
      expect(stat.uid).toBe(0);
    });

    test('a second boot renders the same file, starts the same unit, appends to boot.log', async () => {
      const before = readFileSync(envFile, 'utf8');
      const again = await boot(fakes, 'web');
      expect(again.code).toBe(0);
      expect(readFileSync(envFile, 'utf8')).toBe(before);
      expect(calls(fakes, 'systemctl')).toEqual(['enable --now fixture-web.service', 'enable --now fixture-web.service']);
      expect(readFileSync(bootLogOf(fakes), 'utf8')).toBe(result.stderr + again.stderr);
    });
  });

  describe('role worker', () => {
    test('starts only the worker unit; region from the metadata service when not given', async () => {
      const fakes = given();
      const result = await boot(fakes, 'worker', []);
      expect(result.stderr).toContain('herd-boot: started fixture-worker.service\n');
      expect(result.code).toBe(0);
      expect(calls(fakes, 'systemctl')).toEqual(['enable --now fixture-worker.service']);
      expect(calls(fakes, 'aws')[0]).toContain('--region eu-west-1');
      expect(readFileSync(path.join(fakes.root, 'etc', 'herd', 'fixture.env'), 'utf8')).toContain('\nHERD_ROLE=worker\n');
    });

    test('fails when the Procfile has no worker process', async () => {
      const fakes = given({ from: noWorkerRoot });
      const releaseOfImage = readFileSync(path.join(noWorkerRoot, 'etc', 'herd', 'release'), 'utf8')
        .match(/^HERD_RELEASE=(.*)$/m)?.[1];
      const result = await boot(fakes, 'worker');
      expectFailedLoudly(fakes, result,
        `role 'worker': the Procfile of release ${releaseOfImage} defines no 'worker:' process`);
      expect(calls(fakes, 'aws')).toEqual([]);
    });
  });

  describe('log shipping', () => {
    test('--log-retention-days sets the retention of every log group of the config', async () => {
      const fakes = given();
      const result = await boot(fakes, 'web', ['--region', 'eu-west-1', '--log-retention-days', '90']);
      expect(result.code).toBe(0);
      expect(agentConfigOf(fakes).logs.logs_collected.files.collect_list).toEqual(renderedCollectList(90));
    });

    test('--log-retention-days is rounded up to a retention CloudWatch Logs accepts', async () => {
      const fakes = given();
      const result = await boot(fakes, 'web', ['--region', 'eu-west-1', '--log-retention-days', '10']);
      expect(result.code).toBe(0);
      const message = 'herd-boot: --log-retention-days 10: logs are kept 14 days (the next retention CloudWatch Logs accepts)\n';
      expect(result.stderr).toContain(message);
      expect(readFileSync(bootLogOf(fakes), 'utf8')).toContain(message);
      expect(agentConfigOf(fakes).logs.logs_collected.files.collect_list).toEqual(renderedCollectList(14));
    });

    test.each(['abc', '0', '3654', '014', '7.5', ''])('--log-retention-days rejects %p, starting nothing', async (value) => {
      const fakes = given();
      const result = await boot(fakes, 'web', ['--region', 'eu-west-1', '--log-retention-days', value]);
      expectFailedLoudly(fakes, result, `--log-retention-days '${value}' is invalid (must be an integer from 1 to 3653)`);
      expect(calls(fakes, 'aws')).toEqual([]);
      expect(calls(fakes, 'amazon-cloudwatch-agent-ctl')).toEqual([]);
    });

    test('creates the log directory when it is missing and writes boot.log there', async () => {
      const fakes = given();
      const logDir = path.join(fakes.root, 'var', 'log', 'herd', 'fixture');
      rmSync(logDir, { recursive: true });
      const result = await boot(fakes, 'web');
      expect(result.code).toBe(0);
      expect(statSync(logDir).mode & 0o777).toBe(0o750);
      expect(readFileSync(bootLogOf(fakes), 'utf8')).toBe(result.stderr);
      expect(result.stderr).toContain('herd-boot: started fixture-web.service\n');
    });

    test('without the CloudWatch agent: a warning, the config is rendered, the role still starts', async () => {
      const fakes = given({ withoutAgent: true });
      const result = await boot(fakes, 'web');
      expect(result.code).toBe(0);
      const warning = 'herd-boot: amazon-cloudwatch-agent is not installed (bake.sh installs it): logs stay in /var/log/herd/fixture\n';
      expect(result.stderr).toContain(warning);
      expect(readFileSync(bootLogOf(fakes), 'utf8')).toContain(warning);
      expect(calls(fakes, 'logger')).toContain(`-t herd-boot -p user.warning -- ${warning.trim()}`);
      expect(agentConfigOf(fakes).logs.logs_collected.files.collect_list).toEqual(renderedCollectList(14));
      expect(calls(fakes, 'systemctl')).toEqual(['enable --now fixture-web.service']);
    });
  });

  describe('role release', () => {
    test('runs the release command once as the app user, reports exit code 0, powers off', async () => {
      const fakes = given();
      const result = await boot(fakes, 'release');
      expect(result.code).toBe(0);
      expect(calls(fakes, 'systemctl')).toEqual([]);
      expect(calls(fakes, 'shutdown')).toEqual(['-h now']);
      const reports = puts(fakes);
      expect(reports).toHaveLength(1);
      expect(reports[0].name).toBe(`/herd/fixture/staging/release-runs/${INSTANCE_ID}`);
      expect(reports[0].type).toBe('String');
      const uid = uidIn(fakes.root, 'fixture');
      expect(JSON.parse(reports[0].value)).toEqual({
        exitCode: 0,
        logTail: `migrating ${releaseId} as uid ${uid} in ${fakes.root}/srv/fixture/releases/${releaseId} with ${CANARY_SECRET}\n`,
      });
      const marker = `herd-boot: HERD-RELEASE-RUN app=fixture env=staging release=${releaseId} instance=${INSTANCE_ID} exitCode=0\n`;
      expect(readFileSync(fakes.console, 'utf8')).toContain(marker);
      const bootLog = readFileSync(bootLogOf(fakes), 'utf8');
      expect(bootLog).toBe(result.stderr);
      expect(bootLog).toContain('herd-boot: running release: echo "migrating $HERD_RELEASE');
      expect(bootLog).toContain(marker);
      expect(bootLog).not.toContain(CANARY_SECRET);
      expect(calls(fakes, 'aws').filter((c) => c.startsWith('ssm put-parameter'))).toEqual([
        `ssm put-parameter --name /herd/fixture/staging/release-runs/${INSTANCE_ID} --type String --overwrite --value ${reports[0].value} --region eu-west-1`,
      ]);
    });

    test('renders the database owner\'s login (secret-env-owner/) over the application\'s; web never reads it', async () => {
      const OWNER_SECRET_ARN = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:herd-owner-AbCdEf';
      const parameters = {
        '/herd/fixture/staging/env/DATABASE_HOST': 'db.staging.internal',
        '/herd/fixture/staging/secret-env/DATABASE_USER': `${DB_SECRET_ARN}#username`,
        '/herd/fixture/staging/secret-env/DATABASE_PASSWORD': `${DB_SECRET_ARN}#password`,
        '/herd/fixture/staging/secret-env/DJANGO_SECRET_KEY': KEY_SECRET_ARN,
        '/herd/fixture/staging/secret-env-owner/DATABASE_USER': `${OWNER_SECRET_ARN}#username`,
        '/herd/fixture/staging/secret-env-owner/DATABASE_PASSWORD': `${OWNER_SECRET_ARN}#password`,
      };
      const secrets = {
        [DB_SECRET_ARN]: JSON.stringify({ username: 'fixture_app', password: 'app-pass' }),
        [OWNER_SECRET_ARN]: JSON.stringify({ username: 'herd', password: 'owner-pass' }),
        [KEY_SECRET_ARN]: 'django-key',
      };
      const release = given({ parameters, secrets });
      expect((await boot(release, 'release')).code).toBe(0);
      const released = readFileSync(path.join(release.root, 'etc', 'herd', 'fixture.env'), 'utf8');
      expect(released).toContain('\nDATABASE_USER="herd"\n');
      expect(released).toContain('\nDATABASE_PASSWORD="owner-pass"\n');
      expect(released).toContain('\nDJANGO_SECRET_KEY="django-key"\n');
      expect(released.match(/^DATABASE_USER=/gm)).toHaveLength(1);
      // The overridden application secret is not even read.
      expect(calls(release, 'aws').filter((c) => c.includes(DB_SECRET_ARN))).toEqual([]);

      const web = given({ parameters, secrets });
      expect((await boot(web, 'web')).code).toBe(0);
      const served = readFileSync(path.join(web.root, 'etc', 'herd', 'fixture.env'), 'utf8');
      expect(served).toContain('\nDATABASE_USER="fixture_app"\n');
      expect(served).toContain('\nDATABASE_PASSWORD="app-pass"\n');
      expect(calls(web, 'aws').filter((c) => c.includes('secret-env-owner') || c.includes(OWNER_SECRET_ARN))).toEqual([]);
    });

    test('reports a failing release with its exit code and the tail of its log', async () => {
      const fakes = given({
        parameters: {
          '/herd/fixture/staging/env/RELEASE_EXIT': '3',
          '/herd/fixture/staging/env/RELEASE_LINES': '2000',
          '/herd/fixture/staging/env/DATABASE_PASSWORD': 'plain',
        },
      });
      const result = await boot(fakes, 'release');
      expect(result.code).toBe(3);
      expect(calls(fakes, 'shutdown')).toEqual(['-h now']);
      const report = JSON.parse(puts(fakes)[0].value);
      expect(report.exitCode).toBe(3);
      expect(report.logTail).toHaveLength(3000);
      expect(report.logTail.endsWith('\n1998\n1999\n2000\n')).toBe(true);
      expect(readFileSync(fakes.console, 'utf8')).toContain('exitCode=3\n');
    });

    test('fails when a secret is missing, still reporting and powering off', async () => {
      const fakes = given({ secrets: {} });
      const result = await boot(fakes, 'release');
      const message = `cannot read secret ${DB_SECRET_ARN} (for DATABASE_PASSWORD): An error occurred (ResourceNotFoundException) when calling the GetSecretValue operation: Secrets Manager can't find the specified secret. `;
      expectFailedLoudly(fakes, result, message);
      expect(JSON.parse(puts(fakes)[0].value)).toEqual({ exitCode: 125, logTail: `herd-boot: ERROR: ${message}\n` });
      expect(calls(fakes, 'shutdown')).toEqual(['-h now']);
    });
  });

  describe('role run (herd run)', () => {
    const b64 = (text: string) => Buffer.from(text, 'utf8').toString('base64');
    const runArgs = (command: string, more: string[] = []) => ['--region', 'eu-west-1', '--command-base64', b64(command), ...more];

    test('runs the command once as the app user with the role\'s environment, ships and reports its output, powers off after the flush wait', async () => {
      const fakes = given({ stubSleep: true });
      const command = 'echo "as uid $(id -u) role $HERD_ROLE in $PWD with $DATABASE_PASSWORD"; echo second line; exit 3';
      const result = await boot(fakes, 'run', runArgs(command, ['--run-as', 'worker', '--timeout-seconds', '600']));
      expect(result.code).toBe(3);
      const uid = uidIn(fakes.root, 'fixture');
      const output = `as uid ${uid} role worker in ${fakes.root}/srv/fixture/releases/${releaseId} with ${CANARY_SECRET}\nsecond line\n`;
      expect(readFileSync(path.join(fakes.root, 'var', 'log', 'herd', 'fixture', 'run.log'), 'utf8')).toBe(output);
      const reports = puts(fakes);
      expect(reports.map((r) => r.name)).toEqual([`/herd/fixture/staging/run-results/${INSTANCE_ID}`]);
      expect(JSON.parse(reports[0].value)).toEqual({ exitCode: 3, logTail: output, lines: 2 });
      expect(calls(fakes, 'systemctl')).toEqual([]);
      expect(calls(fakes, 'sleep')).toEqual(['10']);
      expect(calls(fakes, 'shutdown')).toEqual(['-h now']);
      // The agent ships run.log to the run group, stream = instance id.
      const runEntry = agentConfigOf(fakes).logs.logs_collected.files.collect_list
        .filter((e: { file_path: string }) => e.file_path === '/var/log/herd/fixture/run.log');
      expect(runEntry).toEqual([{ file_path: '/var/log/herd/fixture/run.log', log_group_name: '/herd/fixture/staging/run', log_stream_name: '{instance_id}', timezone: 'UTC', retention_in_days: 14 }]);
      const bootLog = readFileSync(bootLogOf(fakes), 'utf8');
      expect(bootLog).toContain(`herd-boot: HERD-RUN app=fixture env=staging release=${releaseId} instance=${INSTANCE_ID} exitCode=3\n`);
      expect(bootLog).not.toContain(CANARY_SECRET);
      expect(readFileSync(path.join(fakes.root, 'etc', 'herd', 'fixture.env'), 'utf8')).toContain('HERD_ROLE=worker\n');
    });

    test('a command that outlives --timeout-seconds is stopped: exit 124, said in its output', async () => {
      const fakes = given({ extraEnv: { HERD_RUN_FLUSH_SECONDS: '0' } });
      const result = await boot(fakes, 'run', runArgs('echo started; sleep 30', ['--timeout-seconds', '1']));
      expect(result.code).toBe(124);
      const report = JSON.parse(puts(fakes)[0].value);
      expect(report).toEqual({ exitCode: 124, logTail: 'started\nherd-boot: the command ran longer than 1s and was stopped\n', lines: 2 });
      expect(calls(fakes, 'shutdown')).toEqual(['-h now']);
    });

    test.each([
      [['--region', 'eu-west-1'], "--role run needs --command-base64 (the command, base64-encoded)"],
      [runArgs('true', ['--run-as', 'release']), "--run-as 'release' is invalid (must be web or worker)"],
      [runArgs('true', ['--timeout-seconds', '30m']), "--timeout-seconds '30m' is invalid (must be a whole number of seconds from 1 to 999999)"],
      [['--region', 'eu-west-1', '--command-base64', b64('   ')], `--command-base64 '${b64('   ')}' does not decode to a command`],
    ])('refuses bad run arguments %j before rendering anything, and powers off', async (args, message) => {
      const fakes = given();
      const result = await boot(fakes, 'run', args);
      expectFailedLoudly(fakes, result, message);
      expect(puts(fakes)).toEqual([]); // no instance id yet: nothing to report under
      expect(calls(fakes, 'shutdown')).toEqual(['-h now']);
    });

    test('--command-base64 with another role is refused', async () => {
      const fakes = given();
      const result = await boot(fakes, 'web', runArgs('true'));
      expectFailedLoudly(fakes, result, '--command-base64 is only for --role run');
      expect(calls(fakes, 'shutdown')).toEqual([]);
    });
  });

  describe('under a burst: AWS throttles', () => {
    const ENV_CALL = 'ssm get-parameters-by-path --path /herd/fixture/staging/env/ --recursive --with-decryption --region eu-west-1 --output json';
    const throttled = (op: string) => ` An error occurred (ThrottlingException) when calling the ${op} operation (reached max retries: 9): Rate exceeded `;

    test('every aws call runs with the CLI\'s adaptive retries, 10 attempts', async () => {
      const fakes = given();
      const result = await boot(fakes, 'release');
      expect(result.code).toBe(0);
      const seen = calls(fakes, 'aws-env');
      expect(seen).toHaveLength(6); // env/, secret-env/, secret-env-owner/, two secrets, the report
      expect(new Set(seen)).toEqual(new Set(['AWS_RETRY_MODE=adaptive AWS_MAX_ATTEMPTS=10']));
    });

    test('retry settings the caller gave are kept', async () => {
      const fakes = given({ extraEnv: { AWS_RETRY_MODE: 'standard', AWS_MAX_ATTEMPTS: '4' } });
      const result = await boot(fakes, 'web');
      expect(result.code).toBe(0);
      expect(new Set(calls(fakes, 'aws-env'))).toEqual(new Set(['AWS_RETRY_MODE=standard AWS_MAX_ATTEMPTS=4']));
    });

    test('a throttled call is retried: the boot succeeds and renders the env file', async () => {
      const fakes = given({ throttle: 1, retryBaseSeconds: '0.01' });
      const result = await boot(fakes, 'web');
      expect(result.code).toBe(0);
      expect(calls(fakes, 'aws')).toEqual([
        ENV_CALL,
        ENV_CALL,
        'ssm get-parameters-by-path --path /herd/fixture/staging/secret-env/ --recursive --with-decryption --region eu-west-1 --output json',
        `secretsmanager get-secret-value --secret-id ${DB_SECRET_ARN} --region eu-west-1 --output json`,
        `secretsmanager get-secret-value --secret-id ${KEY_SECRET_ARN} --region eu-west-1 --output json`,
      ]);
      expect(result.stderr).toMatch(/^herd-boot: aws ssm get-parameters-by-path was throttled \(attempt 1 of 6\), retrying in 0\.0(0[5-9]|10)s$/m);
      expect(readFileSync(bootLogOf(fakes), 'utf8')).toBe(result.stderr);
      const envFile = path.join(fakes.root, 'etc', 'herd', 'fixture.env');
      expect(statSync(envFile).mode & 0o777).toBe(0o600);
      expect(readFileSync(envFile, 'utf8')).toContain(`\nDATABASE_HOST="db.staging.internal"\nTRICKY=`);
      expect(readFileSync(envFile, 'utf8')).toContain(`\nDATABASE_PASSWORD="${CANARY_SECRET}"\n`);
      expect(calls(fakes, 'systemctl')).toEqual(['enable --now fixture-web.service']);
    });

    test('a throttled secret is retried too', async () => {
      const fakes = given({ throttle: 2, throttleOnly: KEY_SECRET_ARN, retryBaseSeconds: '0.01' });
      const result = await boot(fakes, 'worker');
      expect(result.code).toBe(0);
      expect(calls(fakes, 'aws').filter((c) => c.includes(KEY_SECRET_ARN))).toHaveLength(3);
      expect(readFileSync(path.join(fakes.root, 'etc', 'herd', 'fixture.env'), 'utf8'))
        .toContain('\nDJANGO_SECRET_KEY="django-key-\\$ecret"\n');
    });

    test('backoff: doubles from HERD_BOOT_RETRY_BASE_SECONDS, capped at 20 s, with jitter (half to all of it)', async () => {
      const fakes = given({ throttle: 'always', retryBaseSeconds: '4', stubSleep: true });
      const result = await boot(fakes, 'web');
      expect(result.code).toBe(1);
      const sleeps = calls(fakes, 'sleep').map(Number);
      const ceilings = [4, 8, 16, 20, 20];
      expect(sleeps).toHaveLength(ceilings.length);
      sleeps.forEach((seconds, i) => {
        expect(seconds).toBeGreaterThanOrEqual(ceilings[i] / 2);
        expect(seconds).toBeLessThanOrEqual(ceilings[i]);
      });
    });

    test('the default base is 1 s', async () => {
      const fakes = given({ throttle: 1, stubSleep: true });
      const result = await boot(fakes, 'web');
      expect(result.code).toBe(0);
      const sleeps = calls(fakes, 'sleep').map(Number);
      expect(sleeps).toHaveLength(1);
      expect(sleeps[0]).toBeGreaterThanOrEqual(0.5);
      expect(sleeps[0]).toBeLessThanOrEqual(1);
    });

    test('always throttled: fails loudly after 6 attempts, starting nothing and leaving no env file', async () => {
      const fakes = given({ throttle: 'always', retryBaseSeconds: '0.01' });
      const result = await boot(fakes, 'web');
      expectFailedLoudly(fakes, result,
        `cannot read parameters under /herd/fixture/staging/env/: throttled by AWS 6 times, giving up (last error: ${throttled('GetParametersByPath').trim()})`);
      expect(calls(fakes, 'aws')).toEqual(Array(6).fill(ENV_CALL));
      expect(existsSync(path.join(fakes.root, 'etc', 'herd', 'fixture.env'))).toBe(false);
      expect(calls(fakes, 'amazon-cloudwatch-agent-ctl')).toEqual([]);
      for (let attempt = 1; attempt <= 5; attempt += 1) {
        expect(result.stderr).toContain(`herd-boot: aws ssm get-parameters-by-path was throttled (attempt ${attempt} of 6), retrying in `);
      }
      expect(result.stderr).not.toContain('(attempt 6 of 6), retrying');
    });

    test('an AccessDenied error is not retried: one call, the error as before', async () => {
      const denied = 'An error occurred (AccessDeniedException) when calling the GetParametersByPath operation: User: arn:aws:sts::111122223333:assumed-role/web/i-0123456789abcdef0 is not authorized to perform: ssm:GetParametersByPath\n';
      const fakes = given({ awsError: denied, retryBaseSeconds: '0.01' });
      const result = await boot(fakes, 'web');
      expectFailedLoudly(fakes, result, `cannot read parameters under /herd/fixture/staging/env/: ${denied.replace('\n', ' ')}`);
      expect(calls(fakes, 'aws')).toEqual([ENV_CALL]);
      expect(result.stderr).not.toContain('throttled');
    });

    test('a throttled release report is retried: reported once, exit code kept', async () => {
      const fakes = given({ throttle: 2, throttleOnly: 'put-parameter', retryBaseSeconds: '0.01' });
      const result = await boot(fakes, 'release');
      expect(result.code).toBe(0);
      expect(calls(fakes, 'aws').filter((c) => c.startsWith('ssm put-parameter'))).toHaveLength(3);
      expect(puts(fakes)).toHaveLength(1);
      expect(JSON.parse(puts(fakes)[0].value).exitCode).toBe(0);
      expect(calls(fakes, 'shutdown')).toEqual(['-h now']);
    });

    test('a release report throttled every time: fails loudly saying so, still powers off', async () => {
      const fakes = given({ throttle: 'always', throttleOnly: 'put-parameter', retryBaseSeconds: '0.01' });
      const result = await boot(fakes, 'release');
      expect(result.code).toBe(1);
      const line = `herd-boot: ERROR: cannot report to /herd/fixture/staging/release-runs/${INSTANCE_ID}: throttled by AWS 6 times, giving up (last error: ${throttled('PutParameter').trim()})\n`;
      expect(result.stderr).toContain(line);
      expect(readFileSync(fakes.console, 'utf8')).toContain(line);
      expect(calls(fakes, 'aws').filter((c) => c.startsWith('ssm put-parameter'))).toHaveLength(6);
      expect(calls(fakes, 'shutdown')).toEqual(['-h now']);
    });

    test('HERD_BOOT_RETRY_BASE_SECONDS must be a number of seconds', async () => {
      const fakes = given({ retryBaseSeconds: 'soon' });
      const result = await boot(fakes, 'web');
      expectFailedLoudly(fakes, result, "HERD_BOOT_RETRY_BASE_SECONDS 'soon' is invalid (must be a number of seconds, like 1 or 0.5)");
      expect(calls(fakes, 'aws')).toEqual([]);
    });
  });

  describe('fails loudly without configuration, starting nothing and leaving no env file', () => {
    test('fails when there is no parameter under env/', async () => {
      const fakes = given({ parameters: { '/herd/fixture/other/env/DATABASE_HOST': 'x' } });
      const result = await boot(fakes, 'web');
      expectFailedLoudly(fakes, result,
        "no parameters under /herd/fixture/staging/env/: environment 'staging' of 'fixture' is not configured");
    });

    test('fails when a secret is missing', async () => {
      const fakes = given({ secrets: { [DB_SECRET_ARN]: '{"password":"x"}' } });
      const result = await boot(fakes, 'web');
      expectFailedLoudly(fakes, result,
        `cannot read secret ${KEY_SECRET_ARN} (for DJANGO_SECRET_KEY): An error occurred (ResourceNotFoundException) when calling the GetSecretValue operation: Secrets Manager can't find the specified secret. `);
    });

    test('fails when a secret has no such JSON key', async () => {
      const fakes = given({ secrets: { [DB_SECRET_ARN]: '{"username":"x"}', [KEY_SECRET_ARN]: 'k' } });
      const result = await boot(fakes, 'worker');
      expectFailedLoudly(fakes, result, `secret ${DB_SECRET_ARN} (for DATABASE_PASSWORD) has no JSON key 'password'`);
    });

    test('fails when the aws CLI fails', async () => {
      const fakes = given({ awsError: 'Unable to locate credentials. You can configure credentials by running "aws configure".\n' });
      const result = await boot(fakes, 'web');
      expectFailedLoudly(fakes, result,
        'cannot read parameters under /herd/fixture/staging/env/: Unable to locate credentials. You can configure credentials by running "aws configure". ');
      expect(calls(fakes, 'aws')).toHaveLength(1);
    });

    test('fails when a parameter name is not a variable name', async () => {
      const fakes = given({ parameters: { '/herd/fixture/staging/env/DATABASE-HOST': 'x' } });
      const result = await boot(fakes, 'web');
      expectFailedLoudly(fakes, result,
        "parameter /herd/fixture/staging/env/DATABASE-HOST: 'DATABASE-HOST' is not a valid environment variable name");
    });

    test('fails when the metadata service does not answer', async () => {
      const fakes = given();
      const result = await run(path.join(fakes.root, 'opt', 'herd', 'bin', 'herd-boot'),
        ['--app', 'fixture', '--env', 'staging', '--role', 'web', '--root', fakes.root],
        { env: { ...fakes.env, HERD_IMDS_URL: 'http://127.0.0.1:9' } });
      expect(result.code).toBe(1);
      expect(result.stderr).toContain('herd-boot: ERROR: cannot read the instance id from the instance metadata service (http://127.0.0.1:9): ');
      expect(calls(fakes, 'systemctl')).toEqual([]);
      expect(readdirSync(path.join(fakes.root, 'etc', 'herd'))).toEqual(['release']);
    });
  });
});
