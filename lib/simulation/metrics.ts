/**
 * What a simulated deploy did to the service, sampled every virtual second: healthy web
 * capacity, time with no healthy target outside a maintenance window, the window itself.
 */
import type { DeployEnvironment } from '../../lambda/deploy/environment';
import type { FakeCloud } from './fake-cloud';

export class ServiceMetrics {
  /** Web capacity promised: the group's desired count when sampling began. */
  readonly baseline: number;
  samples = 0;
  /** Lowest healthy in-service web count seen while the page was down. */
  minHealthy = Number.POSITIVE_INFINITY;
  /** Seconds with fewer healthy web instances than the baseline, page down. */
  belowBaselineSeconds = 0;
  /**
   * Seconds a request would have met no healthy target (page down), once the service
   * served: an environment before its first release has nothing to lose.
   */
  unservedSeconds = 0;
  /** A healthy web target was seen (or the group had capacity when sampling began). */
  private served: boolean;
  maintenanceSeconds = 0;
  maintenanceFirstOn?: number;
  maintenanceLastOff?: number;

  constructor(
    private readonly cloud: FakeCloud,
    private readonly env: DeployEnvironment,
  ) {
    this.baseline = cloud.groups.get(env.fleets.web.autoScalingGroupName)?.desired ?? 0;
    this.served = this.baseline > 0;
    cloud.onTick(() => this.sample());
  }

  maintenanceOn(): boolean {
    return this.cloud.maintenanceRule(this.env.loadBalancer.listenerArn, this.env.loadBalancer.maintenancePriority) !== undefined;
  }

  private sample(): void {
    this.samples += 1;
    const now = this.cloud.now();
    if (this.maintenanceOn()) {
      this.maintenanceSeconds += 1;
      this.maintenanceFirstOn ??= now;
      this.maintenanceLastOff = undefined;
      return;
    }
    if (this.maintenanceFirstOn !== undefined && this.maintenanceLastOff === undefined) this.maintenanceLastOff = now;
    const healthy = this.cloud.healthyServing(this.env.fleets.web.autoScalingGroupName).length;
    this.minHealthy = Math.min(this.minHealthy, healthy);
    if (healthy < this.baseline) this.belowBaselineSeconds += 1;
    if (healthy > 0) this.served = true;
    if (healthy === 0 && this.served) this.unservedSeconds += 1;
  }

  /** Lowest healthy capacity as a percentage of the baseline. */
  minHealthyPercent(): number {
    if (this.baseline === 0 || this.minHealthy === Number.POSITIVE_INFINITY) return 100;
    return Math.floor((100 * this.minHealthy) / this.baseline);
  }
}
