#!/usr/bin/env bash
# herd bake: install one release of an app into an image (or a scratch root).
#
#   bake.sh --app <app> --artifact <tarball-or-dir> [--label <label>] [--root <dir>]
#           [--layer base|release --provision <sha256|none>]
#
# The artifact is a directory or a .tar.gz whose root holds the app (see "App contract"
# in docs). bake.sh validates it, installs it into
#   $ROOT/srv/<app>/releases/<release-id>        (owned by the app user)
#   $ROOT/srv/<app>/current -> releases/<release-id>
# runs `herd/provision` (root) then `herd/build` (app user) in the release directory,
# creates the app's system user, writes one systemd unit per long-running Procfile
# process, the log shipping template, the boot script (/opt/herd/bin/herd-boot) and
# /etc/herd/release. It writes no secret and no environment setting: the image is
# environment-agnostic; herd-boot renders the environment at boot.
#
# Layers (herd's layered bake, lambda/deploy/base-image.ts). Without --layer, everything
# above in one go. --provision is the SHA-256 of the artifact's herd/provision (`none`
# without one), as the artifact's herd-provision metadata says; the artifact is refused
# (exit 3) when its herd/provision does not match it.
#   --layer base: a base image: the CloudWatch agent, the app's user and `herd/provision`
#     (run in a release directory that is removed afterwards), then /etc/herd/base
#     (HERD_APP, HERD_PROVISION); no release, unit, boot script or current symlink.
#   --layer release: on a base image: refused (exit 3) unless /etc/herd/base names this app
#     and --provision; everything but `herd/provision`, which the base ran.
#
# Log shipping: Amazon Linux 2023 does not ship the CloudWatch agent, so bake.sh installs
# the package amazon-cloudwatch-agent with `dnf install -y` (`dnf --installroot <root>`
# with --root) unless /opt/aws/amazon-cloudwatch-agent/bin/amazon-cloudwatch-agent-ctl is
# already there; it does so before writing anything else, so a failed install leaves no
# release behind (exit 1). It writes the agent's configuration template
# /opt/herd/share/<app>/cloudwatch-agent.json.tmpl: one entry per Procfile process (and
# `release`, which herd-boot logs even without a release: line), each
# /var/log/herd/<app>/<process>.log to the log group /herd/<app>/@HERD_ENV@/<process>;
# herd-boot's own /var/log/herd/<app>/boot.log and cloud-init's
# /var/log/cloud-init-output.log to /herd/<app>/@HERD_ENV@/boot (streams "{instance_id}"
# and "{instance_id}-cloud-init"). Every entry has
# "retention_in_days": "@HERD_LOG_RETENTION_DAYS@" (a JSON string in the template, so
# that it stays JSON; herd-boot replaces it, quotes included, with a number) and
# herd-boot replaces @HERD_ENV@. A Procfile process may therefore not be named `boot`.
#
# Release id (the TypeScript `releaseIdOfTree` in lib/release-id.ts computes the same):
#   1. extract the artifact as is (a tarball's members relative to its root, a
#      directory's content);
#   2. in the root of that tree run
#        find . -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum | sha256sum
#      i.e. the SHA-256 of the concatenated lines "<sha256 of file>  ./<path>\n" of
#      every regular file (symlinks and directories are not hashed; modes, owners and
#      times do not count), sorted by the bytes of "./<path>";
#   3. hash12 = the first 12 hex characters of that digest;
#   4. release id = "<label>-<hash12>" when --label is given, else "<hash12>".
#      A label matches ^[a-z0-9][a-z0-9.-]{0,31}$.
# The hash is taken before herd/build runs. File names holding a backslash or a control
# character are refused (sha256sum would escape them).
#
# Exit codes: 0 installed (release id on the last stdout line), 2 bad usage,
# 3 artifact refused (nothing installed), 1 any other failure.
set -euo pipefail

readonly PROG='herd bake'
readonly APP_PATH_DIRS='/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
readonly HERE

usage() {
  echo "usage: bake.sh --app <app> --artifact <tarball-or-dir> [--label <label>] [--root <dir>] [--layer base|release --provision <sha256|none>]" >&2
  exit 2
}
die_usage() {
  echo "$PROG: $*" >&2
  exit 2
}
refuse() {
  echo "$PROG: artifact refused: $*" >&2
  exit 3
}
die() {
  echo "$PROG: $*" >&2
  exit 1
}
log() {
  echo "$PROG: $*" >&2
}

