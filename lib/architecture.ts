/**
 * CPU architectures of EC2 instance types and of the images they boot. An AMI is x86_64 or
 * arm64, and an instance boots only an image of its own architecture: the bake builder,
 * whose image the fleets boot, must share the fleets' architecture.
 */

export type Architecture = 'x86_64' | 'arm64';

/**
 * Graviton families: a generation digit followed by `g` (t4g, m7g, c7gn, r8g, x2gd, im4gn,
 * is4gen, g5g, hpc7g…), plus the first Graviton family, a1. Everything else (t3, m7i,
 * m7a, g5, g4dn, mac1…) is x86_64.
 */
const GRAVITON_FAMILY = /^(a1|[a-z]+\d+g[a-z]*)$/;

/** The architecture of an instance type such as `t4g.small` (arm64) or `t3.medium` (x86_64). */
export function architectureOf(instanceType: string): Architecture {
  const family = instanceType.split('.')[0] ?? '';
  return GRAVITON_FAMILY.test(family) ? 'arm64' : 'x86_64';
}

/** The public SSM parameter naming the latest Amazon Linux 2023 AMI of an architecture. */
export function amazonLinuxImageParameter(architecture: Architecture): string {
  return `/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-${architecture}`;
}
