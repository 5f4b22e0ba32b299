/**
 * EC2 in the fake cloud: instances (launch, boot, instance-initiated shutdown, and the
 * processes herd runs on them: a builder bakes and reports, a runner migrates and reports),
 * images and their snapshots, launch templates and their versions.
 *
 * `registerEc2` registers the EC2 API handlers on the cloud; `tickInstances` and `tickImages`
 * move the instances and images one virtual second (FakeCloud.tick calls them first).
 */
import * as ec2 from '@aws-sdk/client-ec2';
import { architectureOf } from '../../architecture';
import { TAGS, parameterNames } from '../../names';
import type { FakeCloud } from '../fake-cloud';
import { provisionHash } from '../provision';
import type { Image, Instance, LaunchTemplate, LtVersion, Tags } from '../model';
import { fail, filterMatches, tagList, tagsFrom } from './common';
import { tickRunInstance } from './runs';

// ---------------------------------------------------------------- processes

/** Instances boot, shut down and stop; builders and runners run their process (one virtual second). */
export function tickInstances(cloud: FakeCloud, now: number): void {
  const t = cloud.timings;
  for (const i of cloud.instances.values()) {
    if (i.state === 'pending' && now - i.launchedAt >= t.bootSeconds * 1000) setState(cloud, i, 'running');
    if (i.state === 'shutting-down' && now - i.stateAt >= t.shutdownSeconds * 1000) setState(cloud, i, 'terminated');
    if (i.state === 'stopping' && now - i.stateAt >= t.shutdownSeconds * 1000) setState(cloud, i, 'stopped');
    runInstanceProcess(cloud, i, now);
  }
}

/** Images go `pending` → `available` (never, for a release whose image never becomes available). */
export function tickImages(cloud: FakeCloud, now: number): void {
  const t = cloud.timings;
  for (const image of cloud.images.values()) {
    const behaviour = cloud.behaviour(image.release);
    if (image.state === 'pending' && !behaviour.imageNeverAvailable && now - image.createdAt >= t.imageSeconds * 1000) image.state = 'available';
  }
}

/** Moves an instance to `state`, stamped with the virtual time. */
export function setState(cloud: FakeCloud, i: Instance, state: Instance['state']): void {
  i.state = state;
  i.stateAt = cloud.now();
}

/** Instance-initiated shutdown: honours the instance's shutdown behaviour. */
export function powerOff(cloud: FakeCloud, i: Instance): void {
  setState(cloud, i, i.shutdownBehavior === 'terminate' ? 'shutting-down' : 'stopping');
}

/** The release an instance runs: its `herd:release` tag, else its image's release. */
export function releaseOfInstance(cloud: FakeCloud, i: Instance): string | undefined {
  return i.tags[TAGS.release] ?? cloud.images.get(i.imageId)?.release;
}

/**
 * Seconds before its report is due within which a builder's or runner's process may finish
 * between two reads of the deploy step (`FakeCloud.races`).
 */
const RACE_WINDOW_SECONDS = 30;

/**
 * When `cloud.races` is on, a read that found no report of a running builder or runner whose
 * report is due soon is straddled: the instance reports and powers off before the next call,
 * so the deploy step's next read (its state) sees it stopped. Returns whether it will.
 */
export function straddleReportRead(cloud: FakeCloud, parameterName: string): boolean {
  if (!cloud.races) return false;
  const id = /-runs\/(i-[0-9a-f]+)$/.exec(parameterName)?.[1];
  const i = id ? cloud.instances.get(id) : undefined;
  if (!i || i.state !== 'running' || i.reported) return false;
  const role = i.tags[TAGS.role];
  const dueAt = role === 'builder' ? i.launchedAt + builderSeconds(cloud, i) * 1000 : role === 'release' ? i.stateAt + cloud.timings.migrationSeconds * 1000 : undefined;
  if (dueAt === undefined || dueAt - cloud.now() > RACE_WINDOW_SECONDS * 1000) return false;
  cloud.straddled.push(role ?? 'unknown');
  cloud.beforeNextCall(() => runInstanceProcess(cloud, i, Math.max(cloud.now(), dueAt)));
  return true;
}

