/**
 * Whether a KMS key policy lets a principal use the key, as far as the policy alone says:
 * the `Allow` statements naming the principal (its ARN, or `*` with conditions on it), their
 * `Action` or `NotAction` patterns (`kms:*`, `kms:ReEncrypt*`, case-insensitive), the
 * unconditional `Deny` statements that apply. Conditions are read only for the keys that can be
 * decided from the principal alone (`aws:PrincipalArn`, `aws:PrincipalAccount`,
 * `kms:CallerAccount`) and `kms:GrantIsForAWSResource` (true: Auto Scaling's grants are for
 * EC2); a statement with any other condition is counted as undecided, never as allowing.
 * Grants are not part of a key policy (ListGrants), so a principal given a grant reads as not
 * allowed here. Pure: no AWS call.
 */

/** What Auto Scaling's service-linked role needs of a customer-managed EBS key (Auto Scaling guide, "Required AWS KMS key policy for use with encrypted volumes"). */
export const AUTO_SCALING_KEY_ACTIONS = ['kms:Encrypt', 'kms:Decrypt', 'kms:ReEncrypt*', 'kms:GenerateDataKey*', 'kms:DescribeKey', 'kms:CreateGrant'] as const;

/** What the deploy step's role uses the key for through EC2, granted by its IAM policy (README, "A customer-managed EBS key"). */
export const DEPLOY_STEP_KEY_ACTIONS = ['kms:CreateGrant', 'kms:Decrypt', 'kms:DescribeKey', 'kms:GenerateDataKeyWithoutPlaintext', 'kms:ReEncrypt*'] as const;

/** The concrete actions a documented pattern stands for (`kms:ReEncrypt*`: ReEncryptFrom and ReEncryptTo). */
const CONCRETE: Readonly<Record<string, readonly string[]>> = {
  'kms:ReEncrypt*': ['kms:ReEncryptFrom', 'kms:ReEncryptTo'],
  'kms:GenerateDataKey*': ['kms:GenerateDataKey', 'kms:GenerateDataKeyWithoutPlaintext'],
};

interface Statement {
  readonly Effect?: unknown;
  readonly Principal?: unknown;
  readonly NotPrincipal?: unknown;
  readonly Action?: unknown;
  readonly NotAction?: unknown;
  readonly Condition?: unknown;
}

export interface KeyPolicyAccess {
  /** The documented actions (of those asked) no statement allows. */
  readonly missing: readonly string[];
  /** The documented actions an unconditional Deny takes away. */
  readonly denied: readonly string[];
  /** Statements naming the principal whose conditions doctor cannot decide. */
  readonly undecided: number;
}

const strings = (v: unknown): string[] => (typeof v === 'string' ? [v] : Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : []);

function glob(pattern: string, value: string): boolean {
  const re = new RegExp(`^${pattern.split('*').map((p) => p.replace(/[.+?^${}()|[\]\\]/g, '\\$&').replace(/\?/g, '.')).join('.*')}$`, 'i');
  return re.test(value);
}

function coversAction(s: Statement, action: string): boolean {
  if (s.NotAction !== undefined) return !strings(s.NotAction).some((p) => glob(p, action));
  return strings(s.Action).some((p) => glob(p, action));
}

/** Whether the statement's Principal names `principal` (its ARN, or `*`); `wildcard` when by `*`. */
function namesPrincipal(s: Statement, principal: string, account: string): { named: boolean; wildcard: boolean } {
  if (s.NotPrincipal !== undefined || s.Principal === undefined) return { named: false, wildcard: false };
  if (s.Principal === '*') return { named: true, wildcard: true };
  const aws = strings((s.Principal as { AWS?: unknown }).AWS);
  if (aws.includes('*')) return { named: true, wildcard: true };
  // The account's root may be written as the bare account id.
  return { named: aws.includes(principal) || (principal.endsWith(':root') && aws.includes(account)), wildcard: false };
}

type Decision = 'true' | 'false' | 'undecided';

/** The statement's conditions for `principal` (of `account`) doing `action`. */
function conditions(s: Statement, principal: string, account: string, action: string): Decision {
  if (s.Condition === undefined) return 'true';
  if (typeof s.Condition !== 'object' || s.Condition === null) return 'undecided';
  let result: Decision = 'true';
  let undecidable = false;
  for (const [operator, block] of Object.entries(s.Condition as Record<string, unknown>)) {
    if (typeof block !== 'object' || block === null) return 'undecided';
    for (const [rawKey, rawValues] of Object.entries(block as Record<string, unknown>)) {
      const key = rawKey.toLowerCase();
      const values = strings(rawValues).concat(typeof rawValues === 'boolean' ? [String(rawValues)] : []);
      const op = operator.replace(/IfExists$/, '');
      // kms:GrantIsForAWSResource is in CreateGrant's request only: absent, a condition on it fails (passes with IfExists).
      if (key === 'kms:grantisforawsresource' && action !== 'kms:CreateGrant') {
        if (op === operator) result = 'false';
        continue;
      }
      const actual = key === 'aws:principalarn' ? principal : key === 'aws:principalaccount' || key === 'kms:calleraccount' ? account : key === 'kms:grantisforawsresource' ? 'true' : undefined;
      if (actual === undefined) {
        undecidable = true;
        continue;
      }
      let ok: boolean;
      if (op === 'Bool') ok = values.some((v) => v.toLowerCase() === actual);
      else if (op === 'StringEquals' || op === 'ArnEquals') ok = values.includes(actual);
      else if (op === 'StringLike' || op === 'ArnLike') ok = values.some((v) => glob(v, actual));
      else {
        undecidable = true;
        continue;
      }
      if (!ok) result = 'false';
    }
  }
  // A condition that fails decides the statement, whatever the undecidable ones say.
  return result === 'false' ? 'false' : undecidable ? 'undecided' : 'true';
}

/** What `policy` (a key policy document, JSON) lets `principal` (an ARN of `account`) do of `actions`. */
export function keyPolicyAccess(policy: string, principal: string, account: string, actions: readonly string[]): KeyPolicyAccess {
  let doc: unknown;
  try {
    doc = JSON.parse(policy);
  } catch {
    throw new Error('the key policy is not JSON');
  }
  const raw = (doc as { Statement?: unknown }).Statement;
  const statements: Statement[] = Array.isArray(raw) ? (raw as Statement[]) : raw && typeof raw === 'object' ? [raw as Statement] : [];
  const missing: string[] = [];
  const denied: string[] = [];
  const undecided = new Set<number>();
  for (const documented of actions) {
    const concrete = CONCRETE[documented] ?? [documented];
    let allowed = true;
    let deniedHere = false;
    for (const action of concrete) {
      let allows = false;
      statements.forEach((s, i) => {
        const who = namesPrincipal(s, principal, account);
        if (!who.named || !coversAction(s, action)) return;
        const c = conditions(s, principal, account, action);
        if (s.Effect === 'Deny' && c === 'true') deniedHere = true;
        if (s.Effect !== 'Allow') return;
        if (c === 'true') allows = true;
        else if (c === 'undecided') undecided.add(i);
      });
      if (!allows) allowed = false;
    }
    if (deniedHere) denied.push(documented);
    else if (!allowed) missing.push(documented);
  }
  return { missing, denied, undecided: undecided.size };
}
