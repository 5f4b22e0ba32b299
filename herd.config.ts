import type { HerdSettings } from './lib/config/types';

/**
 * The environments of the example app `mootube`. Each environment lists only what
 * differs from its profile's defaults (lib/config/defaults.ts); the README's
 * configuration reference explains every key.
 *
 * No account or region: the stacks are environment-agnostic, so `cdk synth` works
 * offline. Set both per environment to pin it (and to use more than 2 AZs).
 */
const config: HerdSettings = {
  app: 'mootube',
  environments: [
    {
      name: 'testing',
      profile: 'small',
      network: { cidr: '10.10.0.0/16' },
    },
    {
      name: 'staging',
      profile: 'small',
      network: { cidr: '10.20.0.0/16' },
      web: { minCapacity: 2, maxCapacity: 3 },
      deploy: { strategy: 'rolling', backup: 'snapshot' },
    },
    {
      name: 'production',
      profile: 'production',
      network: { cidr: '10.30.0.0/16' },
      // A production environment serves HTTPS only (or says why not with allowPlainHttp).
      // PLACEHOLDER: account 123456789012 is AWS's documentation account. Replace both with
      // your domain and its ACM certificate (in the environment's region) before deploying:
      // CloudFormation refuses this ARN, so production never goes out on plain HTTP by mistake.
      domainNames: ['mootube.example.com'],
      certificateArn: 'arn:aws:acm:us-east-1:123456789012:certificate/00000000-0000-0000-0000-000000000000',
      web: { minCapacity: 2, maxCapacity: 8 },
      deploy: { rolling: { checkpointPercentages: [50, 100], checkpointDelaySeconds: 60 } },
    },
  ],
};

export default config;