/** What a builder bakes, from its user data (`herd-bake.sh --layer`; none: a release from Amazon Linux in one go). */
function layerOf(i: Instance): { layer: 'base' | 'release' | 'full'; provision?: string } {
  const layer = /--layer (base|release)\b/.exec(i.userData)?.[1] as 'base' | 'release' | undefined;
  const provision = /--provision '([^']*)'/.exec(i.userData)?.[1];
  return { layer: layer ?? 'full', ...(provision !== undefined ? { provision } : {}) };
}

/** Seconds from a builder's launch to its report: a base is boot + setup + herd/provision; a release on a base skips them. */
function builderSeconds(cloud: FakeCloud, i: Instance): number {
  const t = cloud.timings;
  const { layer } = layerOf(i);
  return layer === 'base' ? t.bootSeconds + t.provisionSeconds : layer === 'release' ? t.bakeSeconds : t.bakeSeconds + t.provisionSeconds;
}

/**
 * What `herd-bake.sh` (bake.sh) would exit with before building anything, as strict as the
 * scripts: `--provision` must be the SHA-256 of the artifact's herd/provision; a release
 * layer needs a herd base image provisioned with it; a base layer needs plain Amazon Linux.
 * Undefined: the bake runs.
 */
function layerRefusal(cloud: FakeCloud, i: Instance, release: string | undefined): { exitCode: number; log: string } | undefined {
  const { layer, provision } = layerOf(i);
  if (layer === 'full') return undefined;
  const image = cloud.images.get(i.imageId);
  const actual = (release !== undefined ? cloud.artifactProvisions.get(release) : undefined) ?? provisionHash(cloud.behaviour(release));
  if (provision !== actual) return { exitCode: 3, log: `herd bake: artifact refused: its herd/provision has SHA-256 ${actual}, not --provision ${provision ?? '(none)'}` };
  if (layer === 'release') {
    if (image?.tags[TAGS.role] !== 'base') {
      cloud.violations.push(`builder ${i.id} bakes a release layer on ${i.imageId}, which is not a herd base image`);
      return { exitCode: 3, log: 'herd bake: --layer release: /etc/herd/base not found: this image is not a herd base image' };
    }
    if (image.tags[TAGS.provision] !== provision) return { exitCode: 3, log: `herd bake: --layer release: the base image was provisioned with herd/provision ${image.tags[TAGS.provision]}, not ${provision}` };
  }
  if (layer === 'base' && image?.tags[TAGS.app] !== undefined) cloud.violations.push(`builder ${i.id} bakes a base on ${i.imageId}, a herd image, not Amazon Linux`);
  return undefined;
}