APP=''
ARTIFACT=''
LABEL=''
ROOT=''
LAYER=''
PROVISION=''
while [[ $# -gt 0 ]]; do
  case "$1" in
    --app) [[ $# -ge 2 ]] || usage; APP="$2"; shift 2 ;;
    --artifact) [[ $# -ge 2 ]] || usage; ARTIFACT="$2"; shift 2 ;;
    --label) [[ $# -ge 2 ]] || usage; LABEL="$2"; shift 2 ;;
    --root) [[ $# -ge 2 ]] || usage; ROOT="$2"; shift 2 ;;
    --layer) [[ $# -ge 2 ]] || usage; LAYER="$2"; shift 2 ;;
    --provision) [[ $# -ge 2 ]] || usage; PROVISION="$2"; shift 2 ;;
    -h | --help) usage ;;
    *) die_usage "unknown argument '$1'" ;;
  esac
done
[[ -n $APP && -n $ARTIFACT ]] || usage
[[ $APP =~ ^[a-z][a-z0-9-]{0,31}$ ]] \
  || die_usage "--app '$APP' is invalid (must match ^[a-z][a-z0-9-]{0,31}\$)"
if [[ -n $LABEL && ! $LABEL =~ ^[a-z0-9][a-z0-9.-]{0,31}$ ]]; then
  die_usage "--label '$LABEL' is invalid (must match ^[a-z0-9][a-z0-9.-]{0,31}\$)"
fi
if [[ -n $LAYER && $LAYER != base && $LAYER != release ]]; then
  die_usage "--layer '$LAYER' is invalid (base or release)"
fi
if [[ -n $LAYER && ! $PROVISION =~ ^([0-9a-f]{64}|none)$ ]]; then
  die_usage "--layer $LAYER needs --provision <sha256 of herd/provision, or none> (received '$PROVISION')"
fi
[[ -z $PROVISION || -n $LAYER ]] || die_usage "--provision goes with --layer"
if [[ -n $ROOT ]]; then
  [[ -d $ROOT ]] || die_usage "--root '$ROOT' is not a directory"
  ROOT="$(cd "$ROOT" && pwd)"
  [[ $ROOT == / ]] && ROOT=''
fi
[[ $(id -u) -eq 0 ]] || die "must run as root (it creates a user and installs system files)"
for tool in jq tar sha256sum useradd groupadd setpriv; do
  command -v "$tool" >/dev/null 2>&1 || die "required command '$tool' not found on PATH"
done

STAGING=''
BUILD_HOME=''
PENDING_FILE=''
cleanup() {
  [[ -n $STAGING ]] && rm -rf -- "$STAGING"
  [[ -n $BUILD_HOME ]] && rm -rf -- "$BUILD_HOME"
  [[ -n $PENDING_FILE ]] && rm -f -- "$PENDING_FILE"
  return 0
}
trap cleanup EXIT

# ---------------------------------------------------------------------------------
# 1. Unpack into a private staging directory and check the contract there.
# ---------------------------------------------------------------------------------
STAGING="$(mktemp -d "${TMPDIR:-/tmp}/herd-bake.XXXXXX")"
if [[ -d $ARTIFACT ]]; then
  cp -a -- "$ARTIFACT/." "$STAGING/"
elif [[ -f $ARTIFACT && ( $ARTIFACT == *.tar.gz || $ARTIFACT == *.tgz ) ]]; then
  tar -xzf "$ARTIFACT" -C "$STAGING" --no-same-owner \
    || refuse "$ARTIFACT: cannot be extracted as a .tar.gz"
else
  refuse "$ARTIFACT: not a directory or a .tar.gz file"
fi

bad_name="$(cd "$STAGING" && LC_ALL=C find . \( -name '*[[:cntrl:]]*' -o -name '*\\*' \) -print -quit)"
if [[ -n $bad_name ]]; then
  refuse "$(printf '%q' "$bad_name"): file name contains a backslash or a control character"
fi

# Procfile: "<process>: <command>" lines; blank lines and "#" comments are ignored.
declare -a PROC_NAMES=()
declare -A PROC_COMMANDS=()
procfile="$STAGING/Procfile"
if [[ -L $procfile || ( -e $procfile && ! -f $procfile ) ]]; then
  refuse "Procfile: must be a regular file"
fi
[[ -f $procfile ]] || refuse "Procfile: not found at the artifact's root"
line_no=0
while IFS= read -r line || [[ -n $line ]]; do
  line_no=$((line_no + 1))
  line="${line%$'\r'}"
  [[ $line =~ ^[[:space:]]*(#.*)?$ ]] && continue
  if [[ ! $line =~ ^([^:[:space:]]+):[[:space:]]*(.*)$ ]]; then
    refuse "Procfile line $line_no: malformed, expected '<process>: <command>'"
  fi
  name="${BASH_REMATCH[1]}"
  command="${BASH_REMATCH[2]}"
  command="${command%"${command##*[![:space:]]}"}"
  [[ $name =~ ^[a-z][a-z0-9_-]*$ ]] \
    || refuse "Procfile line $line_no: process name '$name' is invalid (must match [a-z][a-z0-9_-]*)"
  [[ $name != boot ]] \
    || refuse "Procfile line $line_no: process name 'boot' is reserved (herd-boot logs to /var/log/herd/<app>/boot.log)"
  [[ -n $command ]] || refuse "Procfile line $line_no: process '$name' has an empty command"
  [[ -z ${PROC_COMMANDS[$name]+set} ]] \
    || refuse "Procfile line $line_no: process '$name' is defined twice"
  PROC_NAMES+=("$name")
  PROC_COMMANDS[$name]="$command"
done <"$procfile"
[[ -n ${PROC_COMMANDS[web]+set} ]] || refuse "Procfile: no web process (a 'web:' line is required)"

for hook in herd/build herd/provision; do
  path="$STAGING/$hook"
  if [[ -L $path || ( -e $path && ! -f $path ) ]]; then
    refuse "$hook: must be a regular file"
  fi
  if [[ -f $path && ! -x $path ]]; then
    refuse "$hook: present but not executable (chmod +x $hook)"
  fi
done

# ---------------------------------------------------------------------------------
# 2. Release id (see the header).
# ---------------------------------------------------------------------------------
tree_hash="$(cd "$STAGING" && find . -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum | sha256sum)"
hash12="${tree_hash:0:12}"
if [[ -n $LABEL ]]; then
  RELEASE_ID="$LABEL-$hash12"
else
  RELEASE_ID="$hash12"
fi

APP_DIR="/srv/$APP"
RELEASE_DIR="$APP_DIR/releases/$RELEASE_ID"
LOG_DIR="/var/log/herd/$APP"
log "app $APP, release $RELEASE_ID${LAYER:+, layer $LAYER}"

# Layers: the artifact's herd/provision is the one --provision names; a release layer
# needs the base image of that herd/provision. Checked before anything is written.
readonly BASE_RECORD="$ROOT/etc/herd/base"
if [[ -n $LAYER ]]; then
  actual='none'
  if [[ -f $STAGING/herd/provision ]]; then
    actual="$(sha256sum <"$STAGING/herd/provision")"
    actual="${actual%% *}"
  fi
  [[ $actual == "$PROVISION" ]] \
    || refuse "herd/provision has SHA-256 $actual, not --provision $PROVISION (the artifact's herd-provision metadata): upload the artifact with herd deploy or herd bake"
fi
if [[ $LAYER == release ]]; then
  [[ -f $BASE_RECORD ]] || refuse "--layer release: $BASE_RECORD not found: this image is not a herd base image"
  base_app="$(sed -n 's/^HERD_APP=//p' "$BASE_RECORD")"
  base_provision="$(sed -n 's/^HERD_PROVISION=//p' "$BASE_RECORD")"
  [[ $base_app == "$APP" ]] || refuse "--layer release: the base image is app '$base_app''s, not '$APP''s"
  [[ $base_provision == "$PROVISION" ]] \
    || refuse "--layer release: the base image was provisioned with herd/provision $base_provision, not $PROVISION"
fi

# ---------------------------------------------------------------------------------
# 3. The CloudWatch agent (Amazon Linux 2023 does not ship it), installed with dnf when
#    the image lacks it, before anything else is written: a failed install leaves no
#    release behind.
# ---------------------------------------------------------------------------------
readonly AGENT_PACKAGE='amazon-cloudwatch-agent'
readonly AGENT_CTL='/opt/aws/amazon-cloudwatch-agent/bin/amazon-cloudwatch-agent-ctl'
if [[ -x $ROOT$AGENT_CTL ]]; then
  log "$AGENT_PACKAGE is installed"
else
  command -v dnf >/dev/null 2>&1 \
    || die "cannot install $AGENT_PACKAGE: dnf not found on PATH; release $RELEASE_ID not installed"
  dnf_args=(install -y "$AGENT_PACKAGE")
  [[ -n $ROOT ]] && dnf_args=(--installroot "$ROOT" "${dnf_args[@]}")
  log "installing $AGENT_PACKAGE: dnf ${dnf_args[*]}"
  dnf_status=0
  dnf "${dnf_args[@]}" </dev/null >&2 || dnf_status=$?
  [[ $dnf_status -eq 0 ]] \
    || die "cannot install $AGENT_PACKAGE: dnf ${dnf_args[*]} failed (exit $dnf_status); release $RELEASE_ID not installed"
  [[ -x $ROOT$AGENT_CTL ]] \
    || die "cannot install $AGENT_PACKAGE: dnf succeeded but $ROOT$AGENT_CTL is missing; release $RELEASE_ID not installed"
fi

# ---------------------------------------------------------------------------------
# 4. The app user: a system user and group named after the app, no login.
# ---------------------------------------------------------------------------------
prefix_args=()
[[ -n $ROOT ]] && prefix_args=(--prefix "$ROOT")
if ! grep -q "^$APP:" "$ROOT/etc/group"; then
  groupadd --system "${prefix_args[@]}" "$APP"
fi
if ! grep -q "^$APP:" "$ROOT/etc/passwd"; then
  useradd --system "${prefix_args[@]}" --gid "$APP" --no-create-home \
    --home-dir "$APP_DIR" --shell /usr/sbin/nologin --comment "herd app $APP" "$APP"
fi
APP_UID="$(awk -F: -v u="$APP" '$1 == u { print $3 }' "$ROOT/etc/passwd")"
APP_GID="$(awk -F: -v g="$APP" '$1 == g { print $3 }' "$ROOT/etc/group")"
[[ $APP_UID =~ ^[0-9]+$ && $APP_GID =~ ^[0-9]+$ ]] || die "cannot find the uid/gid of user '$APP'"

# put_file <path> <mode> <uid:gid>: write stdin to <path> atomically, only if it differs.
put_file() {
  local path="$1" mode="$2" owner="$3"
  PENDING_FILE="$(mktemp "$(dirname "$path")/.herd-bake.XXXXXX")"
  cat >"$PENDING_FILE"
  chmod "$mode" "$PENDING_FILE"
  chown "$owner" "$PENDING_FILE"
  if [[ -f $path && ! -L $path ]] && cmp -s "$PENDING_FILE" "$path" \
    && [[ $(stat -c '%a %u:%g' "$path") == "$(stat -c '%a %u:%g' "$PENDING_FILE")" ]]; then
    rm -f -- "$PENDING_FILE"
  else
    mv -f -- "$PENDING_FILE" "$path"
  fi
  PENDING_FILE=''
}

# ---------------------------------------------------------------------------------
# 5. The release directory, provision, build.
# ---------------------------------------------------------------------------------
install -d -m 0755 -o 0 -g 0 "$ROOT/srv" "$ROOT$APP_DIR" "$ROOT$APP_DIR/releases"
readonly BUILT_MARKER="$ROOT$RELEASE_DIR/.herd-built"

# Hooks run with a clean environment: no variable of the caller leaks into the image,
# except proxies and pip settings, which builds behind a proxy or a mirror need.
hook_env() {
  local -a env_args=(
    "PATH=$APP_PATH_DIRS" "LANG=C.UTF-8" "HERD_APP=$APP" "HERD_RELEASE=$RELEASE_ID"
    "HERD_RELEASE_DIR=$RELEASE_DIR" "HERD_ROOT=${ROOT:-/}"
  )
  local name
  while IFS= read -r name; do
    env_args+=("$name=${!name}")
  done < <(compgen -e | grep -E '^(https?_proxy|HTTPS?_PROXY|no_proxy|NO_PROXY|PIP_[A-Z0-9_]+)$' || true)
  printf '%s\0' "${env_args[@]}"
}

if [[ $LAYER != base && -f $BUILT_MARKER && $(cat "$BUILT_MARKER") == "$RELEASE_ID" ]]; then
  log "release $RELEASE_ID already installed and built; skipping provision and build"
else
  rm -rf -- "${ROOT:?}$RELEASE_DIR"
  install -d -m 0755 "$ROOT$RELEASE_DIR"
  cp -a -- "$STAGING/." "$ROOT$RELEASE_DIR/"
  chown -R "$APP_UID:$APP_GID" "$ROOT$RELEASE_DIR"
  mapfile -d '' -t HOOK_ENV < <(hook_env)

  if [[ $LAYER == release ]]; then
    log "herd/provision: run by the base image ($PROVISION)"
  elif [[ -f $ROOT$RELEASE_DIR/herd/provision ]]; then
    log "running herd/provision as root"
    if ! (cd "$ROOT$RELEASE_DIR" && env -i "${HOOK_ENV[@]}" ./herd/provision) >&2; then
      rm -rf -- "${ROOT:?}$RELEASE_DIR"
      die "herd/provision failed; release $RELEASE_ID not installed"
    fi
  fi
  if [[ $LAYER == base ]]; then
    # A base image holds what herd/provision did, not the release.
    rm -rf -- "${ROOT:?}$RELEASE_DIR"
    install -d -m 0755 "$ROOT/etc" "$ROOT/etc/herd"
    printf 'HERD_APP=%s\nHERD_PROVISION=%s\n' "$APP" "$PROVISION" | put_file "$BASE_RECORD" 0644 0:0
    log "baked the base image of $APP (herd/provision $PROVISION)"
    printf '%s\n' "$RELEASE_ID"
    exit 0
  fi
  if [[ -f $ROOT$RELEASE_DIR/herd/build ]]; then
    log "running herd/build as $APP"
    BUILD_HOME="$(mktemp -d "${TMPDIR:-/tmp}/herd-build-home.XXXXXX")"
    chown "$APP_UID:$APP_GID" "$BUILD_HOME"
    if ! (cd "$ROOT$RELEASE_DIR" && env -i "${HOOK_ENV[@]}" "HOME=$BUILD_HOME" \
      setpriv --reuid="$APP_UID" --regid="$APP_GID" --clear-groups -- ./herd/build) >&2; then
      rm -rf -- "${ROOT:?}$RELEASE_DIR"
      die "herd/build failed; release $RELEASE_ID not installed"
    fi
    rm -rf -- "$BUILD_HOME"
    BUILD_HOME=''
  fi
  printf '%s\n' "$RELEASE_ID" | put_file "$BUILT_MARKER" 0644 0:0
fi

# ---------------------------------------------------------------------------------
# 6. systemd units: one per Procfile process except `release` (herd-boot runs it once).
# ---------------------------------------------------------------------------------
readonly UNIT_DIR="$ROOT/etc/systemd/system"
readonly UNIT_MARKER='# Generated by herd bake; do not edit.'
install -d -m 0755 "$ROOT/etc" "$ROOT/etc/systemd" "$UNIT_DIR"
install -d -m 0755 -o 0 -g 0 "$ROOT/var/log/herd"
install -d -m 0750 -o 0 -g "$APP_GID" "$ROOT$LOG_DIR"

# Quote a command for ExecStart: double quotes with C escapes, and %/$ doubled so that
# systemd passes them through to bash (which expands $PORT from the EnvironmentFile).
unit_quote() {
  local s="$1"
  s="${s//\\/\\\\}"
  s="${s//\"/\\\"}"
  s="${s//%/%%}"
  s="${s//\$/\$\$}"
  printf '"%s"' "$s"
}

declare -A WANTED_UNITS=()
for name in "${PROC_NAMES[@]}"; do
  [[ $name == release ]] && continue
  unit="$APP-$name.service"
  WANTED_UNITS[$unit]=1
  put_file "$UNIT_DIR/$unit" 0644 0:0 <<EOF
$UNIT_MARKER
# Procfile: $name: ${PROC_COMMANDS[$name]}
[Unit]
Description=herd $APP $name process
After=network-online.target
Wants=network-online.target

[Service]
Type=simple
User=$APP
Group=$APP
WorkingDirectory=$APP_DIR/current
Environment=PATH=$APP_DIR/current/.venv/bin:$APP_DIR/current/bin:$APP_PATH_DIRS
Environment=LANG=C.UTF-8
Environment=PYTHONUNBUFFERED=1
EnvironmentFile=/etc/herd/$APP.env
ExecStart=/bin/bash -c $(unit_quote "${PROC_COMMANDS[$name]}")
Restart=on-failure
RestartSec=2
StandardOutput=append:$LOG_DIR/$name.log
StandardError=inherit
UMask=0027
NoNewPrivileges=yes
ProtectSystem=strict
ProtectHome=yes
PrivateTmp=yes
PrivateDevices=yes
ProtectKernelTunables=yes
ProtectKernelModules=yes
ProtectKernelLogs=yes
ProtectControlGroups=yes
ProtectClock=yes
ProtectHostname=yes
RestrictSUIDSGID=yes
RestrictRealtime=yes
RestrictNamespaces=yes
LockPersonality=yes
CapabilityBoundingSet=

[Install]
WantedBy=multi-user.target
EOF
done
# Units of processes an earlier bake generated but this Procfile no longer has.
for unit_path in "$UNIT_DIR/$APP"-*.service; do
  [[ -f $unit_path ]] || continue
  unit="$(basename "$unit_path")"
  if [[ -z ${WANTED_UNITS[$unit]+set} ]] && [[ $(head -n 1 "$unit_path") == "$UNIT_MARKER" ]]; then
    rm -f -- "$unit_path"
  fi
done

# ---------------------------------------------------------------------------------
# 7. Log shipping: files under /var/log/herd/<app>/ (each process, release, herd-boot's
#    boot.log) and cloud-init's output, rotated locally, shipped by the CloudWatch agent
#    to /herd/<app>/<env>/<process> and /herd/<app>/<env>/boot. The environment and the
#    retention are not known at bake time: herd-boot replaces @HERD_ENV@ and
#    "@HERD_LOG_RETENTION_DAYS@" when it renders the config.
# ---------------------------------------------------------------------------------
readonly SHARE_DIR="$ROOT/opt/herd/share/$APP"
install -d -m 0755 "$ROOT/opt" "$ROOT/opt/herd" "$ROOT/opt/herd/share" "$SHARE_DIR" \
  "$ROOT/opt/herd/bin" "$ROOT/etc/logrotate.d"
log_processes=("${PROC_NAMES[@]}")
[[ -n ${PROC_COMMANDS[release]+set} ]] || log_processes+=(release)
printf '%s\n' "${log_processes[@]}" | jq -R . | jq -s --arg app "$APP" '
  def entry(file; group; stream): {
    file_path: file,
    log_group_name: "/herd/\($app)/@HERD_ENV@/\(group)",
    log_stream_name: stream,
    timezone: "UTC",
    retention_in_days: "@HERD_LOG_RETENTION_DAYS@"
  };
  {
    logs: {
      logs_collected: {
        files: {
          collect_list: (
            [ .[] | entry("/var/log/herd/\($app)/\(.).log"; .; "{instance_id}") ]
            + [ entry("/var/log/herd/\($app)/boot.log"; "boot"; "{instance_id}"),
                entry("/var/log/cloud-init-output.log"; "boot"; "{instance_id}-cloud-init") ]
          )
        }
      }
    }
  }' | put_file "$SHARE_DIR/cloudwatch-agent.json.tmpl" 0644 0:0
put_file "$ROOT/etc/logrotate.d/herd-$APP" 0644 0:0 <<EOF
$LOG_DIR/*.log {
    daily
    rotate 7
    compress
    delaycompress
    missingok
    notifempty
    copytruncate
}
EOF

# ---------------------------------------------------------------------------------
# 8. Boot script, release record, current symlink.
# ---------------------------------------------------------------------------------
put_file "$ROOT/opt/herd/bin/herd-boot" 0755 0:0 <"$HERE/boot.sh"
install -d -m 0755 "$ROOT/etc/herd"
printf 'HERD_APP=%s\nHERD_RELEASE=%s\nHERD_RELEASE_DIR=%s\n' "$APP" "$RELEASE_ID" "$RELEASE_DIR" \
  | put_file "$ROOT/etc/herd/release" 0644 0:0

current="$ROOT$APP_DIR/current"
if [[ $(readlink "$current" 2>/dev/null || true) != "releases/$RELEASE_ID" ]]; then
  ln -sfn "releases/$RELEASE_ID" "$current.herd-new"
  mv -Tf -- "$current.herd-new" "$current"
fi

log "installed $APP release $RELEASE_ID in $ROOT$RELEASE_DIR"
printf '%s\n' "$RELEASE_ID"
