#!/usr/bin/env bash
# herd-boot: configure a baked instance for one environment and role, then start it.
# Installed by bake.sh as /opt/herd/bin/herd-boot; the launch template's user data runs
#
#   herd-boot --app <app> --env <env> --role web|worker|release [--region <r>]
#             [--log-retention-days <n>] [--root <dir>]
#   herd-boot --app <app> --env <env> --role run --command-base64 <b64> [--run-as web|worker]
#             [--timeout-seconds <n>] [--region <r>] [--log-retention-days <n>] [--root <dir>]
#
# 1. reads every parameter under /herd/<app>/<env>/env/ (the last path segment is the
#    variable name) and every secret reference under /herd/<app>/<env>/secret-env/
#    (value "<secret-arn>" or "<secret-arn>#<json-key>"); the release and run roles also read
#    /herd/<app>/<env>/secret-env-owner/, whose variables replace those of the same name (the
#    database owner's login instead of the application's); and renders /etc/herd/<app>.env
#    (root, 0600, atomically), adding HERD_APP, HERD_ENV, HERD_ROLE, HERD_RELEASE,
#    HERD_INSTANCE_ID and PORT (8000 unless set);
# 2. renders the CloudWatch agent config /etc/herd/<app>.cloudwatch-agent.json from the
#    template bake.sh wrote (@HERD_ENV@ -> <env>; "@HERD_LOG_RETENTION_DAYS@" -> the
#    retention in days as a JSON number, which the agent sets on every log group of the
#    config) and (re)loads the agent, which bake.sh installs (when it is absent: a
#    warning, and the logs stay in /var/log/herd/<app>);
# 3. web/worker: `systemctl enable --now <app>-<role>.service`;
#    release: runs the Procfile `release:` command once as the app user in
#    /srv/<app>/current, reports {"exitCode":N,"logTail":"<last ~3000 chars>"} to
#    /herd/<app>/<env>/release-runs/<instance-id>, prints a HERD-RELEASE-RUN line on the
#    console and shuts the instance down.
#    run (`herd run`): runs the command given base64-encoded (the user data carries it: a
#    command line is readable by anyone allowed ec2:DescribeInstanceAttribute, so it must
#    hold no secret; the environment it runs with is rendered here, never in the user data)
#    once, like `release:` (the app user, /srv/<app>/current, the rendered environment with
#    HERD_ROLE=<--run-as>, default web), killed after --timeout-seconds (default 3600; exit
#    124); its output goes to /var/log/herd/<app>/run.log, which the agent ships to
#    /herd/<app>/<env>/run (stream <instance-id>); reports {"exitCode":N,"logTail":"…",
#    "lines":<lines of output>} to /herd/<app>/<env>/run-results/<instance-id>, waits
#    HERD_RUN_FLUSH_SECONDS (default 10) for the agent to ship the last lines, and shuts the
#    instance down (the CLI launches it with shutdown behaviour terminate).
# If the configuration cannot be read (an aws call fails, no parameter under env/, a
# secret or key is missing), it fails loudly (console, stderr, syslog), exits non-zero,
# leaves no env file behind and starts nothing.
# Every message it prints (stderr, console, syslog) is also appended to
# /var/log/herd/<app>/boot.log (the directory is created when missing), which the agent
# ships to /herd/<app>/<env>/boot. Those messages never hold a secret value.
#
# --log-retention-days: an integer from 1 to 3653 (default 14), rounded up to the next
# value CloudWatch Logs accepts (1 3 5 7 14 30 60 90 120 150 180 365 400 545 731 1096 1827
# 2192 2557 2922 3288 3653), as `retentionOf` in lib/retention.ts rounds the
# retention of the log groups the stack creates; anything else fails the boot.
#
# Throttling: many instances booting at once call SSM and Secrets Manager together. Every
# aws call runs with the CLI's adaptive retries (AWS_RETRY_MODE=adaptive,
# AWS_MAX_ATTEMPTS=10, unless the caller set them). On top of that, a call of herd-boot's
# own (the parameters, the secrets, the release report) that still fails throttled (exit
# code 254/255, ThrottlingException, Throttling, Rate exceeded, RequestLimitExceeded or
# TooManyRequestsException in its error output) is tried again, 6 attempts in all, after
# a backoff that doubles from HERD_BOOT_RETRY_BASE_SECONDS (default 1: 1 2 4 8 16 s,
# capped at 20 s), each wait a random time between half of it and all of it (jitter, so a
# burst of instances spreads out). Any other error fails at once; throttled on every
# attempt, the boot fails saying so.
#
# Test hooks: HERD_IMDS_URL (default http://169.254.169.254), HERD_CONSOLE (default
# /dev/console), HERD_BOOT_RETRY_BASE_SECONDS (default 1, a number of seconds: 0.01
# makes retries quick). aws, jq, curl, systemctl, shutdown, logger and sleep are taken
# from PATH.
set -euo pipefail

