import { Stack, StackProps, Tags } from 'aws-cdk-lib';
import { Construct } from 'constructs';
import type { Architecture } from './architecture';
import { retainFunctionLogs } from './function-logs';
import { parameterNames, TAGS } from './names';
import { ReleaseState } from './release-state';
import { retentionOf } from './retention';

export interface ReleaseStateStackProps extends StackProps {
  readonly app: string;
  readonly environment: string;
  readonly architecture: Architecture;
  readonly logRetentionDays: number;
}

/**
 * `herd-<env>-release-state`: the environment's release parameters, in a stack of their
 * own that the environment stack depends on, so `cdk deploy herd-<env>` creates them first.
 * CloudFormation resolves `AWS::SSM::Parameter::Value<…>` parameters when a stack operation
 * starts, before any of that stack's resources exist: the parameters the environment stack
 * resolves cannot be created by the environment stack itself.
 */
export class ReleaseStateStack extends Stack {
  public readonly releaseState: ReleaseState;

  constructor(scope: Construct, id: string, props: ReleaseStateStackProps) {
    super(scope, id, props);
    Tags.of(this).add(TAGS.app, props.app);
    Tags.of(this).add(TAGS.environment, props.environment);
    const names = parameterNames(props.app, props.environment);
    this.releaseState = new ReleaseState(this, 'ReleaseState', {
      app: props.app,
      environment: props.environment,
      currentImageParameter: names.currentImage,
      currentReleaseParameter: names.currentRelease,
      architecture: props.architecture,
      logRetention: retentionOf(props.logRetentionDays),
    });
    retainFunctionLogs(this, retentionOf(props.logRetentionDays));
  }
}
