#!/usr/bin/env bash
# Installs everything herd's tests need, idempotently:
#   - Node packages (npm ci, from package-lock.json);
#   - Debian packages listed in scripts/system-packages.txt (shellcheck, PostgreSQL, Redis, jq),
#     when missing and when running as root;
#   - a Python virtual environment in .venv with cfn-lint, moto and ministack (requirements-dev.txt);
#   - checkov in a virtual environment of its own, .venv/checkov (requirements-checkov.txt, every
#     version pinned): its exact boto3 pin conflicts with ministack's botocore pin.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf '\033[1m==> %s\033[0m\n' "$*"; }

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  say "npm ci"
  npm ci --no-audit --no-fund
fi

missing=()
if [ -f scripts/system-packages.txt ]; then
  while read -r pkg; do
    [ -z "$pkg" ] || [[ "$pkg" == \#* ]] && continue
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
  done < scripts/system-packages.txt
fi
if [ "${#missing[@]}" -gt 0 ]; then
  if [ "$(id -u)" -eq 0 ]; then
    say "apt-get install ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  else
    echo "Missing Debian packages: ${missing[*]} (run: sudo apt-get install ${missing[*]})" >&2
    exit 1
  fi
fi

if [ ! -x .venv/bin/python ] || [ requirements-dev.txt -nt .venv/.installed ]; then
  say "python venv (.venv): cfn-lint, moto, ministack"
  python3 -m venv .venv
  .venv/bin/pip install --quiet --upgrade pip
  .venv/bin/pip install --quiet -r requirements-dev.txt
  touch .venv/.installed
fi

if [ ! -x .venv/checkov/bin/checkov ] || [ requirements-checkov.txt -nt .venv/checkov/.installed ]; then
  say "python venv (.venv/checkov): checkov"
  python3 -m venv .venv/checkov
  .venv/checkov/bin/pip install --quiet --upgrade pip
  .venv/checkov/bin/pip install --quiet -r requirements-checkov.txt
  touch .venv/checkov/.installed
fi