# The aws CLI's own retries (adaptive: client-side rate limiting when throttled).
export AWS_RETRY_MODE="${AWS_RETRY_MODE:-adaptive}"
export AWS_MAX_ATTEMPTS="${AWS_MAX_ATTEMPTS:-10}"

readonly PROG='herd-boot'
readonly APP_PATH_DIRS='/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'
readonly IMDS="${HERD_IMDS_URL:-http://169.254.169.254}"
readonly CONSOLE="${HERD_CONSOLE:-/dev/console}"
readonly LOG_TAIL_CHARS=3000
readonly PARAMETER_VALUE_MAX=4096
readonly AWS_THROTTLED_ATTEMPTS=6
readonly AWS_RETRY_BASE="${HERD_BOOT_RETRY_BASE_SECONDS:-1}"
readonly AWS_RETRY_CAP_SECONDS=20

APP=''
ENV_NAME=''
ROLE=''
REGION=''
ROOT=''
LOG_RETENTION_GIVEN=14
LOG_RETENTION_DAYS=''
BOOT_LOG=''
INSTANCE_ID=''
RELEASE_ID=''
WORK=''
PENDING_FILE=''
FAILING=''
RUN_COMMAND_B64=''
RUN_AS='web'
RUN_TIMEOUT=3600
RUN_COMMAND=''

# shellcheck disable=SC2317  # invoked by the EXIT trap
cleanup() {
  [[ -n $WORK ]] && rm -rf -- "$WORK"
  [[ -n $PENDING_FILE ]] && rm -f -- "$PENDING_FILE"
  return 0
}
trap cleanup EXIT

# Retention periods CloudWatch Logs (and the agent's retention_in_days) accept.
readonly CLOUDWATCH_RETENTION_DAYS=(1 3 5 7 14 30 60 90 120 150 180 365 400 545 731 1096 1827 2192 2557 2922 3288 3653)

# say <priority> <message>: stderr, the console when writable, syslog, and boot.log once
# open_boot_log has run.
say() {
  local priority="$1" message="$PROG: $2"
  printf '%s\n' "$message" >&2
  if [[ -n $BOOT_LOG ]]; then
    { printf '%s\n' "$message" >>"$BOOT_LOG"; } 2>/dev/null || true
  fi
  if [[ -w $CONSOLE ]]; then
    { printf '%s\n' "$message" >>"$CONSOLE"; } 2>/dev/null || true
  fi
  logger -t "$PROG" -p "user.$priority" -- "$message" 2>/dev/null || true
}

usage() {
  echo "usage: herd-boot --app <app> --env <env> --role web|worker|release|run [--region <r>] [--log-retention-days <n>] [--root <dir>]" >&2
  echo "       (--role run: --command-base64 <b64> [--run-as web|worker] [--timeout-seconds <n>])" >&2
  exit 2
}

# open_boot_log: from now on `say` also appends to $ROOT/var/log/herd/<app>/boot.log
# (root, 0640), creating the directory (root, 0750) when it is missing. A boot log that
# cannot be written is a warning, never a reason to stop the boot.
open_boot_log() {
  local dir="$ROOT/var/log/herd/$APP" file
  file="$dir/boot.log"
  if [[ ! -d $dir ]] && ! { mkdir -p -- "$ROOT/var/log/herd" && install -d -m 0750 -- "$dir"; } 2>/dev/null; then
    say warning "cannot create $dir: messages are not kept in $file"
    return 0
  fi
  if [[ ! -e $file ]] && ! { (umask 0027 && : >>"$file"); } 2>/dev/null; then
    say warning "cannot write $file: messages are not kept there"
    return 0
  fi
  BOOT_LOG="$file"
}

