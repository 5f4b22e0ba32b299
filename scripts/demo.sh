#!/usr/bin/env bash
# npm run demo: herd's main job without AWS. Synthesizes every environment of herd.config.ts
# (as `npm run synth`), starts the sandbox over, deploys examples/mootube to the sandbox's
# staging with the live display, and shows `herd status staging`. The sandbox keeps its
# state in .herd/sandbox: every other verb works on it afterwards (`herd --sandbox …`).
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== cdk synth: every environment of herd.config.ts"
npx cdk synth --quiet
echo "== the sandbox: a local simulated AWS, where the environments are deployed"
node bin/herd.js --sandbox sandbox reset
echo "== herd deploy staging ./examples/mootube --sandbox"
node bin/herd.js --sandbox deploy staging ./examples/mootube
echo "== herd status staging --sandbox"
node bin/herd.js --sandbox status staging
