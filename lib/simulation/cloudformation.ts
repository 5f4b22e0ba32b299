/**
 * What a `cdk deploy` of the environment stack does to the fleets, modelled on the fake
 * cloud from the real synthesized template, so the deploy step meets CloudFormation's own
 * writes as it would in AWS:
 *
 * - the stack goes `UPDATE_IN_PROGRESS`; CloudFormation resolves the template's
 *   `AWS::SSM::Parameter::Value<…>` parameters from Parameter Store when the operation starts
 *   (a missing parameter fails it before any resource changes);
 * - the deploy guard (`Custom::HerdDeployGuard`, the real handler) runs first when its
 *   fingerprint changed, and a failure rolls the update back, the guard receiving its previous
 *   properties again, as CloudFormation sends them;
 * - a launch template whose data changed (the resolved image included) gets a new version
 *   from the template's data (not from the group's version), and its group is pointed at it
 *   (`LatestVersionNumber`), with MinSize/MaxSize as the template's conditions resolve them;
 *   Auto Scaling refuses to change a group's launch template during an instance refresh with
 *   a desired configuration, which fails the update.
 *
 * Only the resources that touch the fleets are modelled; the rest of the template is read,
 * not applied.
 */
import { applyGuard, parseGuardProperties } from '../../lambda/deploy-guard/guard';
import type { DeployEnvironment } from '../../lambda/deploy/environment';
import { UpdateAutoScalingGroupCommand } from '@aws-sdk/client-auto-scaling';
import { CreateLaunchTemplateVersionCommand } from '@aws-sdk/client-ec2';
import type { Role } from '../config/types';
import type { FakeCloud } from './fake-cloud';

/** The principal of the deploy guard custom resource's calls (its Lambda role). */
export const GUARD_PRINCIPAL = 'deploy-guard';
/** The principal of the changes CloudFormation makes itself (its execution role). */
export const CLOUDFORMATION_PRINCIPAL = 'cloudformation';

type Json = Record<string, unknown>;

/** A synthesized CloudFormation template (the parts read here). */
export interface CfnTemplate {
  readonly Parameters?: Record<string, { Type: string; Default?: string }>;
  readonly Conditions?: Record<string, unknown>;
  readonly Resources: Record<string, { Type: string; Properties?: Json; DependsOn?: string[] }>;
}

export interface StackUpdateResult {
  readonly status: 'UPDATE_COMPLETE' | 'UPDATE_ROLLBACK_COMPLETE';
  /** Why the update failed (the resource's error, as the stack events show it). */
  readonly error?: string;
}

/** What CloudFormation last applied to one fleet. */
interface AppliedFleet {
  launchTemplateData: string;
  minSize: string;
  maxSize: string;
}

const NO_VALUE = Symbol('AWS::NoValue');

export class FakeCloudFormation {
  private readonly applied = new Map<Role, AppliedFleet>();
  private guardProperties: Json | undefined;
  private parameters: Record<string, string> = {};

  /**
   * @param region the region `AWS::Region` resolves to.
   * @param fleetsBy logical id prefix of each role's launch template and group (`Web`, `Worker`).
   */
  constructor(
    private readonly cloud: FakeCloud,
    private readonly env: DeployEnvironment,
    private readonly region = 'eu-west-1',
    private readonly fleetsBy: Readonly<Record<Role, string>> = { web: 'Web', worker: 'Worker' },
  ) {}

  private get stackName(): string {
    return this.env.stackName ?? `herd-${this.env.env}`;
  }

  /**
   * Creates the model's memory of what the stack applied, without changing the fleets: the
   * world was seeded as the stack left it (call once, with the template the world stands
   * for). The guard's Create runs, as it did when the stack was created.
   */
  async adopt(template: CfnTemplate): Promise<void> {
    this.parameters = this.resolveParameters(template);
    for (const role of this.roles()) this.applied.set(role, this.fleetOf(template, role));
    this.guardProperties = this.guardOf(template);
    if (this.guardProperties) await applyGuard('Create', parseGuardProperties(this.guardProperties), this.cloud.clients(GUARD_PRINCIPAL));
    this.cloud.stacks.set(this.stackName, { status: 'UPDATE_COMPLETE' });
  }