/** What runs on a running instance: a builder bakes and reports (or its watchdog powers it off), a runner migrates and reports. */
function runInstanceProcess(cloud: FakeCloud, i: Instance, now: number): void {
  // A `herd run` instance ships its output while it runs and powers off after reporting (runs.ts).
  if (i.tags[TAGS.role] === 'run') return tickRunInstance(cloud, i, now, (x) => powerOff(cloud, x));
  if (i.state !== 'running' || i.reported) return;
  const role = i.tags[TAGS.role];
  const release = releaseOfInstance(cloud, i);
  const behaviour = cloud.behaviour(release);
  if (role === 'builder' && watchdogFired(i, now)) {
    // `shutdown -h +N` at the top of the user data: a hung bake powers the builder off.
    i.reported = true;
    powerOff(cloud, i);
    return;
  }
  if (role === 'builder' && now - i.launchedAt >= builderSeconds(cloud, i) * 1000) {
    const report = /--report '([^']+)'/.exec(i.userData)?.[1];
    if (!report) {
      cloud.violations.push(`builder ${i.id} has no --report in its user data`);
      i.reported = true;
      return;
    }
    const refused = layerRefusal(cloud, i, release);
    const base = layerOf(i).layer === 'base';
    const exitCode = refused?.exitCode ?? (base ? behaviour.baseBakeExitCode : behaviour.bakeExitCode) ?? 0;
    const failedLog = base ? `herd/provision: dnf: No match for argument: postgresql99\nexit status ${exitCode}` : `npm ERR! build failed\nexit status ${exitCode}`;
    cloud.writeParameter(
      `${report}${i.id}`,
      JSON.stringify({
        exitCode,
        logTail: exitCode === 0 ? 'bake complete' : (refused?.log ?? failedLog),
        // A base installs no release: it reports no process.
        ...(exitCode === 0 && !base ? { processes: behaviour.processes ?? ['web', 'worker', 'release'] } : {}),
      }),
    );
    i.reported = true;
    // herd-bake powers the builder off after reporting, on success and on failure.
    powerOff(cloud, i);
  }
  if (role === 'release' && now - i.stateAt >= cloud.timings.migrationSeconds * 1000) {
    if (!/--role release/.test(i.userData)) {
      cloud.violations.push(`runner ${i.id} user data does not run the release role`);
    }
    const exitCode = behaviour.migrationExitCode ?? 0;
    cloud.writeParameter(
      `${parameterNames(cloud.app, cloud.env).releaseRunsPrefix}${i.id}`,
      JSON.stringify({
        exitCode,
        logTail: exitCode === 0 ? 'Applying shop.0042_orders... OK' : 'django.db.utils.ProgrammingError: column "sku" does not exist',
      }),
    );
    i.reported = true;
    powerOff(cloud, i);
  }
}

/** A builder's watchdog (`shutdown -h +N` in its user data) has run out. */
function watchdogFired(i: Instance, now: number): boolean {
  const minutes = /^shutdown -h \+(\d+)/m.exec(i.userData)?.[1];
  return minutes !== undefined && now - i.launchedAt >= Number(minutes) * 60_000;
}

// ---------------------------------------------------------------- API

/** Seconds a deregistered image's snapshot stays "in use" when it is not deleted with it. */
const SNAPSHOT_RELEASE_SECONDS = 5;

/** The launch template version `version` names (`$Default`, `$Latest` or a number), or EC2's error. */
export function resolveVersion(lt: LaunchTemplate | undefined, version: string | undefined): LtVersion {
  if (!lt) fail('InvalidLaunchTemplateId.NotFound', 'The specified launch template does not exist.');
  const n = version === undefined || version === '$Default' ? lt.defaultVersion : version === '$Latest' ? lt.versions.length : Number(version);
  const v = Number.isInteger(n) ? lt.versions.find((x) => x.number === n) : undefined;
  if (!v) fail('InvalidLaunchTemplateId.VersionNotFound', `Could not find launch template version ${version} for ${lt.id}`);
  return v;
}

/** The image `id`, or EC2's InvalidAMIID.NotFound (`shown`: the id named in the error). */
function requireImage(cloud: FakeCloud, id: string | undefined, shown = id): Image {
  const image = id ? cloud.images.get(id) : undefined;
  if (!image) fail('InvalidAMIID.NotFound', `The image id '[${shown}]' does not exist`);
  return image;
}

/** A launch-template version created seconds ago is not known yet (eventual consistency). */
export function requireVisibleVersion(cloud: FakeCloud, lt: LaunchTemplate | undefined, v: LtVersion): void {
  if (lt && !cloud.visible('launch-template-version', `${lt.id}:${v.number}`)) {
    fail('InvalidLaunchTemplateId.VersionNotFound', `Could not find launch template version ${v.number} for ${lt.id}`);
  }
}

/** An instance as RunInstances and DescribeInstances show it. */
function describeInstance(i: Instance): ec2.Instance {
  return {
    InstanceId: i.id,
    ImageId: i.imageId,
    InstanceType: i.instanceType as ec2._InstanceType,
    State: { Name: i.state as ec2.InstanceStateName },
    LaunchTime: new Date(i.launchedAt),
    ...(i.subnetId ? { SubnetId: i.subnetId } : {}),
    Tags: tagList(i.tags),
    ...(i.instanceProfileArn ? { IamInstanceProfile: { Arn: i.instanceProfileArn } } : {}),
  };
}

