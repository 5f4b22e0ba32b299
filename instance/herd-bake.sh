#!/usr/bin/env bash
# herd-bake: the builder's bake wrapper. The deploy step's builder user data unzips the
# instance scripts to /opt/herd/instance and runs
#
#   herd-bake.sh --app <app> --release <release-id> --artifact s3://<bucket>/<key> \
#                --report /herd/<app>/<env>/bake-runs/ [--region <r>] [--root <dir>]
#                [--layer base|release --provision <sha256|none>]
#
# --layer and --provision go to bake.sh (layered bake: a base image, or a release on one);
# a base reports no process (it installs no release).
#
# 1. downloads the artifact with `aws s3 cp` into a private temp directory;
# 2. runs bake.sh (next to this script) on it, with `--label <label>` when the release id
#    is `<label>-<hash12>` (none when it is a bare `<hash12>`), and checks that the release
#    id bake.sh printed is `--release`: a release id names the artifact's content, so any
#    other artifact is refused. bake.sh also installs the CloudWatch agent with dnf when
#    the image lacks it (Amazon Linux 2023 does not ship it) and writes its log template
#    (every process, herd-boot's boot.log, cloud-init's output);
# 3. reports JSON {"exitCode":N,"logTail":"<last <= 3000 chars>","processes":[...]} to the
#    SSM parameter <report><instance-id> (the Procfile's process names on success; none on
#    failure), the instance id read from the metadata service with IMDSv2;
# 4. on success tidies the image (its temp files and the downloaded artifact are removed,
#    `cloud-init clean --logs` when cloud-init is installed, so instances launched from the
#    image boot with a clean slate), then
# 5. powers the instance off (`shutdown -h now`), on success and on failure alike: the
#    builder's shutdown behaviour is `stop`, and the deploy step images the stopped builder
#    (a consistent file system, no reboot) or terminates it.
#
# Exit status: 0 baked; bake.sh's status when it fails (2 usage, 3 artifact refused, 1
# other); 4 the artifact's release id is not --release; 5 download failed; 1 any other
# failure (also the report's exitCode).
#
# Test hooks: HERD_IMDS_URL (default http://169.254.169.254); --root is passed to bake.sh
# (a scratch root). aws, jq, curl, shutdown, cloud-init and bake.sh's dnf are taken from
# PATH.
set -euo pipefail

readonly PROG='herd-bake'
readonly IMDS="${HERD_IMDS_URL:-http://169.254.169.254}"
readonly LOG_TAIL_CHARS=3000
readonly PARAMETER_VALUE_MAX=4096
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
readonly HERE

APP=''
RELEASE=''
ARTIFACT=''
REPORT=''
REGION=''
ROOT=''
LAYER=''
PROVISION=''
WORK=''
LOG=''
INSTANCE_ID=''

# shellcheck disable=SC2317  # invoked by the EXIT trap
cleanup() {
  [[ -n $WORK ]] && rm -rf -- "$WORK"
  return 0
}
trap cleanup EXIT

# say <message>: stderr (the console, through cloud-init) and the bake log.
say() {
  printf '%s: %s\n' "$PROG" "$1" >&2
  if [[ -n $LOG ]]; then printf '%s: %s\n' "$PROG" "$1" >>"$LOG"; fi
  return 0
}

power_off() {
  say "powering off"
  shutdown -h now || say "ERROR: shutdown failed"
}

