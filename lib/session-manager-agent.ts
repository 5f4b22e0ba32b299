import * as iam from 'aws-cdk-lib/aws-iam';
import { acknowledge } from './nag';

/**
 * What the SSM agent of an instance needs for Session Manager (`herd console`): register the
 * instance and open its control and data channels (Systems Manager user guide, "Create a
 * custom IAM instance profile for Session Manager"), and the `ec2messages` calls by which the
 * agent takes and answers the service's messages. Instead of the AWS managed policy
 * `AmazonSSMManagedInstanceCore`, which also grants `ssm:GetParameter(s)` on `*`: every
 * instance could read every parameter of the account, other apps' settings included. The
 * parameters an instance reads are granted by path (`grantBoot`).
 */
export function grantSessionManagerAgent(role: iam.Role): void {
  role.addToPrincipalPolicy(new iam.PolicyStatement({
    sid: 'SessionManagerAgent',
    actions: [
      'ssm:UpdateInstanceInformation',
      'ssmmessages:CreateControlChannel', 'ssmmessages:CreateDataChannel', 'ssmmessages:OpenControlChannel', 'ssmmessages:OpenDataChannel',
      'ec2messages:AcknowledgeMessage', 'ec2messages:DeleteMessage', 'ec2messages:FailMessage', 'ec2messages:GetEndpoint', 'ec2messages:GetMessages', 'ec2messages:SendReply',
    ],
    resources: ['*'],
  }));
  acknowledge(role, 'AwsSolutions-IAM5[Resource::*]',
    'The SSM agent\'s registration and message channels (Session Manager\'s documented instance minimum) act on the calling instance only and support no resource scoping; no parameter or document read is granted here.');
}