/** Registers the EC2 API handlers on `cloud`. */
export function registerEc2(cloud: FakeCloud): void {
  cloud.on('ec2', ec2.RunInstancesCommand, (input) => {
    if (input.MinCount !== 1 || input.MaxCount !== 1) fail('InvalidParameterValue', 'herd launches one instance at a time');
    if (input.ClientToken && input.ClientToken.length > 64) fail('InvalidParameterValue', 'ClientToken is longer than 64 characters');
    const existing = input.ClientToken ? [...cloud.instances.values()].find((i) => i.clientToken === input.ClientToken) : undefined;
    if (existing) return { Instances: [describeInstance(existing)] };
    let imageId = input.ImageId;
    let userData = input.UserData ? Buffer.from(input.UserData, 'base64').toString('utf8') : '';
    let instanceType = input.InstanceType as string | undefined;
    let ltId: string | undefined;
    let ltVersion: string | undefined;
    const profile = input.IamInstanceProfile;
    if (profile && !profile.Arn && !profile.Name) fail('InvalidParameterValue', 'IamInstanceProfile needs an Arn or a Name');
    // The request's profile overrides the launch template's (EC2 allows it alongside LaunchTemplate).
    let instanceProfileArn = profile?.Arn ?? profile?.Name;
    if (input.LaunchTemplate) {
      const lt = cloud.launchTemplates.get(input.LaunchTemplate.LaunchTemplateId ?? '');
      const v = resolveVersion(lt, input.LaunchTemplate.Version);
      requireVisibleVersion(cloud, lt, v);
      imageId ??= v.imageId;
      userData ||= v.userData ?? '';
      instanceType ??= v.instanceType;
      instanceProfileArn ??= v.instanceProfileArn;
      ltId = lt?.id;
      ltVersion = String(v.number);
    }
    if (!imageId) fail('MissingParameter', 'The request must contain the parameter ImageId');
    if (imageId.startsWith('resolve:ssm:')) {
      // EC2 resolves the parameter now; the instance runs the AMI it holds.
      const name = imageId.slice('resolve:ssm:'.length);
      const value = cloud.parameters.get(name);
      if (value === undefined) fail('InvalidParameterValue', `The SSM parameter ${name} does not exist`);
      imageId = value;
    }
    const image = requireImage(cloud, imageId);
    if (image.state !== 'available') fail('InvalidAMIID.Unavailable', `The image ${imageId} is not available`);
    if (!instanceType) fail('MissingParameter', 'The request must contain the parameter InstanceType');
    if (architectureOf(instanceType) !== image.architecture) {
      fail('InvalidParameterValue', `The architecture '${architectureOf(instanceType)}' of the specified instance type does not match the architecture '${image.architecture}' of the specified AMI.`);
    }
    const tags: Tags = {};
    for (const spec of input.TagSpecifications ?? []) {
      if (spec.ResourceType === 'instance') Object.assign(tags, tagsFrom(spec.Tags));
    }
    let rootVolume: Instance['rootVolume'];
    for (const b of input.BlockDeviceMappings ?? []) {
      if (!b.DeviceName) fail('InvalidBlockDeviceMapping', 'A block device mapping needs a DeviceName');
      const size = b.Ebs?.VolumeSize;
      if (size !== undefined && (size < 8 || size > 16384)) fail('InvalidBlockDeviceMapping', `Volume of ${size} GiB is smaller than the snapshot (8 GiB) or too large`);
      if (b.Ebs?.VolumeType && !['gp2', 'gp3', 'io1', 'io2', 'st1', 'sc1', 'standard'].includes(b.Ebs.VolumeType)) {
        fail('InvalidParameterValue', `Invalid volume type ${b.Ebs.VolumeType}`);
      }
      // EbsBlockDevice: "If KmsKeyId is specified, the encrypted state must be true."
      if (b.Ebs?.KmsKeyId !== undefined && b.Ebs.Encrypted !== true) {
        fail('InvalidParameterDependency', `The parameter KmsKeyId requires the parameter Encrypted to be set (block device ${b.DeviceName}).`);
      }
      if (b.DeviceName === '/dev/xvda') {
        rootVolume = {
          deviceName: b.DeviceName,
          encrypted: b.Ebs?.Encrypted === true,
          ...(size !== undefined ? { sizeGiB: size } : {}),
          ...(b.Ebs?.VolumeType ? { type: b.Ebs.VolumeType } : {}),
          ...(b.Ebs?.KmsKeyId ? { kmsKeyId: b.Ebs.KmsKeyId } : {}),
        };
      }
    }
    // Capacity is per availability zone: a zone without it refuses, another one may not.
    if (input.SubnetId && cloud.noCapacity.has(input.SubnetId)) {
      fail('InsufficientInstanceCapacity', `We currently do not have sufficient ${instanceType} capacity in the Availability Zone of ${input.SubnetId}. Our system will be working on provisioning additional capacity.`, 500);
    }
    const shutdownBehavior = input.InstanceInitiatedShutdownBehavior === 'terminate' ? 'terminate' : 'stop';
    if (tags[TAGS.role] === 'builder') {
      if (shutdownBehavior !== 'stop') cloud.violations.push('builder launched with shutdown behaviour terminate: powering off after its bake would destroy it before it is imaged');
      if (!rootVolume?.encrypted) cloud.violations.push('builder launched without an encrypted root volume (/dev/xvda)');
    }
    const id = cloud.newInstance({
      imageId,
      instanceType,
      tags,
      userData,
      shutdownBehavior,
      ...(input.ClientToken ? { clientToken: input.ClientToken } : {}),
      ...(ltId ? { ltId, ltVersion } : {}),
      ...(instanceProfileArn ? { instanceProfileArn } : {}),
      ...(rootVolume ? { rootVolume } : {}),
      ...(input.SubnetId ? { subnetId: input.SubnetId } : {}),
    });
    cloud.created('instance', id);
    const inst = cloud.instances.get(id);
    if (!inst) fail('InternalError', 'lost the instance', 500);
    return { Instances: [describeInstance(inst)] };
  });

  cloud.on('ec2', ec2.DescribeInstancesCommand, (input) => {
    // Eventual consistency: an instance launched seconds ago is not known yet, nor listed.
    let list = [...cloud.instances.values()].filter((i) => cloud.visible('instance', i.id));
    if (input.InstanceIds) {
      for (const id of input.InstanceIds) if (!list.some((i) => i.id === id)) fail('InvalidInstanceID.NotFound', `The instance ID '${id}' does not exist`);
      list = list.filter((i) => input.InstanceIds?.includes(i.id));
    }
    list = list.filter((i) =>
      filterMatches(input.Filters, (name) => {
        if (name.startsWith('tag:')) return i.tags[name.slice(4)];
        if (name === 'instance-state-name') return i.state;
        if (name === 'image-id') return i.imageId;
        if (name === 'instance-id') return i.id;
        fail('InvalidParameterValue', `The filter '${name}' is invalid`);
      }),
    );
    return { Reservations: list.length ? [{ Instances: list.map((i) => describeInstance(i)) }] : [] };
  });

  cloud.on('ec2', ec2.TerminateInstancesCommand, (input) => {
    const ids = input.InstanceIds ?? [];
    if (ids.length === 0) fail('MissingParameter', 'The request must contain the parameter InstanceIds');
    for (const id of ids) if (!cloud.instances.has(id) || !cloud.visible('instance', id)) fail('InvalidInstanceID.NotFound', `The instance ID '${id}' does not exist`);
    return {
      TerminatingInstances: ids.map((id) => {
        const i = cloud.instances.get(id);
        const previous = i?.state ?? 'terminated';
        if (i && i.state !== 'terminated' && i.state !== 'shutting-down') setState(cloud, i, 'shutting-down');
        return { InstanceId: id, PreviousState: { Name: previous as ec2.InstanceStateName }, CurrentState: { Name: (i?.state ?? 'terminated') as ec2.InstanceStateName } };
      }),
    };
  });

  cloud.on('ec2', ec2.CreateImageCommand, (input) => {
    const i = cloud.instances.get(input.InstanceId ?? '');
    if (!i) fail('InvalidInstanceID.NotFound', `The instance ID '${input.InstanceId}' does not exist`);
    if (i.state !== 'running' && i.state !== 'stopped') fail('IncorrectState', `Instance '${i.id}' is not in a state from which it can be imaged (${i.state})`);
    if (i.state === 'running' && !input.NoReboot) {
      // AWS shuts a running instance down for the snapshot and starts it again; a stopped one is imaged as is.
      i.reboots = (i.reboots ?? 0) + 1;
      i.stateAt = cloud.now();
    }
    const name = input.Name ?? '';
    if (!/^[A-Za-z0-9().\-/_ ]{3,128}$/.test(name)) fail('InvalidAMIName.Malformed', `AMI name ${name} is invalid`);
    if ([...cloud.images.values()].some((im) => im.name === name)) fail('InvalidAMIName.Duplicate', `AMI name ${name} is already in use by an AMI`);
    let tags: Tags = {};
    let snapTags: Tags = {};
    for (const spec of input.TagSpecifications ?? []) {
      if (spec.ResourceType === 'image') tags = tagsFrom(spec.Tags);
      else if (spec.ResourceType === 'snapshot') snapTags = tagsFrom(spec.Tags);
      else fail('InvalidParameterValue', `CreateImage cannot tag ${spec.ResourceType}`);
    }
    // An image has the architecture of the instance it was made from.
    const id = cloud.addImage(tags[TAGS.release] ?? '', tags, 'pending', cloud.now(), architectureOf(i.instanceType));
    cloud.created('image', id);
    const image = cloud.images.get(id);
    if (image) {
      image.name = name;
      const snap = cloud.snapshots.get(image.snapshotId);
      if (snap) snap.tags = snapTags;
    }
    return { ImageId: id };
  });

  cloud.on('ec2', ec2.DescribeImagesCommand, (input) => {
    // Eventual consistency: an image created seconds ago is not known yet, nor listed.
    let list = [...cloud.images.values()].filter((im) => cloud.visible('image', im.id));
    if (input.ImageIds) {
      for (const id of input.ImageIds) if (!list.some((im) => im.id === id)) requireImage(cloud, undefined, id);
      list = list.filter((im) => input.ImageIds?.includes(im.id));
    }
    list = list.filter((im) =>
      filterMatches(input.Filters, (name) => {
        if (name.startsWith('tag:')) return im.tags[name.slice(4)];
        if (name === 'state') return im.state;
        if (name === 'name') return im.name;
        if (name === 'image-id') return im.id;
        fail('InvalidParameterValue', `The filter '${name}' is invalid`);
      }),
    );
    return {
      Images: list.map((im) => ({
        ImageId: im.id,
        Name: im.name,
        State: im.state as ec2.ImageState,
        CreationDate: new Date(im.createdAt).toISOString(),
        Architecture: im.architecture as ec2.ArchitectureValues,
        Tags: tagList(im.tags),
        BlockDeviceMappings: [{ DeviceName: '/dev/xvda', Ebs: { SnapshotId: im.snapshotId } }],
      })),
    };
  });

  cloud.on('ec2', ec2.DeregisterImageCommand, (input) => {
    const image = cloud.images.get(input.ImageId ?? '');
    if (!image) fail('InvalidAMIID.NotFound', `The image id '[${input.ImageId}]' does not exist`);
    const users = [...cloud.instances.values()].filter((i) => i.imageId === image.id && i.state !== 'terminated');
    if (users.length > 0) cloud.violations.push(`deregistered ${image.id} while ${users.map((u) => u.id).join(', ')} run it`);
    for (const g of cloud.groups.values()) {
      const lt = cloud.launchTemplates.get(g.ltId);
      const n = g.ltVersion === '$Latest' ? lt?.versions.length : g.ltVersion === '$Default' ? lt?.defaultVersion : Number(g.ltVersion);
      const v = lt?.versions.find((x) => x.number === n);
      if (v?.imageId === image.id) cloud.violations.push(`deregistered ${image.id} used by ${g.name}'s launch template version ${g.ltVersion}`);
    }
    // Any environment's current image: a release baked in one environment may be promoted to another.
    const currentImage = /^\/herd\/[^/]+\/([^/]+)\/current-image$/;
    for (const [name, value] of cloud.parameters) {
      const env = currentImage.exec(name)?.[1];
      if (env !== undefined && value === image.id) {
        cloud.violations.push(env === cloud.env ? `deregistered current image ${image.id}` : `deregistered ${image.id}, the current image of ${env}`);
      }
    }
    cloud.images.delete(image.id);
    if (input.DeleteAssociatedSnapshots) {
      cloud.snapshots.delete(image.snapshotId);
      return { Return: true, DeleteSnapshotResults: [{ SnapshotId: image.snapshotId, ReturnCode: 'success' as const }] };
    }
    // Right after a deregistration EC2 may still hold the snapshot as in use (boto/boto#3019).
    cloud.snapshotsInUseUntil.set(image.snapshotId, cloud.now() + SNAPSHOT_RELEASE_SECONDS * 1000);
    return { Return: true };
  });

  cloud.on('ec2', ec2.DeleteSnapshotCommand, (input) => {
    const id = input.SnapshotId ?? '';
    if (!cloud.snapshots.has(id)) fail('InvalidSnapshot.NotFound', `The snapshot '${id}' does not exist.`);
    const user = [...cloud.images.values()].find((im) => im.snapshotId === id);
    if (user) fail('InvalidSnapshot.InUse', `The snapshot ${id} is currently in use by ${user.id}`);
    if ((cloud.snapshotsInUseUntil.get(id) ?? 0) > cloud.now()) fail('InvalidSnapshot.InUse', `The snapshot ${id} is currently in use by an image being deregistered`);
    cloud.snapshots.delete(id);
    return {};
  });

  cloud.on('ec2', ec2.CreateLaunchTemplateVersionCommand, (input) => {
    const lt = cloud.launchTemplates.get(input.LaunchTemplateId ?? '');
    if (!lt) fail('InvalidLaunchTemplateId.NotFound', `The specified launch template, with template ID ${input.LaunchTemplateId}, does not exist.`);
    if (input.ClientToken) {
      const same = lt.versions.find((v) => v.clientToken === input.ClientToken);
      if (same) return { LaunchTemplateVersion: { LaunchTemplateId: lt.id, VersionNumber: same.number } };
    }
    const source = input.SourceVersion !== undefined ? resolveVersion(lt, input.SourceVersion) : undefined;
    const imageId = input.LaunchTemplateData?.ImageId ?? source?.imageId;
    const instanceProfileArn = input.LaunchTemplateData?.IamInstanceProfile?.Arn ?? source?.instanceProfileArn;
    if (imageId && !/^(ami-[0-9a-f]+|resolve:ssm:.+)$/.test(imageId)) fail('InvalidAMIID.Malformed', `Invalid id: "${imageId}"`);
    const userData = input.LaunchTemplateData?.UserData !== undefined ? Buffer.from(input.LaunchTemplateData.UserData, 'base64').toString('utf8') : source?.userData;
    const v: LtVersion = {
      number: lt.versions.length + 1,
      ...(imageId ? { imageId } : {}),
      ...(userData ? { userData } : {}),
      ...(instanceProfileArn ? { instanceProfileArn } : {}),
      instanceType: input.LaunchTemplateData?.InstanceType ?? source?.instanceType ?? 't3.small',
      ...(input.VersionDescription ? { description: input.VersionDescription } : {}),
      ...(input.ClientToken ? { clientToken: input.ClientToken } : {}),
    };
    lt.versions.push(v);
    cloud.created('launch-template-version', `${lt.id}:${v.number}`);
    return { LaunchTemplateVersion: { LaunchTemplateId: lt.id, VersionNumber: v.number } };
  });

  cloud.on('ec2', ec2.DescribeLaunchTemplatesCommand, (input) => {
    const ids = input.LaunchTemplateIds;
    const names = input.LaunchTemplateNames;
    if (input.MaxResults !== undefined) {
      if (ids || names) fail('InvalidParameterCombination', 'The parameter MaxResults cannot be used with the parameter LaunchTemplateIds or LaunchTemplateNames');
      if (input.MaxResults < 1 || input.MaxResults > 200) fail('InvalidParameterValue', `MaxResults must be between 1 and 200 (received ${input.MaxResults})`);
    }
    let list = [...cloud.launchTemplates.values()].sort((a, b) => a.id.localeCompare(b.id));
    if (ids) {
      for (const id of ids) {
        if (!/^lt-[0-9a-f]{17}$/.test(id)) fail('InvalidLaunchTemplateId.Malformed', `The specified ID for the launch template (${id}) is not valid.`);
        if (!cloud.launchTemplates.has(id)) fail('InvalidLaunchTemplateId.NotFound', `At least one of the launch templates specified in the request does not exist.`);
      }
      list = list.filter((lt) => ids.includes(lt.id));
    }
    if (names) {
      for (const name of names) if (!list.some((lt) => lt.name === name)) fail('InvalidLaunchTemplateName.NotFoundException', 'At least one of the launch templates specified in the request does not exist.');
      list = list.filter((lt) => names.includes(lt.name));
    }
    list = list.filter((lt) =>
      filterMatches(input.Filters, (name) => {
        if (name.startsWith('tag:')) return lt.tags[name.slice(4)];
        if (name === 'launch-template-name') return lt.name;
        fail('InvalidParameterValue', `The filter '${name}' is invalid`);
      }),
    );
    const start = input.NextToken ? Number(input.NextToken) : 0;
    if (!Number.isInteger(start) || start < 0 || start > list.length) fail('InvalidPaginationToken', `The pagination token ${input.NextToken} is invalid`);
    const size = input.MaxResults ?? list.length;
    const page = list.slice(start, start + size);
    const next = start + size < list.length ? String(start + size) : undefined;
    return {
      LaunchTemplates: page.map((lt) => ({
        LaunchTemplateId: lt.id,
        LaunchTemplateName: lt.name,
        CreateTime: new Date(lt.createdAt),
        DefaultVersionNumber: lt.defaultVersion,
        LatestVersionNumber: lt.versions.length,
        Tags: tagList(lt.tags),
      })),
      ...(next ? { NextToken: next } : {}),
    };
  });

  cloud.on('ec2', ec2.DescribeLaunchTemplateVersionsCommand, (input) => {
    const lt = cloud.launchTemplates.get(input.LaunchTemplateId ?? '');
    if (!lt) fail('InvalidLaunchTemplateId.NotFound', `The specified launch template, with template ID ${input.LaunchTemplateId}, does not exist.`);
    const versions = input.Versions
      ? input.Versions.map((n) => {
        const v = resolveVersion(lt, n);
        requireVisibleVersion(cloud, lt, v);
        return v;
      })
      : lt.versions.filter((v) => cloud.visible('launch-template-version', `${lt.id}:${v.number}`));
    return {
      LaunchTemplateVersions: [...new Set(versions)].map((v) => ({
        LaunchTemplateId: lt.id,
        VersionNumber: v.number,
        DefaultVersion: v.number === lt.defaultVersion,
        ...(v.description ? { VersionDescription: v.description } : {}),
        LaunchTemplateData: { ...(v.instanceType ? { InstanceType: v.instanceType as ec2._InstanceType } : {}), ...(v.imageId ? { ImageId: v.imageId } : {}), ...(v.instanceProfileArn ? { IamInstanceProfile: { Arn: v.instanceProfileArn } } : {}) },
      })),
    };
  });
}
