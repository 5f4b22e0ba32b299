/** Instance types to architectures (REAL-AWS 17): the builder and the fleets must agree. */
import { amazonLinuxImageParameter, architectureOf } from '../lib/architecture';

describe('architectureOf', () => {
  test.each(['t4g.small', 'm7g.large', 'c7gn.xlarge', 'r8g.medium', 'x2gd.large', 'im4gn.large', 'is4gen.medium', 'g5g.xlarge', 'hpc7g.4xlarge', 'a1.medium', 'm6gd.large'])(
    '%s is Graviton (arm64)',
    (type) => expect(architectureOf(type)).toBe('arm64'),
  );

  test.each(['t3.small', 't3a.micro', 'm7i.large', 'm7a.large', 'c6in.large', 'g5.xlarge', 'g4dn.xlarge', 'g4ad.xlarge', 'inf2.xlarge', 'trn1.2xlarge', 'hpc7a.12xlarge', 'mac1.metal'])(
    '%s is x86_64',
    (type) => expect(architectureOf(type)).toBe('x86_64'),
  );

  test('each architecture has its own public Amazon Linux 2023 parameter', () => {
    expect(amazonLinuxImageParameter('arm64')).toBe('/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-arm64');
    expect(amazonLinuxImageParameter('x86_64')).toBe('/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64');
  });
});