  /** A `cdk deploy` of `template`: the stack update, start to end. */
  async update(template: CfnTemplate): Promise<StackUpdateResult> {
    const stack = this.cloud.stacks.get(this.stackName);
    if (stack && stack.status.endsWith('_IN_PROGRESS')) throw new Error(`Stack ${this.stackName} is in ${stack.status} state and can not be updated.`);
    this.cloud.stacks.set(this.stackName, { status: 'UPDATE_IN_PROGRESS' });
    const previousParameters = this.parameters;
    try {
      this.parameters = this.resolveParameters(template);
    } catch (err) {
      this.parameters = previousParameters;
      return this.rolledBack(err);
    }
    const guard = this.guardOf(template);
    if (guard && JSON.stringify(guard) !== JSON.stringify(this.guardProperties)) {
      try {
        await applyGuard('Update', parseGuardProperties(guard), this.cloud.clients(GUARD_PRINCIPAL));
      } catch (err) {
        // CloudFormation rolls back: the guard gets its previous properties again.
        if (this.guardProperties) await applyGuard('Update', parseGuardProperties(this.guardProperties), this.cloud.clients(GUARD_PRINCIPAL));
        this.parameters = previousParameters;
        return this.rolledBack(err);
      }
    }
    // CloudFormation itself changes the launch templates and groups (its execution role, the CDK bootstrap's).
    const clients = this.cloud.clients(CLOUDFORMATION_PRINCIPAL);
    for (const role of this.roles()) {
      const fleet = this.fleetOf(template, role);
      const before = this.applied.get(role);
      const env = role === 'web' ? this.env.fleets.web : this.env.fleets.worker;
      if (!env) continue;
      const group = this.cloud.groups.get(env.autoScalingGroupName);
      let version: string | undefined;
      if (!before || before.launchTemplateData !== fleet.launchTemplateData) {
        const data = JSON.parse(fleet.launchTemplateData) as Json;
        const current = this.cloud.launchTemplates.get(env.launchTemplateId)?.versions[0];
        const res = await clients.ec2.send(new CreateLaunchTemplateVersionCommand({
          LaunchTemplateId: env.launchTemplateId,
          LaunchTemplateData: {
            ImageId: String(data.ImageId),
            InstanceType: data.InstanceType as never,
            // The fake's version 1 stands for the template's user data and profile (tokens here).
            ...(current?.userData ? { UserData: Buffer.from(current.userData, 'utf8').toString('base64') } : {}),
            ...(current?.instanceProfileArn ? { IamInstanceProfile: { Arn: current.instanceProfileArn } } : {}),
          },
        }));
        version = String(res.LaunchTemplateVersion?.VersionNumber);
      }
      if (version || !before || before.minSize !== fleet.minSize || before.maxSize !== fleet.maxSize) {
        try {
          await this.untilVisible(() => clients.autoScaling.send(new UpdateAutoScalingGroupCommand({
            AutoScalingGroupName: env.autoScalingGroupName,
            ...(version ? { LaunchTemplate: { LaunchTemplateId: env.launchTemplateId, Version: version } } : {}),
            MinSize: Number(fleet.minSize),
            MaxSize: Number(fleet.maxSize),
            // MinSize above desired raises desired, as Auto Scaling does when CloudFormation omits it.
            ...(group && group.desired < Number(fleet.minSize) ? { DesiredCapacity: Number(fleet.minSize) } : {}),
          })));
        } catch (err) {
          this.parameters = previousParameters;
          return this.rolledBack(err);
        }
      }
      this.applied.set(role, fleet);
    }
    this.guardProperties = guard;
    this.cloud.stacks.set(this.stackName, { status: 'UPDATE_COMPLETE' });
    return { status: 'UPDATE_COMPLETE' };
  }

  /**
   * CloudFormation's resource handlers retry what eventual consistency answers ("version N does not
   * exist" right after creating it) while the resource stabilises; the fake does the same, its clock
   * moving on between tries, and gives up after the minutes a handler would.
   */
  private async untilVisible<T>(call: () => Promise<T>): Promise<T> {
    for (let waited = 0; ; waited += 5) {
      try {
        return await call();
      } catch (err) {
        if (waited >= 300 || !/does not exist/.test(String((err as Error).message))) throw err;
        this.cloud.advance(5);
      }
    }
  }

  private rolledBack(err: unknown): StackUpdateResult {
    this.cloud.stacks.set(this.stackName, { status: 'UPDATE_ROLLBACK_COMPLETE' });
    return { status: 'UPDATE_ROLLBACK_COMPLETE', error: err instanceof Error ? err.message : String(err) };
  }

  private roles(): Role[] {
    return this.env.fleets.worker ? ['web', 'worker'] : ['web'];
  }

  /** SSM-typed parameters resolved from the fake's Parameter Store, as CloudFormation does when an operation starts. */
  private resolveParameters(template: CfnTemplate): Record<string, string> {
    const values: Record<string, string> = {};
    for (const [id, p] of Object.entries(template.Parameters ?? {})) {
      if (!p.Type.startsWith('AWS::SSM::Parameter::Value<') || !p.Default || p.Default.startsWith('/cdk-bootstrap/')) continue;
      const value = this.cloud.parameters.get(p.Default);
      if (value === undefined) throw new Error(`Parameters: [${p.Default}] do not exist (parameter ${id})`);
      values[id] = value;
    }
    return values;
  }