# fail <message>: the boot cannot go on. A release runner (or a run instance) still reports
# (exit code 125, the message as log tail) so the deploy step (or the CLI) does not wait,
# then powers off.
fail() {
  local message="$1"
  say err "ERROR: $message"
  if [[ ($ROLE == release || $ROLE == run) && -z $FAILING ]]; then
    FAILING=1
    if [[ -n $INSTANCE_ID && -n $REGION && -n $WORK ]]; then
      printf '%s: ERROR: %s\n' "$PROG" "$message" >"$WORK/failure.log"
      report_release_run 125 "$WORK/failure.log" || true
    fi
    power_off
  fi
  exit 1
}

# aws_call <stdout-file> <stderr-file> <aws args...>: run the aws CLI. A call AWS
# throttled (exit code 254 or 255 and the error output says so) is tried again after a
# bounded exponential backoff with jitter, AWS_THROTTLED_ATTEMPTS attempts in all.
# Status 0 on success; otherwise 1, with AWS_FAILURE set to what to say about it: the
# error output on one line (as the CLI printed it), or that AWS throttled every attempt.
AWS_FAILURE=''
aws_call() {
  local out="$1" err="$2" attempt=1 code delay
  shift 2
  AWS_FAILURE=''
  while :; do
    code=0
    aws "$@" >"$out" 2>"$err" || code=$?
    ((code == 0)) && return 0
    if ! { ((code == 254 || code == 255)) && aws_throttled "$err"; }; then
      AWS_FAILURE="$(tr '\n' ' ' <"$err" | tail -c 500)"
      return 1
    fi
    if ((attempt >= AWS_THROTTLED_ATTEMPTS)); then
      AWS_FAILURE="throttled by AWS $attempt times, giving up (last error: $(tr '\n' ' ' <"$err" | tail -c 500 \
        | sed -e 's/^ *//' -e 's/ *$//'))"
      return 1
    fi
    delay="$(aws_backoff "$attempt")"
    say warning "aws $1 $2 was throttled (attempt $attempt of $AWS_THROTTLED_ATTEMPTS), retrying in ${delay}s"
    sleep "$delay"
    attempt=$((attempt + 1))
  done
}

# aws_throttled <stderr-file>: status 0 when the aws CLI's error output says AWS throttled.
aws_throttled() {
  grep -Eq 'Throttling|Rate exceeded|RequestLimitExceeded|TooManyRequestsException' "$1"
}

# aws_backoff <attempt>: seconds to wait after the <attempt>th throttled attempt: a random
# time between half of and all of min(AWS_RETRY_CAP_SECONDS, base * 2^(attempt-1)).
aws_backoff() {
  awk -v base="$AWS_RETRY_BASE" -v n="$1" -v cap="$AWS_RETRY_CAP_SECONDS" -v r="$RANDOM" 'BEGIN {
    d = base * 2 ^ (n - 1)
    if (d > cap) d = cap
    printf "%.3f\n", d / 2 + d / 2 * r / 32767
  }'
}

