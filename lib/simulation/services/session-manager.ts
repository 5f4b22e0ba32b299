/**
 * Session Manager in the fake cloud: `StartSession` and `TerminateSession` as the SSM API
 * reference describes them, as strict as AWS where herd depends on it.
 *
 * - The target must be a managed node: an instance that exists, is `running`, and whose SSM
 *   agent has registered (`SSM_AGENT_ONLINE_SECONDS` after it started running, a simple model
 *   of the agent's registration); otherwise `TargetNotConnected` ("<id> is not connected.").
 * - `DocumentName` matches `^[a-zA-Z0-9_\-.:/]{3,128}$` and names a Session document the fake
 *   knows (`SESSION_DOCUMENTS`, with their parameters), else `InvalidDocument`; a parameter the
 *   document does not define, or a missing required one, is `InvalidParameters`… (the SSM
 *   error for parameters a document does not accept).
 * - The answer: `SessionId` (`<caller's user name>-<17 hex>`, as AWS names sessions after the
 *   caller), `TokenValue`, `StreamUrl` (`wss://ssmmessages.<region>.amazonaws.com/v1/data-channel/<id>?role=publish_subscribe`).
 * - `TerminateSession` ends a session (a terminated one cannot be resumed; ending it again
 *   answers the same).
 */
import * as ssm from '@aws-sdk/client-ssm';
import { randomBytes } from 'node:crypto';
import type { FakeCloud } from '../fake-cloud';
import { fail } from './common';

/** Seconds after an instance is `running` before its SSM agent is online. */
export const SSM_AGENT_ONLINE_SECONDS = 30;

/** Session documents the fake knows, and their parameters (`true`: required). */
export const SESSION_DOCUMENTS: Readonly<Record<string, Readonly<Record<string, boolean>>>> = {
  'SSM-SessionManagerRunShell': {},
  'AWS-StartInteractiveCommand': { command: true },
  'AWS-StartNonInteractiveCommand': { command: true },
  'AWS-StartPortForwardingSession': { portNumber: false, localPortNumber: false },
};

/** One session, as started. */
export interface FakeSession {
  readonly sessionId: string;
  readonly target: string;
  readonly documentName: string;
  readonly parameters: Readonly<Record<string, readonly string[]>>;
  readonly reason?: string;
  status: 'Connected' | 'Terminated';
}

interface State {
  readonly sessions: Map<string, FakeSession>;
  userName: string;
}

const STATES = new WeakMap<FakeCloud, State>();

function stateOf(cloud: FakeCloud): State {
  let s = STATES.get(cloud);
  if (!s) {
    s = { sessions: new Map(), userName: 'operator' };
    STATES.set(cloud, s);
  }
  return s;
}

/** Every session started on `cloud`, in order. */
export function sessionsOf(cloud: FakeCloud): FakeSession[] {
  return [...stateOf(cloud).sessions.values()];
}

/** The user name AWS puts at the head of session ids (the fake does not know who calls: the test says). */
export function setSessionUserName(cloud: FakeCloud, userName: string): void {
  stateOf(cloud).userName = userName;
}

/** Registers StartSession and TerminateSession on `cloud`. */
export function registerSessionManager(cloud: FakeCloud): void {
  cloud.on('ssm', ssm.StartSessionCommand, (input) => {
    const target = input.Target ?? '';
    if (target.length < 1 || target.length > 400) fail('ValidationException', '1 validation error detected: Value at \'target\' failed to satisfy constraint: Member must have length between 1 and 400');
    const documentName = input.DocumentName ?? 'SSM-SessionManagerRunShell';
    if (!/^[a-zA-Z0-9_\-.:/]{3,128}$/.test(documentName)) fail('ValidationException', `1 validation error detected: Value '${documentName}' at 'documentName' failed to satisfy constraint: Member must satisfy regular expression pattern: ^[a-zA-Z0-9_\\-.:/]{3,128}$`);
    const defined = SESSION_DOCUMENTS[documentName];
    if (!defined) fail('InvalidDocument', `Document ${documentName} does not exist in your account`);
    const parameters = input.Parameters ?? {};
    for (const name of Object.keys(parameters)) {
      if (!(name in defined)) fail('InvalidParameters', `${name} is not a parameter of document ${documentName}`);
    }
    for (const [name, required] of Object.entries(defined)) {
      if (required && !(parameters[name]?.length)) fail('InvalidParameters', `document ${documentName} requires parameter ${name}`);
    }
    const i = cloud.instances.get(target);
    const online = i !== undefined && i.state === 'running' && cloud.now() - i.stateAt >= SSM_AGENT_ONLINE_SECONDS * 1000;
    if (!online) fail('TargetNotConnected', `${target} is not connected.`);
    const s = stateOf(cloud);
    const sessionId = `${s.userName}-${randomBytes(9).toString('hex').slice(0, 17)}`;
    s.sessions.set(sessionId, {
      sessionId,
      target,
      documentName,
      parameters: Object.fromEntries(Object.entries(parameters).map(([k, v]) => [k, [...(v ?? [])]])),
      ...(input.Reason ? { reason: input.Reason } : {}),
      status: 'Connected',
    });
    return {
      SessionId: sessionId,
      TokenValue: randomBytes(24).toString('base64'),
      StreamUrl: `wss://ssmmessages.eu-west-1.amazonaws.com/v1/data-channel/${sessionId}?role=publish_subscribe`,
    };
  });

  cloud.on('ssm', ssm.TerminateSessionCommand, (input) => {
    const id = input.SessionId ?? '';
    if (id.length < 1 || id.length > 96) fail('ValidationException', '1 validation error detected: Value at \'sessionId\' failed to satisfy constraint: Member must have length between 1 and 96');
    const session = stateOf(cloud).sessions.get(id);
    if (session) session.status = 'Terminated';
    return { SessionId: id };
  });
}
