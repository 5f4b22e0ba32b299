import { createHash } from 'crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, readdirSync, readlinkSync, writeFileSync } from 'fs';
import * as path from 'path';
import { releaseIdOfTree } from '../../lib/release-id';
import {
  AGENT_CTL, INSTANCE_DIR, IS_ROOT, describeWith, hasCommand, run, runOrThrow, scratchRoot, startImds, tempDir, writeApp, writeDnfStub,
} from './support';

/**
 * herd-bake.sh (the builder's bake wrapper) against a scratch root. `aws` (S3 download,
 * SSM report), `shutdown`, `cloud-init` and `dnf` (bake.sh installs the CloudWatch agent
 * with it) are stubs first on PATH that log their calls;
 * the instance metadata service is an HTTP server in this process that insists on IMDSv2
 * tokens; bake.sh, curl and jq are real.
 */

const HERD_BAKE = path.join(INSTANCE_DIR, 'herd-bake.sh');
const INSTANCE_ID = 'i-0123456789abcdef0';
const IMDS_TOKEN = 'imds-token-17';
const REPORT_PREFIX = '/herd/fixture/staging/bake-runs/';

const AWS_STUB = `#!/usr/bin/env bash
# Fake aws CLI: S3 objects are files under $STUB_DIR/s3/<bucket>/<key>; puts go to puts.jsonl.
set -euo pipefail
printf '%s\\n' "$*" >>"$STUB_DIR/aws.log"
arg() { local want="$1"; shift; while [[ $# -gt 0 ]]; do [[ $1 == "$want" ]] && { printf '%s' "$2"; return; }; shift; done; return 1; }
case "$1 $2" in
  "s3 cp")
    object="$STUB_DIR/s3/\${3#s3://}"
    if [[ ! -f $object ]]; then
      echo "fatal error: An error occurred (404) when calling the HeadObject operation: Key \\"\${3#s3://*/}\\" does not exist" >&2
      exit 1
    fi
    cp "$object" "$4" ;;
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

const FIXTURE_PROCFILE = 'web: python3 -m http.server $PORT\n# a comment: not a process\nworker: sleep infinity\nrelease: echo migrate\n';

interface Report {
  readonly exitCode: number;
  readonly logTail: string;
  readonly processes?: readonly string[];
}

interface Outcome {
  readonly code: number | null;
  readonly stderr: string;
  readonly root: string;
  readonly tmp: string;
  readonly reports: { name: string; type: string; value: Report; keys: string[] }[];
  readonly calls: (stub: string) => string[];
}

describeWith({
  'root (bake creates users)': IS_ROOT, 'jq': hasCommand('jq'), 'curl': hasCommand('curl'), 'useradd': hasCommand('useradd'),
}, 'herd-bake.sh', () => {
  let imds: { url: string; close(): Promise<void> };
  let imdsUrl: string;

  beforeAll(async () => {
    imds = await startImds(INSTANCE_ID, IMDS_TOKEN);
    imdsUrl = imds.url;
  });

  afterAll(async () => {
    await imds.close();
  });

  /** A .tar.gz of `files` (relative to the app root), as `herd deploy` uploads it. */
  function artifact(files: Record<string, string>): { dir: string; tarball: string } {
    const dir = writeApp(files);
    const tarball = path.join(tempDir('artifact'), 'app.tar.gz');
    runOrThrow('tar', ['-czf', tarball, '-C', dir, '.']);
    return { dir, tarball };
  }

  /** Runs herd-bake with `objects` (s3 key → local file) in the fake bucket `artifacts`. */
  async function herdBake(release: string, key: string, objects: Record<string, string>, extra: readonly string[] = []): Promise<Outcome> {
    const stubDir = tempDir('stubs');
    const bin = path.join(stubDir, 'bin');
    mkdirSync(bin);
    writeFileSync(path.join(bin, 'aws'), AWS_STUB, { mode: 0o755 });
    for (const name of ['shutdown', 'cloud-init']) writeFileSync(path.join(bin, name), logStub(name), { mode: 0o755 });
    writeDnfStub(bin);
    for (const [objectKey, file] of Object.entries(objects)) {
      const target = path.join(stubDir, 's3', 'artifacts', objectKey);
      mkdirSync(path.dirname(target), { recursive: true });
      runOrThrow('cp', [file, target]);
    }
    const root = scratchRoot();
    const tmp = tempDir('tmp');
    const result = await run('bash', [HERD_BAKE, '--app', 'fixture', '--release', release, '--artifact', `s3://artifacts/${key}`,
      '--report', REPORT_PREFIX, '--root', root, ...extra], {
      env: { ...process.env, PATH: `${bin}:${process.env.PATH}`, STUB_DIR: stubDir, HERD_IMDS_URL: imdsUrl, TMPDIR: tmp },
    });
    const calls = (stub: string) => {
      const file = path.join(stubDir, `${stub}.log`);
      return existsSync(file) ? readFileSync(file, 'utf8').split('\n').filter((l) => l !== '') : [];
    };
    const putsFile = path.join(stubDir, 'puts.jsonl');
    const reports = existsSync(putsFile)
      ? readFileSync(putsFile, 'utf8').split('\n').filter((l) => l !== '').map((l) => {
        const put = JSON.parse(l) as { name: string; type: string; value: string };
        const value = JSON.parse(put.value) as Report;
        return { name: put.name, type: put.type, value, keys: Object.keys(value) };
      })
      : [];
    return { code: result.code, stderr: result.stderr, root, tmp, reports, calls };
  }

  describe('given the artifact of the release', () => {
    let outcome: Outcome;
    let releaseId: string;

    beforeAll(async () => {
      const { dir, tarball } = artifact({ Procfile: FIXTURE_PROCFILE, 'app.py': 'print("hi")\n' });
      releaseId = releaseIdOfTree(dir, 'v3');
      outcome = await herdBake(releaseId, `releases/${releaseId}.tar.gz`, { [`releases/${releaseId}.tar.gz`]: tarball });
    });

    test('installs the release with the label taken from the release id', () => {
      expect(outcome.stderr).toContain(`herd-bake: baked fixture release ${releaseId} (processes: web worker release)\n`);
      expect(outcome.code).toBe(0);
      expect(readlinkSync(path.join(outcome.root, 'srv', 'fixture', 'current'))).toBe(`releases/${releaseId}`);
      expect(outcome.calls('dnf')).toEqual([`--installroot ${outcome.root} install -y amazon-cloudwatch-agent`]);
      expect(existsSync(path.join(outcome.root, AGENT_CTL))).toBe(true);
      expect(outcome.calls('aws')[0]).toMatch(
        new RegExp(`^s3 cp s3://artifacts/releases/${releaseId}\\.tar\\.gz ${outcome.tmp}/herd-bake\\.[A-Za-z0-9]+/artifact\\.tar\\.gz --region eu-west-1 --only-show-errors$`));
    });

    test('reports exit code, log tail and the Procfile processes under <report><instance-id>', () => {
      expect(outcome.reports).toHaveLength(1);
      const [report] = outcome.reports;
      expect(report?.name).toBe(`${REPORT_PREFIX}${INSTANCE_ID}`);
      expect(report?.type).toBe('String');
      expect(report?.keys).toEqual(['exitCode', 'logTail', 'processes']);
      expect(report?.value.exitCode).toBe(0);
      expect(report?.value.processes).toEqual(['web', 'worker', 'release']);
      expect(report?.value.logTail).toContain(`herd bake: installed fixture release ${releaseId}`);
      expect(report?.value.logTail.length).toBeLessThanOrEqual(3000);
    });

    test('tidies the image (temp files, cloud-init state) and powers off', () => {
      expect(readdirSync(outcome.tmp)).toEqual([]);
      expect(outcome.calls('cloud-init')).toEqual(['clean --logs']);
      expect(outcome.calls('shutdown')).toEqual(['-h now']);
    });
  });

  test('bakes a release id without a label', async () => {
    const { dir, tarball } = artifact({ Procfile: 'web: serve\n' });
    const releaseId = releaseIdOfTree(dir);
    const outcome = await herdBake(releaseId, 'releases/unlabelled.tar.gz', { 'releases/unlabelled.tar.gz': tarball });
    expect(outcome.code).toBe(0);
    expect(outcome.reports.map((r) => [r.value.exitCode, r.value.processes])).toEqual([[0, ['web']]]);
    expect(readlinkSync(path.join(outcome.root, 'srv', 'fixture', 'current'))).toBe(`releases/${releaseId}`);
  });

  test('--layer base (layered bake): bake.sh bakes the base (herd/provision, no release) and the report names no process; --layer release on a plain image is refused (exit 3)', async () => {
    const provision = '#!/usr/bin/env bash\necho provisioned >> "$HERD_ROOT/etc/provisioned"\n';
    const { dir, tarball } = artifact({ Procfile: 'web: serve\n', 'herd/provision': provision });
    chmodSync(path.join(dir, 'herd', 'provision'), 0o755);
    runOrThrow('tar', ['-czf', tarball, '-C', dir, '.']);
    const releaseId = releaseIdOfTree(dir);
    const hash = createHash('sha256').update(provision).digest('hex');
    const base = await herdBake(releaseId, 'releases/base.tar.gz', { 'releases/base.tar.gz': tarball }, ['--layer', 'base', '--provision', hash]);
    expect(base.code).toBe(0);
    expect(base.reports.map((r) => r.value)).toEqual([expect.objectContaining({ exitCode: 0 })]);
    expect(base.reports[0]?.keys).toEqual(['exitCode', 'logTail']);
    expect(readFileSync(path.join(base.root, 'etc', 'herd', 'base'), 'utf8')).toBe(`HERD_APP=fixture\nHERD_PROVISION=${hash}\n`);
    expect(existsSync(path.join(base.root, 'srv', 'fixture', 'current'))).toBe(false);
    expect(base.calls('shutdown')).toEqual(['-h now']);
    const refused = await herdBake(releaseId, 'releases/base.tar.gz', { 'releases/base.tar.gz': tarball }, ['--layer', 'release', '--provision', hash]);
    expect(refused.code).toBe(3);
    expect(refused.reports[0]?.value.logTail).toContain('this image is not a herd base image');
  });

  test('fails when the artifact holds another release, reporting and powering off', async () => {
    const { dir, tarball } = artifact({ Procfile: FIXTURE_PROCFILE });
    const actual = releaseIdOfTree(dir, 'v3');
    const wanted = 'v3-000000000000';
    const outcome = await herdBake(wanted, `releases/${wanted}.tar.gz`, { [`releases/${wanted}.tar.gz`]: tarball });
    const message = `herd-bake: artifact s3://artifacts/releases/${wanted}.tar.gz has release id ${actual}, expected ${wanted}: upload the artifact that matches the release`;
    expect(outcome.stderr).toContain(`${message}\n`);
    expect(outcome.code).toBe(4);
    expect(outcome.reports).toHaveLength(1);
    expect(outcome.reports[0]?.keys).toEqual(['exitCode', 'logTail']);
    expect(outcome.reports[0]?.value.exitCode).toBe(4);
    expect(outcome.reports[0]?.value.logTail).toContain(message);
    expect(outcome.calls('shutdown')).toEqual(['-h now']);
    expect(outcome.calls('cloud-init')).toEqual([]);
  });

  test('fails when the artifact is broken, reporting bake.sh\'s refusal and powering off', async () => {
    const { tarball } = artifact({ 'README.md': 'no Procfile here\n' });
    const outcome = await herdBake('v3-0123456789ab', 'releases/broken.tar.gz', { 'releases/broken.tar.gz': tarball });
    expect(outcome.code).toBe(3);
    expect(outcome.reports.map((r) => r.value.exitCode)).toEqual([3]);
    expect(outcome.reports[0]?.value.logTail).toContain("herd bake: artifact refused: Procfile: not found at the artifact's root\n");
    expect(outcome.reports[0]?.value.logTail).toContain('herd-bake: bake.sh failed (exit 3)\n');
    expect(outcome.calls('shutdown')).toEqual(['-h now']);
    expect(outcome.calls('cloud-init')).toEqual([]);
    expect(existsSync(path.join(outcome.root, 'srv', 'fixture', 'current'))).toBe(false);
  });

  test('fails when the artifact cannot be downloaded, reporting the S3 error and powering off', async () => {
    const outcome = await herdBake('v3-0123456789ab', 'releases/missing.tar.gz', {});
    expect(outcome.stderr).toContain('herd-bake: cannot download s3://artifacts/releases/missing.tar.gz\n');
    expect(outcome.code).toBe(5);
    expect(outcome.reports.map((r) => r.value.exitCode)).toEqual([5]);
    expect(outcome.reports[0]?.value.logTail).toContain('An error occurred (404) when calling the HeadObject operation');
    expect(outcome.calls('shutdown')).toEqual(['-h now']);
  });
});
