import { Annotations, Duration, SecretValue } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as actions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as elbv2 from 'aws-cdk-lib/aws-elasticloadbalancingv2';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import * as sns from 'aws-cdk-lib/aws-sns';
import { Construct } from 'constructs';
import type { AccessLogs } from './access-logs';
import { HERD_ALARMS, HERD_ALARM_IDS, type HerdAlarmId, type HerdAlarmShape } from './alarms';
import type { AlarmConfig, HealthCheckConfig, LoadBalancerConfig } from './config/types';
import { BYPASS_CIDR_PRIORITY, BYPASS_HEADER, BYPASS_HEADER_PRIORITY, STAGING_PRIORITY, STAGING_SOURCE_CIDR } from './names';
import { acknowledge, acknowledgeGuard } from './nag';

export { BYPASS_CIDR_PRIORITY, BYPASS_HEADER_PRIORITY, MAINTENANCE_PRIORITY } from './names';

export interface LoadBalancerProps {
  readonly vpc: ec2.IVpc;
  /** Port the web processes listen on. */
  readonly appPort: number;
  readonly healthCheck: HealthCheckConfig;
  readonly settings: LoadBalancerConfig;
  /** Certificate for HTTPS; without one the listener is plain HTTP (with a warning). @default - HTTP only */
  readonly certificateArn?: string;
  /** Where access logs go. */
  readonly accessLogs: AccessLogs;
  /** Secret whose value in the `X-Herd-Bypass` header skips the maintenance page. @default - no header bypass */
  readonly bypassSecret?: secretsmanager.ISecret;
  /** Source CIDRs that skip the maintenance page. @default - none */
  readonly bypassCidrs?: readonly string[];
  readonly alarms: AlarmConfig;
  /** Topic the alarms notify. */
  readonly topic: sns.ITopic;
}

/**
 * The example configuration's placeholder certificate: AWS's documentation account
 * (123456789012) and an all-zero id. Synthesis works with it; a deploy does not.
 */
export function isPlaceholderCertificate(arn: string): boolean {
  return /^arn:aws[a-z-]*:acm:[a-z0-9-]+:123456789012:certificate\/0{8}-0{4}-0{4}-0{4}-0{12}$/.test(arn);
}

/**
 * The environment's internet-facing Application Load Balancer: HTTPS (with HTTP
 * redirected) when a certificate is configured, a target group whose health check is
 * tuned for deploys, the maintenance page's rule slot and bypass rules, access logs, and
 * alarms on 5xx, unhealthy hosts and latency.
 */
export class LoadBalancer extends Construct implements ec2.IConnectable {
  public readonly alb: elbv2.ApplicationLoadBalancer;
  public readonly targetGroup: elbv2.ApplicationTargetGroup;
  /**
   * The web staging target group (`lambda/deploy/switch.ts`): a `full` deploy registers its new
   * fleet here and switches the listener to it once migrated; empty, and serving nothing, at rest.
   */
  public readonly stagingTargetGroup: elbv2.ApplicationTargetGroup;
  /** The rule that keeps the group serving nothing health-checked (`STAGING_PRIORITY`); a `full` deploy points it at the other group. */
  public readonly stagingRule: elbv2.ApplicationListenerRule;
  /** The bypass rules (header, CIDRs): a `full` deploy points them at the staging group with the listener. */
  public readonly bypassRules: elbv2.ApplicationListenerRule[] = [];
  /** The listener that serves the app; the maintenance rule goes here. */
  public readonly listener: elbv2.ApplicationListener;
  public readonly alarms: cloudwatch.Alarm[];
  /**
   * The alarms that roll an instance refresh back: the app answering with 5xx. Unhealthy
   * hosts and p99 latency only notify: a new target counts as unhealthy (and slow) while
   * its instance boots, so a healthy release rolled out to a slow-booting fleet would trip
   * them and be rolled back (docs/architecture.md, "Which alarms roll a refresh back").
   */
  public readonly rollbackAlarms: cloudwatch.Alarm[];
  public readonly connections: ec2.Connections;

