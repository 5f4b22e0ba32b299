/** What the deploy step asks of the instances it launches: the builder's and the runner's user data. */
import { startDeploy } from '../../lambda/deploy/advance';
import { builderUserData } from '../../lambda/deploy/bake';
import { runnerUserData } from '../../lambda/deploy/release';
import type { AdvanceContext } from '../../lambda/deploy/step';
import { createWorld } from '../../lib/simulation/world';

describe('builder user data', () => {
  const world = createWorld({ web: 2, serving: 'r1', deploy: { timeouts: { bakeMinutes: 40 } } });
  const ctx: AdvanceContext = { clients: world.cloud.clients(), env: world.env, clock: world.clock };
  const state = startDeploy({ release: 'v7-0123456789ab', actor: 'alice', deployId: 'deploy-0001' }, world.env, world.clock);

  test('arms the watchdog, fetches the instance scripts zip, then runs herd-bake.sh with the report prefix', () => {
    const { scripts } = world.env.instances;
    expect(builderUserData(state, ctx)).toBe(
      [
        '#!/bin/bash',
        'set -euo pipefail',
        '# herd builder: app shop, environment staging, release v7-0123456789ab, deploy deploy-0001',
        "shutdown -h +45 'herd builder watchdog'",
        `trap 'shutdown -h now "herd builder: setup failed"' ERR`,
        `token="$(curl -sS -f -X PUT http://169.254.169.254/latest/api/token -H 'X-aws-ec2-metadata-token-ttl-seconds: 300')"`,
        'AWS_DEFAULT_REGION="$(curl -sS -f -H "X-aws-ec2-metadata-token: $token" http://169.254.169.254/latest/meta-data/placement/region)"',
        'export AWS_DEFAULT_REGION',
        'for tool in unzip jq; do command -v "$tool" >/dev/null || dnf install -y -q "$tool"; done',
        `aws s3 cp 's3://${scripts.bucket}/${scripts.key}' /tmp/herd-instance.zip`,
        'mkdir -p /opt/herd/instance && unzip -o -q /tmp/herd-instance.zip -d /opt/herd/instance',
        'rm -f /tmp/herd-instance.zip',
        "exec bash /opt/herd/instance/herd-bake.sh --app 'shop' --release 'v7-0123456789ab' " +
          "--artifact 's3://herd-staging-artifacts/releases/v7-0123456789ab.tar.gz' --report '/herd/shop/staging/bake-runs/'",
        '',
      ].join('\n'),
    );
  });

  test('the runner boots the release role of its app and environment', () => {
    expect(runnerUserData('shop', 'staging')).toBe('#!/bin/bash\nset -euo pipefail\nexec /opt/herd/bin/herd-boot --app shop --env staging --role release\n');
    // With the environment's log retention, as the stack's launch templates pass it to web and worker.
    expect(runnerUserData('shop', 'staging', 90)).toBe('#!/bin/bash\nset -euo pipefail\nexec /opt/herd/bin/herd-boot --app shop --env staging --role release --log-retention-days 90\n');
  });
});