  private condition(template: CfnTemplate, name: string): boolean {
    const expr = template.Conditions?.[name];
    if (expr === undefined) throw new Error(`the template has no condition ${name}`);
    return this.evaluateCondition(template, expr);
  }

  private evaluateCondition(template: CfnTemplate, expr: unknown): boolean {
    const e = expr as Json;
    if ('Condition' in e) return this.condition(template, String(e.Condition));
    if ('Fn::Equals' in e) {
      const [a, b] = (e['Fn::Equals'] as unknown[]).map((v) => this.evaluate(template, v));
      return a === b;
    }
    if ('Fn::Not' in e) return !this.evaluateCondition(template, (e['Fn::Not'] as unknown[])[0]);
    if ('Fn::And' in e) return (e['Fn::And'] as unknown[]).every((c) => this.evaluateCondition(template, c));
    if ('Fn::Or' in e) return (e['Fn::Or'] as unknown[]).some((c) => this.evaluateCondition(template, c));
    throw new Error(`condition function not modelled: ${JSON.stringify(e)}`);
  }

  /**
   * Resolves the intrinsic functions the fleet resources use: Ref of parameters and pseudo
   * parameters, Fn::If, Fn::Join. Anything else (a resource's attribute…) stays as written,
   * which is enough to tell whether the template changed.
   */
  private evaluate(template: CfnTemplate, value: unknown): unknown {
    if (Array.isArray(value)) return value.map((v) => this.evaluate(template, v)).filter((v) => v !== NO_VALUE);
    if (value === null || typeof value !== 'object') return value;
    const o = value as Json;
    const keys = Object.keys(o);
    if (keys.length === 1 && keys[0] === 'Ref') {
      const ref = String(o.Ref);
      if (ref === 'AWS::NoValue') return NO_VALUE;
      if (ref === 'AWS::Region') return this.region;
      if (ref in this.parameters) return this.parameters[ref];
      return o;
    }
    if (keys.length === 1 && keys[0] === 'Fn::If') {
      const [name, yes, no] = o['Fn::If'] as [string, unknown, unknown];
      return this.evaluate(template, this.condition(template, name) ? yes : no);
    }
    if (keys.length === 1 && keys[0] === 'Fn::Join') {
      const [separator, parts] = o['Fn::Join'] as [string, unknown[]];
      const resolved = this.evaluate(template, parts) as unknown[];
      return resolved.every((p) => typeof p === 'string') ? resolved.join(separator) : { 'Fn::Join': [separator, resolved] };
    }
    return Object.fromEntries(Object.entries(o).map(([k, v]) => [k, this.evaluate(template, v)]).filter(([, v]) => v !== NO_VALUE));
  }

  private resourceOf(template: CfnTemplate, type: string, prefix: string) {
    const found = Object.entries(template.Resources).filter(([id, r]) => r.Type === type && id.startsWith(prefix));
    if (found.length !== 1) throw new Error(`expected one ${type} whose logical id starts with ${prefix}, found ${found.length}`);
    return found[0]![1];
  }

  private fleetOf(template: CfnTemplate, role: Role): AppliedFleet {
    const lt = this.resourceOf(template, 'AWS::EC2::LaunchTemplate', this.fleetsBy[role]);
    const group = this.resourceOf(template, 'AWS::AutoScaling::AutoScalingGroup', this.fleetsBy[role]);
    const data = this.evaluate(template, lt.Properties?.LaunchTemplateData) as Json;
    if (typeof data.ImageId !== 'string') throw new Error(`the ${role} launch template's image is not resolved when the stack operation starts: ${JSON.stringify(data.ImageId)}`);
    return {
      launchTemplateData: JSON.stringify({ ImageId: data.ImageId, InstanceType: data.InstanceType, rest: { ...data, ImageId: undefined, InstanceType: undefined } }),
      minSize: String(this.evaluate(template, group.Properties?.MinSize)),
      maxSize: String(this.evaluate(template, group.Properties?.MaxSize)),
    };
  }

  /** The guard's properties as CloudFormation would send them (its table named as the world's). */
  private guardOf(template: CfnTemplate): Json | undefined {
    const guard = Object.values(template.Resources).find((r) => r.Type === 'Custom::HerdDeployGuard');
    if (!guard) return undefined;
    const props = this.evaluate(template, guard.Properties) as Json;
    return { ...props, TableName: this.env.tableName, ServiceToken: undefined };
  }
}