# report_release_run <exit-code> <log-file>: JSON {exitCode, logTail} to Parameter Store
# (release-runs/; a run instance: run-results/, with "lines", the output's line count), the
# tail shortened until the value fits a standard parameter.
report_release_run() {
  local code="$1" log_file="$2" chars="$LOG_TAIL_CHARS" value lines=0 where=release-runs
  if [[ $ROLE == run ]]; then
    where=run-results
    lines="$(awk 'END { print NR }' "$log_file")"
  fi
  while :; do
    value="$(tail -c "$chars" "$log_file" | jq -Rsc --argjson c "$code" --argjson n "$lines" --arg role "$ROLE" \
      'if $role == "run" then {exitCode: $c, logTail: ., lines: $n} else {exitCode: $c, logTail: .} end')"
    [[ ${#value} -le $PARAMETER_VALUE_MAX || $chars -le 0 ]] && break
    chars=$((chars - 500))
  done
  local name="${PARAM_ROOT}/$where/$INSTANCE_ID"
  if ! aws_call /dev/null "$WORK/report.err" ssm put-parameter --name "$name" --type String --overwrite \
    --value "$value" --region "$REGION"; then
    say err "ERROR: cannot report to $name: $AWS_FAILURE"
    return 1
  fi
  return 0
}

power_off() {
  say info "shutting down"
  shutdown -h now || say err "ERROR: shutdown failed"
}

while [[ $# -gt 0 ]]; do
  case "$1" in
    --app) [[ $# -ge 2 ]] || usage; APP="$2"; shift 2 ;;
    --env) [[ $# -ge 2 ]] || usage; ENV_NAME="$2"; shift 2 ;;
    --role) [[ $# -ge 2 ]] || usage; ROLE="$2"; shift 2 ;;
    --region) [[ $# -ge 2 ]] || usage; REGION="$2"; shift 2 ;;
    --log-retention-days) [[ $# -ge 2 ]] || usage; LOG_RETENTION_GIVEN="$2"; shift 2 ;;
    --root) [[ $# -ge 2 ]] || usage; ROOT="$2"; shift 2 ;;
    --command-base64) [[ $# -ge 2 ]] || usage; RUN_COMMAND_B64="$2"; shift 2 ;;
    --run-as) [[ $# -ge 2 ]] || usage; RUN_AS="$2"; shift 2 ;;
    --timeout-seconds) [[ $# -ge 2 ]] || usage; RUN_TIMEOUT="$2"; shift 2 ;;
    -h | --help) usage ;;
    *) echo "$PROG: unknown argument '$1'" >&2; usage ;;
  esac
done
[[ -n $APP && -n $ENV_NAME && -n $ROLE ]] || usage
[[ $APP =~ ^[a-z][a-z0-9-]{0,31}$ ]] || fail "--app '$APP' is invalid (must match ^[a-z][a-z0-9-]{0,31}\$)"
if [[ -n $ROOT ]]; then
  [[ -d $ROOT ]] || fail "--root '$ROOT' is not a directory"
  ROOT="$(cd "$ROOT" && pwd)"
  [[ $ROOT == / ]] && ROOT=''
fi
open_boot_log
[[ $ENV_NAME =~ ^[a-z][a-z0-9-]{0,31}$ ]] || fail "--env '$ENV_NAME' is invalid (must match ^[a-z][a-z0-9-]{0,31}\$)"
case "$ROLE" in
  web | worker | release | run) ;;
  *) ROLE_GIVEN="$ROLE"; ROLE=''; fail "--role '$ROLE_GIVEN' is invalid (must be web, worker, release or run)" ;;
esac
if [[ $ROLE == run ]]; then
  [[ $RUN_AS == web || $RUN_AS == worker ]] || fail "--run-as '$RUN_AS' is invalid (must be web or worker)"
  [[ $RUN_TIMEOUT =~ ^[1-9][0-9]{0,5}$ ]] || fail "--timeout-seconds '$RUN_TIMEOUT' is invalid (must be a whole number of seconds from 1 to 999999)"
  [[ -n $RUN_COMMAND_B64 ]] || fail "--role run needs --command-base64 (the command, base64-encoded)"
  RUN_COMMAND="$(printf '%s' "$RUN_COMMAND_B64" | base64 -d 2>/dev/null)" || RUN_COMMAND=''
  [[ -n ${RUN_COMMAND//[[:space:]]/} ]] || fail "--command-base64 '$RUN_COMMAND_B64' does not decode to a command"
elif [[ -n $RUN_COMMAND_B64 ]]; then
  fail "--command-base64 is only for --role run"
fi
if [[ -n $REGION && ! $REGION =~ ^[a-z0-9-]+$ ]]; then
  fail "--region '$REGION' is invalid"
fi
if [[ ! $AWS_RETRY_BASE =~ ^[0-9]{1,3}(\.[0-9]{1,3})?$ ]]; then
  fail "HERD_BOOT_RETRY_BASE_SECONDS '$AWS_RETRY_BASE' is invalid (must be a number of seconds, like 1 or 0.5)"
fi
if [[ ! $LOG_RETENTION_GIVEN =~ ^[1-9][0-9]{0,3}$ ]] || ((LOG_RETENTION_GIVEN > 3653)); then
  fail "--log-retention-days '$LOG_RETENTION_GIVEN' is invalid (must be an integer from 1 to 3653)"
fi
for days in "${CLOUDWATCH_RETENTION_DAYS[@]}"; do
  if ((days >= LOG_RETENTION_GIVEN)); then
    LOG_RETENTION_DAYS="$days"
    break
  fi
done
if [[ $LOG_RETENTION_DAYS != "$LOG_RETENTION_GIVEN" ]]; then
  say info "--log-retention-days $LOG_RETENTION_GIVEN: logs are kept $LOG_RETENTION_DAYS days (the next retention CloudWatch Logs accepts)"
fi
for tool in aws jq curl setpriv awk sleep $([[ $ROLE == run ]] && echo timeout base64); do
  command -v "$tool" >/dev/null 2>&1 || fail "required command '$tool' not found on PATH"
done
WORK="$(mktemp -d "${TMPDIR:-/tmp}/herd-boot.XXXXXX")"

readonly APP_DIR="/srv/$APP"
readonly CURRENT="$ROOT$APP_DIR/current"
readonly ENV_FILE="$ROOT/etc/herd/$APP.env"
readonly PARAM_ROOT="/herd/$APP/$ENV_NAME"
readonly UNIT="$APP-$ROLE.service"

# ---------------------------------------------------------------------------------
# What the image holds: its release and the Procfile of that release.
# ---------------------------------------------------------------------------------
release_file="$ROOT/etc/herd/release"
[[ -f $release_file ]] || fail "$release_file not found: this image holds no herd release (run bake.sh)"
image_app="$(sed -n 's/^HERD_APP=//p' "$release_file")"
RELEASE_ID="$(sed -n 's/^HERD_RELEASE=//p' "$release_file")"
[[ $image_app == "$APP" ]] || fail "this image holds app '$image_app', not '$APP'"
[[ -n $RELEASE_ID ]] || fail "$release_file names no release"
[[ -f $CURRENT/Procfile ]] || fail "$CURRENT/Procfile not found"

# procfile_command <process>: print the command of <process>; status 1 when absent.
procfile_command() {
  local line
  while IFS= read -r line || [[ -n $line ]]; do
    line="${line%$'\r'}"
    if [[ $line =~ ^([a-z][a-z0-9_-]*):[[:space:]]*(.*)$ && ${BASH_REMATCH[1]} == "$1" ]]; then
      printf '%s\n' "${BASH_REMATCH[2]}"
      return 0
    fi
  done <"$CURRENT/Procfile"
  return 1
}

RELEASE_COMMAND=''
case "$ROLE" in
  web | worker)
    procfile_command "$ROLE" >/dev/null \
      || fail "role '$ROLE': the Procfile of release $RELEASE_ID defines no '$ROLE:' process"
    [[ -f $ROOT/etc/systemd/system/$UNIT ]] \
      || fail "role '$ROLE': unit $UNIT not found in this image"
    ;;
  release)
    RELEASE_COMMAND="$(procfile_command release || true)"
    ;;
esac

# ---------------------------------------------------------------------------------
# Instance identity (IMDSv2).
# ---------------------------------------------------------------------------------
imds_get() {
  local token
  token="$(curl -sS -f --max-time 5 --retry 2 -X PUT "$IMDS/latest/api/token" \
    -H 'X-aws-ec2-metadata-token-ttl-seconds: 300')" || return 1
  curl -sS -f --max-time 5 --retry 2 -H "X-aws-ec2-metadata-token: $token" "$IMDS/latest/meta-data/$1"
}
INSTANCE_ID="$(imds_get instance-id 2>"$WORK/imds.err")" \
  || fail "cannot read the instance id from the instance metadata service ($IMDS): $(tr '\n' ' ' <"$WORK/imds.err")"
[[ $INSTANCE_ID =~ ^[A-Za-z0-9-]+$ ]] || fail "unexpected instance id from the metadata service: '$INSTANCE_ID'"
if [[ -z $REGION ]]; then
  REGION="$(imds_get placement/region 2>"$WORK/imds.err")" \
    || fail "cannot read the region from the instance metadata service: $(tr '\n' ' ' <"$WORK/imds.err")"
fi

# ---------------------------------------------------------------------------------
# Configuration from Parameter Store and Secrets Manager.
# ---------------------------------------------------------------------------------
# aws_json <output-file> <what> <aws args...>: run the aws CLI (retried when throttled),
# fail loudly on error.
aws_json() {
  local out="$1" what="$2"
  shift 2
  if ! aws_call "$out" "$WORK/aws.err" "$@" --region "$REGION" --output json; then
    fail "cannot read $what: $AWS_FAILURE"
  fi
  jq -e . "$out" >/dev/null 2>&1 || fail "cannot read $what: the aws CLI did not return JSON"
}

readonly ENV_PREFIX="$PARAM_ROOT/env/"
readonly SECRET_PREFIX="$PARAM_ROOT/secret-env/"
aws_json "$WORK/env.json" "parameters under $ENV_PREFIX" \
  ssm get-parameters-by-path --path "$ENV_PREFIX" --recursive --with-decryption
aws_json "$WORK/secret-env.json" "parameters under $SECRET_PREFIX" \
  ssm get-parameters-by-path --path "$SECRET_PREFIX" --recursive --with-decryption
if [[ $ROLE == release || $ROLE == run ]]; then
  # Migrations and one-off commands own the schema: the owner's variables replace the
  # application's (web and worker never read them, nor may they read the owner's secret).
  readonly OWNER_PREFIX="$PARAM_ROOT/secret-env-owner/"
  aws_json "$WORK/secret-env-owner.json" "parameters under $OWNER_PREFIX" \
    ssm get-parameters-by-path --path "$OWNER_PREFIX" --recursive --with-decryption
  jq -s '(.[1].Parameters // [] | map(.Name | split("/") | last)) as $owned
    | {Parameters: ([.[0].Parameters // [] | .[] | select((.Name | split("/") | last) as $n | $owned | index([$n]) | not)]
        + (.[1].Parameters // []))}' \
    "$WORK/secret-env.json" "$WORK/secret-env-owner.json" >"$WORK/secret-env-merged.json" \
    || fail "cannot merge the parameters under $OWNER_PREFIX"
  mv -f "$WORK/secret-env-merged.json" "$WORK/secret-env.json"
fi

env_count="$(jq '.Parameters // [] | length' "$WORK/env.json")"
[[ $env_count -gt 0 ]] \
  || fail "no parameters under $ENV_PREFIX: environment '$ENV_NAME' of '$APP' is not configured"

declare -A SEEN=()
check_name() {
  local name="$1" param="$2"
  [[ $name =~ ^[A-Za-z_][A-Za-z0-9_]*$ ]] \
    || fail "parameter $param: '$name' is not a valid environment variable name"
  [[ $name != HERD_* ]] || fail "parameter $param: variables named HERD_* are reserved for herd"
  [[ -z ${SEEN[$name]+set} ]] || fail "parameter $param: variable $name is defined twice (in ${SEEN[$name]})"
  SEEN[$name]="$param"
}

# shellcheck disable=SC2016  # jq program, not shell
readonly JQ_QUOTE='def q: "\"" + (split("\\") | join("\\\\") | split("\"") | join("\\\"")
  | split("`") | join("\\`") | split("$") | join("\\$")) + "\"";'

# The env file: KEY="value" lines whose quoting means the same to systemd's
# EnvironmentFile= and to bash: inside double quotes, \ " ` $ are backslash-escaped.
install -d -m 0755 "$ROOT/etc" "$ROOT/etc/herd"
PENDING_FILE="$(mktemp "$ROOT/etc/herd/.$APP.env.XXXXXX")"
chmod 0600 "$PENDING_FILE"
{
  echo "# Rendered by herd-boot from $PARAM_ROOT; do not edit."
  # A run instance gets the environment of the role it runs as.
  printf 'HERD_APP=%s\nHERD_ENV=%s\nHERD_ROLE=%s\nHERD_RELEASE=%s\nHERD_INSTANCE_ID=%s\n' \
    "$APP" "$ENV_NAME" "$([[ $ROLE == run ]] && echo "$RUN_AS" || echo "$ROLE")" "$RELEASE_ID" "$INSTANCE_ID"
} >>"$PENDING_FILE"

while IFS=$'\t' read -r param name; do
  check_name "$name" "$param"
done < <(jq -r '.Parameters[] | [.Name, (.Name | split("/") | last)] | @tsv' "$WORK/env.json")
jq -r "$JQ_QUOTE"' .Parameters | sort_by(.Name) | .[] | "\(.Name | split("/") | last)=\(.Value | q)"' \
  "$WORK/env.json" >>"$PENDING_FILE"

declare -A SECRET_FILES=()
secret_index=0
while IFS=$'\t' read -r param name ref; do
  check_name "$name" "$param"
  arn="${ref%%#*}"
  key=''
  [[ $ref == *'#'* ]] && key="${ref#*#}"
  [[ -n $arn ]] || fail "parameter $param: empty secret reference (expected <secret-arn> or <secret-arn>#<json-key>)"
  if [[ -z ${SECRET_FILES[$arn]+set} ]]; then
    secret_index=$((secret_index + 1))
    SECRET_FILES[$arn]="$WORK/secret-$secret_index.json"
    aws_json "${SECRET_FILES[$arn]}" "secret $arn (for $name)" \
      secretsmanager get-secret-value --secret-id "$arn"
  fi
  secret_file="${SECRET_FILES[$arn]}"
  jq -e '.SecretString | type == "string"' "$secret_file" >/dev/null \
    || fail "secret $arn (for $name) has no SecretString"
  if [[ -z $key ]]; then
    jq -r --arg n "$name" "$JQ_QUOTE"' "\($n)=\(.SecretString | q)"' "$secret_file" >>"$PENDING_FILE"
  else
    jq -e --arg k "$key" '.SecretString | fromjson? | objects | has($k)' "$secret_file" >/dev/null \
      || fail "secret $arn (for $name) has no JSON key '$key'"
    jq -r --arg n "$name" --arg k "$key" "$JQ_QUOTE"' .SecretString | fromjson | .[$k]
      | "\($n)=\(if type == "string" then . else tojson end | q)"' "$secret_file" >>"$PENDING_FILE"
  fi
done < <(jq -r '.Parameters // [] | sort_by(.Name) | .[] | [.Name, (.Name | split("/") | last), .Value] | @tsv' \
  "$WORK/secret-env.json")

[[ -n ${SEEN[PORT]+set} ]] || echo 'PORT=8000' >>"$PENDING_FILE"
chown 0:0 "$PENDING_FILE"
chmod 0600 "$PENDING_FILE"
mv -f -- "$PENDING_FILE" "$ENV_FILE"
PENDING_FILE=''
say info "rendered $ENV_FILE for $APP/$ENV_NAME (release $RELEASE_ID, role $ROLE)"

# ---------------------------------------------------------------------------------
# Log shipping for this environment.
# ---------------------------------------------------------------------------------
template="$ROOT/opt/herd/share/$APP/cloudwatch-agent.json.tmpl"
agent_config="$ROOT/etc/herd/$APP.cloudwatch-agent.json"
if [[ -f $template ]]; then
  PENDING_FILE="$(mktemp "$ROOT/etc/herd/.$APP.cloudwatch-agent.XXXXXX")"
  # The retention placeholder is a JSON string in the template: replaced quotes included
  # (a bare placeholder too), so the agent reads a number.
  sed -e "s/@HERD_ENV@/$ENV_NAME/g" \
    -e "s/\"@HERD_LOG_RETENTION_DAYS@\"/$LOG_RETENTION_DAYS/g" \
    -e "s/@HERD_LOG_RETENTION_DAYS@/$LOG_RETENTION_DAYS/g" "$template" >"$PENDING_FILE"
  if [[ $ROLE == run ]]; then
    # The command's output: its own group (images baked before `herd run` existed have no entry for it).
    jq --arg f "/var/log/herd/$APP/run.log" --arg g "/herd/$APP/$ENV_NAME/run" --argjson d "$LOG_RETENTION_DAYS" \
      '.logs.logs_collected.files.collect_list |= ((. // []) | map(select(.file_path != $f)) + [{file_path: $f,
        log_group_name: $g, log_stream_name: "{instance_id}", timezone: "UTC", retention_in_days: $d}])' \
      "$PENDING_FILE" >"$PENDING_FILE.run" || fail "cannot add the run log to $agent_config"
    mv -f -- "$PENDING_FILE.run" "$PENDING_FILE"
  fi
  chmod 0644 "$PENDING_FILE"
  mv -f -- "$PENDING_FILE" "$agent_config"
  PENDING_FILE=''
  agent_ctl="$(command -v amazon-cloudwatch-agent-ctl || true)"
  if [[ -z $agent_ctl && -z $ROOT && -x /opt/aws/amazon-cloudwatch-agent/bin/amazon-cloudwatch-agent-ctl ]]; then
    agent_ctl=/opt/aws/amazon-cloudwatch-agent/bin/amazon-cloudwatch-agent-ctl
  fi
  if [[ -z $agent_ctl ]]; then
    say warning "amazon-cloudwatch-agent is not installed (bake.sh installs it): logs stay in /var/log/herd/$APP"
  elif ! "$agent_ctl" -a fetch-config -m ec2 -s -c "file:${agent_config#"$ROOT"}" >"$WORK/agent.log" 2>&1; then
    say warning "amazon-cloudwatch-agent did not load $agent_config: $(tail -c 300 "$WORK/agent.log")"
  fi
else
  say warning "$template not found: logs are not shipped"
fi

# ---------------------------------------------------------------------------------
# Start the role.
# ---------------------------------------------------------------------------------
if [[ $ROLE == web || $ROLE == worker ]]; then
  systemctl enable --now "$UNIT" 2>"$WORK/systemctl.err" \
    || fail "systemctl enable --now $UNIT failed: $(tr '\n' ' ' <"$WORK/systemctl.err")"
  say info "started $UNIT"
  exit 0
fi

install -d -m 0755 "$ROOT/var" "$ROOT/var/log" "$ROOT/var/log/herd"
[[ -d $ROOT/var/log/herd/$APP ]] || install -d -m 0750 "$ROOT/var/log/herd/$APP"

# run_as_app <log-file> <command> [<wrapper>...]: <command> once as the app user, in a clean
# environment (the rendered env file, sourced as root, which can read it), in the release
# directory, like the units; its output to <log-file>. Status: the command's.
run_as_app() {
  local log_file="$1" command="$2" app_uid app_gid
  shift 2
  app_uid="$(awk -F: -v u="$APP" '$1 == u { print $3 }' "$ROOT/etc/passwd")"
  app_gid="$(awk -F: -v u="$APP" '$1 == u { print $4 }' "$ROOT/etc/passwd")"
  [[ $app_uid =~ ^[0-9]+$ && $app_gid =~ ^[0-9]+$ ]] || fail "user '$APP' not found in $ROOT/etc/passwd"
  # shellcheck disable=SC2016  # expanded by the inner bash
  "$@" env -i "PATH=$ROOT$APP_DIR/current/.venv/bin:$ROOT$APP_DIR/current/bin:$APP_PATH_DIRS" \
    LANG=C.UTF-8 PYTHONUNBUFFERED=1 "HOME=$APP_DIR" \
    /bin/bash -c 'set -a && . "$1" && set +a && cd "$2" &&
      exec setpriv --reuid="$3" --regid="$4" --clear-groups -- /bin/bash -c "$5"' \
    "herd-$ROLE" "$ENV_FILE" "$CURRENT" "$app_uid" "$app_gid" "$command" \
    </dev/null >"$log_file" 2>&1
}

if [[ $ROLE == run ]]; then
  readonly RUN_LOG="$ROOT/var/log/herd/$APP/run.log"
  say info "running as $RUN_AS (timeout ${RUN_TIMEOUT}s): $RUN_COMMAND"
  set +e
  # timeout: TERM after the limit (exit 124), KILL 30 s later if the command ignores it.
  run_as_app "$RUN_LOG" "$RUN_COMMAND" timeout --kill-after=30 "$RUN_TIMEOUT"
  exit_code=$?
  set -e
  ((exit_code == 124)) && printf '%s: the command ran longer than %ss and was stopped\n' "$PROG" "$RUN_TIMEOUT" >>"$RUN_LOG"
  reported=0
  report_release_run "$exit_code" "$RUN_LOG" || reported=1
  say info "HERD-RUN app=$APP env=$ENV_NAME release=$RELEASE_ID instance=$INSTANCE_ID exitCode=$exit_code"
  # The agent ships every few seconds: give it the last lines before the instance goes.
  sleep "${HERD_RUN_FLUSH_SECONDS:-10}"
  power_off
  ((reported == 0)) || exit 1
  exit "$exit_code"
fi

readonly RELEASE_LOG="$ROOT/var/log/herd/$APP/release.log"
if [[ -z $RELEASE_COMMAND ]]; then
  echo "$PROG: the Procfile of release $RELEASE_ID defines no release: process; nothing to run" >"$RELEASE_LOG"
  exit_code=0
else
  say info "running release: $RELEASE_COMMAND"
  set +e
  run_as_app "$RELEASE_LOG" "$RELEASE_COMMAND"
  exit_code=$?
  set -e
fi

reported=0
report_release_run "$exit_code" "$RELEASE_LOG" || reported=1
say info "HERD-RELEASE-RUN app=$APP env=$ENV_NAME release=$RELEASE_ID instance=$INSTANCE_ID exitCode=$exit_code"
power_off
if [[ $reported -ne 0 ]]; then
  exit 1
fi
exit "$exit_code"