  constructor(scope: Construct, id: string, props: LoadBalancerProps) {
    super(scope, id);
    this.alb = new elbv2.ApplicationLoadBalancer(this, 'Resource', {
      vpc: props.vpc,
      internetFacing: true,
      vpcSubnets: { subnetType: ec2.SubnetType.PUBLIC },
      dropInvalidHeaderFields: true,
      idleTimeout: Duration.seconds(props.settings.idleTimeoutSeconds),
      // `deletion_protection.enabled`: deleting the stack fails instead of taking the site down.
      deletionProtection: props.settings.deletionProtection,
    });
    props.accessLogs.receiveLoadBalancerLogs(this.alb, 'alb');
    this.connections = this.alb.connections;

    const hc = props.healthCheck;
    const webTargets = (id: string) => new elbv2.ApplicationTargetGroup(this, id, {
      vpc: props.vpc,
      port: props.appPort,
      protocol: elbv2.ApplicationProtocol.HTTP,
      targetType: elbv2.TargetType.INSTANCE,
      deregistrationDelay: Duration.seconds(props.settings.deregistrationDelaySeconds),
      healthCheck: {
        path: hc.path,
        interval: Duration.seconds(hc.intervalSeconds),
        timeout: Duration.seconds(hc.timeoutSeconds),
        healthyThresholdCount: hc.healthyThreshold,
        unhealthyThresholdCount: hc.unhealthyThreshold,
        healthyHttpCodes: '200',
      },
    });
    this.targetGroup = webTargets('Web');
    // Same settings, so a target healthy here is healthy there; no Auto Scaling group is attached to it.
    this.stagingTargetGroup = webTargets('WebNext');

    if (props.certificateArn) {
      this.listener = this.alb.addListener('Https', {
        port: 443,
        protocol: elbv2.ApplicationProtocol.HTTPS,
        certificates: [elbv2.ListenerCertificate.fromArn(props.certificateArn)],
        sslPolicy: elbv2.SslPolicy.RECOMMENDED_TLS,
        defaultTargetGroups: [this.targetGroup],
      });
      this.alb.addRedirect({ sourcePort: 80, sourceProtocol: elbv2.ApplicationProtocol.HTTP, targetPort: 443, targetProtocol: elbv2.ApplicationProtocol.HTTPS });
      if (isPlaceholderCertificate(props.certificateArn)) {
        Annotations.of(this).addWarningV2('herd:placeholder-certificate', `certificateArn (${props.certificateArn}) is the example's placeholder: CloudFormation will refuse it. Replace it with your ACM certificate's ARN (and domainNames with your domains) before deploying.`);
      }
    } else {
      this.listener = this.alb.addListener('Http', {
        port: 80,
        protocol: elbv2.ApplicationProtocol.HTTP,
        defaultTargetGroups: [this.targetGroup],
      });
      Annotations.of(this).addWarningV2('herd:http-only', 'No certificateArn configured: the site is served over plain HTTP. Set domainNames and certificateArn to serve HTTPS.');
    }

    // Bypass rules forward to the app whatever the maintenance rule below them says.
    // ELB health-checks only the targets of a group a listener rule forwards to ("Target groups
    // for your Application Load Balancers"): this rule does, for a source no client has.
    this.stagingRule = new elbv2.ApplicationListenerRule(this, 'Staging', {
      listener: this.listener,
      priority: STAGING_PRIORITY,
      conditions: [elbv2.ListenerCondition.sourceIps([STAGING_SOURCE_CIDR])],
      action: elbv2.ListenerAction.forward([this.stagingTargetGroup]),
    });

    if (props.bypassSecret) {
      this.bypassRules.push(new elbv2.ApplicationListenerRule(this, 'BypassHeader', {
        listener: this.listener,
        priority: BYPASS_HEADER_PRIORITY,
        conditions: [elbv2.ListenerCondition.httpHeader(BYPASS_HEADER, [
          // A dynamic reference: CloudFormation resolves it at deploy time; the template holds no secret.
          SecretValue.secretsManager(props.bypassSecret.secretArn).unsafeUnwrap(),
        ])],
        action: elbv2.ListenerAction.forward([this.targetGroup]),
      }));
    }
    if (props.bypassCidrs && props.bypassCidrs.length > 0) {
      this.bypassRules.push(new elbv2.ApplicationListenerRule(this, 'BypassCidrs', {
        listener: this.listener,
        priority: BYPASS_CIDR_PRIORITY,
        conditions: [elbv2.ListenerCondition.sourceIps([...props.bypassCidrs])],
        action: elbv2.ListenerAction.forward([this.targetGroup]),
      }));
    }

    const alarmAction = new actions.SnsAction(props.topic);
    const metrics = this.alb.metrics;
    const tgMetrics = this.targetGroup.metrics;
    const metricOf = (shape: HerdAlarmShape): cloudwatch.IMetric => {
      const options = { period: Duration.seconds(shape.periodSeconds), statistic: shape.statistic };
      switch (shape.metric) {
        case 'HTTPCode_Target_5XX_Count':
          return metrics.httpCodeTarget(elbv2.HttpCodeTarget.TARGET_5XX_COUNT, options);
        case 'UnHealthyHostCount':
          return tgMetrics.unhealthyHostCount(options);
        case 'TargetResponseTime':
          return metrics.targetResponseTime(options);
      }
    };
    this.alarms = HERD_ALARM_IDS.map((id) => {
      const shape = HERD_ALARMS[id];
      return new cloudwatch.Alarm(this, id, {
        alarmDescription: shape.description,
        metric: metricOf(shape),
        threshold: shape.threshold(props.alarms),
        evaluationPeriods: shape.evaluationPeriods,
        comparisonOperator:
          shape.comparison === 'GreaterThanOrEqualToThreshold'
            ? cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD
            : cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      });
    });
    this.rollbackAlarms = this.alarms.filter((a) => HERD_ALARMS[a.node.id as HerdAlarmId].rollsBack);
    for (const alarm of this.alarms) {
      alarm.addAlarmAction(alarmAction);
      alarm.addOkAction(alarmAction);
    }

    acknowledge(this.alb, 'AwsSolutions-EC23', 'The public load balancer accepts HTTP(S) from anywhere by design; only ports 80 and 443 are open.');
    if (!props.settings.deletionProtection) {
      acknowledgeGuard(this.alb, 'elbv2_deletion_protection_enabled_check', 'Deletion protection off by configuration (loadBalancer.deletionProtection: false, the small profile\'s default) so a test environment can be torn down with `cdk destroy`.');
    }
    if (!props.certificateArn) {
      // Reached only for a small-profile environment, or a production one whose allowPlainHttp states a reason (lib/config/validate.ts).
      acknowledgeGuard(this, 'alb_http_to_https_redirection_check', 'No certificateArn configured: the environment serves plain HTTP, which the configuration allows only outside the production profile or with an explicit allowPlainHttp reason (synthesis warns herd:http-only).');
      acknowledge(this.alb, 'AwsSolutions-ELB1', 'Not a Classic Load Balancer.');
    }
  }
}