# report <exit-code> [<process>...]: JSON to Parameter Store, the log tail shortened until
# the value fits a standard parameter.
report() {
  local code="$1" chars="$LOG_TAIL_CHARS" value processes='null'
  shift
  if [[ $# -gt 0 ]]; then processes="$(printf '%s\n' "$@" | jq -R . | jq -sc .)"; fi
  while :; do
    value="$(tail -c "$chars" "$LOG" | jq -Rsc --argjson c "$code" --argjson p "$processes" \
      '{exitCode: $c, logTail: .} + (if $p == null then {} else {processes: $p} end)')"
    [[ ${#value} -le $PARAMETER_VALUE_MAX || $chars -le 0 ]] && break
    chars=$((chars - 500))
  done
  if ! aws ssm put-parameter --name "$REPORT$INSTANCE_ID" --type String --overwrite --value "$value" \
    --region "$REGION" >/dev/null 2>"$WORK/report.err"; then
    say "ERROR: cannot report to $REPORT$INSTANCE_ID: $(tr '\n' ' ' <"$WORK/report.err" | tail -c 500)"
    return 1
  fi
  return 0
}

# finish <exit-code> [<process>...]: report, tidy the image on success, power off, exit.
finish() {
  local code="$1" reported=0
  shift
  if [[ -n $INSTANCE_ID && -n $REPORT ]]; then
    report "$code" "$@" || reported=1
  else
    say "ERROR: no instance id or report prefix: nothing reported"
    reported=1
  fi
  if [[ $code -eq 0 && $reported -eq 0 ]]; then
    rm -rf -- "$WORK"
    WORK=''
    LOG=''
    if command -v cloud-init >/dev/null 2>&1; then
      cloud-init clean --logs || say "WARNING: cloud-init clean failed"
    fi
  fi
  power_off
  [[ $reported -eq 0 ]] || exit 1
  exit "$code"
}

# fail <exit-code> <message>
fail() {
  say "$2"
  finish "$1"
}

usage() {
  say "usage: herd-bake.sh --app <app> --release <release-id> --artifact s3://<bucket>/<key> --report <ssm-prefix> [--region <r>] [--root <dir>] [--layer base|release --provision <sha256|none>]"
  finish 2
}

WORK="$(mktemp -d "${TMPDIR:-/tmp}/herd-bake.XXXXXX")"
LOG="$WORK/bake.log"
: >"$LOG"

# Instance identity first: without it, no failure can be reported.
imds_get() {
  local token
  token="$(curl -sS -f --max-time 5 --retry 2 -X PUT "$IMDS/latest/api/token" \
    -H 'X-aws-ec2-metadata-token-ttl-seconds: 300')" || return 1
  curl -sS -f --max-time 5 --retry 2 -H "X-aws-ec2-metadata-token: $token" "$IMDS/latest/meta-data/$1"
}
if ! INSTANCE_ID="$(imds_get instance-id 2>"$WORK/imds.err")" || [[ ! $INSTANCE_ID =~ ^[A-Za-z0-9-]+$ ]]; then
  INSTANCE_ID=''
  fail 1 "cannot read the instance id from the instance metadata service ($IMDS): $(tr '\n' ' ' <"$WORK/imds.err")"
fi

while [[ $# -gt 0 ]]; do
  case "$1" in
    --app) [[ $# -ge 2 ]] || usage; APP="$2"; shift 2 ;;
    --release) [[ $# -ge 2 ]] || usage; RELEASE="$2"; shift 2 ;;
    --artifact) [[ $# -ge 2 ]] || usage; ARTIFACT="$2"; shift 2 ;;
    --report) [[ $# -ge 2 ]] || usage; REPORT="$2"; shift 2 ;;
    --region) [[ $# -ge 2 ]] || usage; REGION="$2"; shift 2 ;;
    --root) [[ $# -ge 2 ]] || usage; ROOT="$2"; shift 2 ;;
    --layer) [[ $# -ge 2 ]] || usage; LAYER="$2"; shift 2 ;;
    --provision) [[ $# -ge 2 ]] || usage; PROVISION="$2"; shift 2 ;;
    -h | --help) usage ;;
    *) say "unknown argument '$1'"; usage ;;
  esac
done
[[ $REPORT =~ ^/[A-Za-z0-9/_.-]+/$ ]] || { REPORT=''; fail 2 "--report must be an SSM parameter prefix ending with '/'"; }
[[ -n $APP && -n $RELEASE && -n $ARTIFACT ]] || usage
[[ $ARTIFACT =~ ^s3://[^/]+/.+ ]] || fail 2 "--artifact '$ARTIFACT' is not an s3://<bucket>/<key> URL"
if [[ -z $REGION ]]; then
  REGION="$(imds_get placement/region 2>"$WORK/imds.err")" \
    || fail 1 "cannot read the region from the instance metadata service: $(tr '\n' ' ' <"$WORK/imds.err")"
fi

# Release id: "<label>-<hash12>" or a bare "<hash12>" (see bake.sh).
LABEL=''
if [[ $RELEASE =~ ^([a-z0-9][a-z0-9.-]{0,31})-([0-9a-f]{12})$ ]]; then
  LABEL="${BASH_REMATCH[1]}"
elif [[ ! $RELEASE =~ ^[0-9a-f]{12}$ ]]; then
  fail 2 "--release '$RELEASE' is not a release id (<label>-<hash12> or <hash12>)"
fi

say "downloading $ARTIFACT"
readonly ARTIFACT_FILE="$WORK/artifact.tar.gz"
if ! aws s3 cp "$ARTIFACT" "$ARTIFACT_FILE" --region "$REGION" --only-show-errors >>"$LOG" 2>&1; then
  fail 5 "cannot download $ARTIFACT"
fi

bake_args=(--app "$APP" --artifact "$ARTIFACT_FILE")
[[ -n $LABEL ]] && bake_args+=(--label "$LABEL")
[[ -n $ROOT ]] && bake_args+=(--root "$ROOT")
[[ -n $LAYER ]] && bake_args+=(--layer "$LAYER")
[[ -n $PROVISION ]] && bake_args+=(--provision "$PROVISION")
# bake.sh's log (stderr) goes to the console and the bake log; its stdout ends with the release id.
set +e
bash "$HERE/bake.sh" "${bake_args[@]}" 2>&1 >"$WORK/bake.out" | tee -a "$LOG" >&2
bake_code="${PIPESTATUS[0]}"
set -e
if [[ $bake_code -ne 0 ]]; then
  fail "$bake_code" "bake.sh failed (exit $bake_code)"
fi
got="$(tail -n 1 "$WORK/bake.out")"
if [[ $got != "$RELEASE" ]]; then
  fail 4 "artifact $ARTIFACT has release id $got, expected $RELEASE: upload the artifact that matches the release"
fi
rm -f -- "$ARTIFACT_FILE"

if [[ $LAYER == base ]]; then
  say "baked the base image of $APP for release $RELEASE"
  finish 0
fi

# The Procfile's process names, as bake.sh reads them.
declare -a processes=()
while IFS= read -r line || [[ -n $line ]]; do
  line="${line%$'\r'}"
  if [[ $line =~ ^([^:#[:space:]]+): ]]; then processes+=("${BASH_REMATCH[1]}"); fi
done <"$ROOT/srv/$APP/releases/$RELEASE/Procfile"
say "baked $APP release $RELEASE (processes: ${processes[*]})"
finish 0 "${processes[@]}"
