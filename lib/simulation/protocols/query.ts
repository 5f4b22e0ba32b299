/**
 * The AWS query protocols on the fake cloud's side of the wire: `awsQuery` (Auto Scaling,
 * ELBv2, RDS, CloudFormation, SNS, STS) and `ec2Query` (EC2).
 *
 * A request is a form-encoded body (`Action=…&Version=…&Filters.member.1.Name=…`), as the
 * SDK's `QueryShapeSerializer` writes it; `readQueryInput` reads it back into the
 * operation's input, member by member, through the same schema and the same key rules
 * (`xmlName`, `ec2QueryName`, EC2's capitalized keys and flattened lists), so a member the
 * model does not have never reaches the fake. A response is the XML the service sends
 * (`<OpResponse><OpResult>…</OpResult>…` for awsQuery, `<OpResponse>…` for EC2), written by
 * the SDK's own `XmlShapeSerializer` from the operation's output schema; an error is the
 * service's error document (`<ErrorResponse><Error>…` or EC2's `<Response><Errors>…`).
 */
import { XmlShapeSerializer } from '@aws-sdk/core/protocols';
import { NormalizedSchema } from '@smithy/core/schema';

/** A schema reference as the SDK's operation schemas hold them. */
export type SchemaRef = Parameters<typeof NormalizedSchema.of>[0];

/** Which of the two query protocols. */
export type QueryFlavour = 'awsQuery' | 'ec2Query';

/** One key of a form body split at its dots: `Filters.member.1.Name` is Filters → member → 1 → Name. */
interface FormNode {
  value?: string;
  readonly children: Map<string, FormNode>;
}

function formTree(body: string): FormNode {
  const root: FormNode = { children: new Map() };
  for (const [key, value] of new URLSearchParams(body)) {
    let node = root;
    for (const part of key.split('.')) {
      let child = node.children.get(part);
      if (!child) {
        child = { children: new Map() };
        node.children.set(part, child);
      }
      node = child;
    }
    node.value = value;
  }
  return root;
}

/** The key a member is written under (QueryShapeSerializer.getKey). */
function keyOf(name: string, traits: Record<string, unknown>, flavour: QueryFlavour, struct: boolean): string {
  const ec2QueryName = traits.ec2QueryName;
  if (flavour === 'ec2Query' && typeof ec2QueryName === 'string') return ec2QueryName;
  const key = typeof traits.xmlName === 'string' ? traits.xmlName : name;
  return flavour === 'ec2Query' && struct ? key.charAt(0).toUpperCase() + key.slice(1) : key;
}

/** `node.children` in index order (1, 2, …), as far as they go. */
function indexed(node: FormNode | undefined): FormNode[] {
  const items: FormNode[] = [];
  for (let i = 1; node?.children.has(String(i)); i++) items.push(node.children.get(String(i)) as FormNode);
  return items;
}

function readScalar(ns: NormalizedSchema, text: string): unknown {
  if (ns.isBooleanSchema()) return text === 'true';
  if (ns.isNumericSchema()) return Number(text);
  if (ns.isTimestampSchema()) return /^\d+(\.\d+)?$/.test(text) ? new Date(Number(text) * 1000) : new Date(text);
  if (ns.isBlobSchema()) return Buffer.from(text, 'base64');
  return text;
}

function readNode(ns: NormalizedSchema, node: FormNode, flavour: QueryFlavour): unknown {
  if (ns.isStructSchema()) {
    const out: Record<string, unknown> = {};
    for (const [name, member] of ns.structIterator()) {
      const child = node.children.get(keyOf(name, member.getMergedTraits(), flavour, true));
      if (child) out[name] = readNode(member, child, flavour);
    }
    return out;
  }
  if (ns.isListSchema()) {
    const value = ns.getValueSchema();
    const flat = flavour === 'ec2Query' || !!ns.getMergedTraits().xmlFlattened;
    const container = flat ? node : node.children.get(keyOf('member', value.getMergedTraits(), flavour, false));
    return indexed(container).map((item) => readNode(value, item, flavour));
  }
  if (ns.isMapSchema()) {
    const keySchema = ns.getKeySchema();
    const valueSchema = ns.getValueSchema();
    const flat = !!ns.getMergedTraits().xmlFlattened;
    const keyName = keyOf('key', keySchema.getMergedTraits(), flavour, false);
    const valueName = keyOf('value', valueSchema.getMergedTraits(), flavour, false);
    const out: Record<string, unknown> = {};
    for (const entry of indexed(flat ? node : node.children.get('entry'))) {
      const k = entry.children.get(keyName)?.value;
      const v = entry.children.get(valueName);
      if (k !== undefined && v) out[k] = readNode(valueSchema, v, flavour);
    }
    return out;
  }
  return readScalar(ns, node.value ?? '');
}

/** The operation's input, read from a query request's form body (the `Action` and `Version` keys aside). */
export function readQueryInput(inputSchema: SchemaRef, body: string, flavour: QueryFlavour): Record<string, unknown> {
  const ns = NormalizedSchema.of(inputSchema);
  if (ns.isUnitSchema()) return {};
  return readNode(ns, formTree(body), flavour) as Record<string, unknown>;
}

/** The form body's `Action`. */
export function queryAction(body: string): string | undefined {
  return new URLSearchParams(body).get('Action') ?? undefined;
}

const QUERY_SETTINGS = { timestampFormat: { useTrait: true, default: 5 as const }, httpBindings: false, xmlNamespace: '', serviceNamespace: '' };

/** The members of `output` written as XML elements (no root element). */
function outputMembers(outputSchema: SchemaRef, output: Record<string, unknown>): string {
  const ns = NormalizedSchema.of(outputSchema);
  if (ns.isUnitSchema()) return '';
  const serializer = new XmlShapeSerializer(QUERY_SETTINGS);
  serializer.write(ns, output);
  const xml = String(serializer.flush());
  // The serializer writes the structure as one element named after it: keep what is inside.
  if (/^<[^>]*\/>$/.test(xml)) return '';
  return xml.replace(/^<[^>]*>/, '').replace(/<\/[^>]*>$/, '');
}

/** The XML body of a successful response to `action`. */
export function writeQueryOutput(action: string, outputSchema: SchemaRef, output: Record<string, unknown>, flavour: QueryFlavour, requestId: string, xmlNamespace?: string): string {
  const members = outputMembers(outputSchema, output);
  const xmlns = xmlNamespace ? ` xmlns="${xmlNamespace}"` : '';
  if (flavour === 'ec2Query') return `<?xml version="1.0" encoding="UTF-8"?>\n<${action}Response${xmlns}><requestId>${requestId}</requestId>${members}</${action}Response>`;
  return `<${action}Response${xmlns}><${action}Result>${members}</${action}Result><ResponseMetadata><RequestId>${requestId}</RequestId></ResponseMetadata></${action}Response>`;
}

function escapeXml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/** The XML body of an error response, as the service writes it. */
export function writeQueryError(code: string, message: string, status: number, flavour: QueryFlavour, requestId: string): string {
  const error = `<Code>${escapeXml(code)}</Code><Message>${escapeXml(message)}</Message>`;
  if (flavour === 'ec2Query') return `<?xml version="1.0" encoding="UTF-8"?>\n<Response><Errors><Error>${error}</Error></Errors><RequestID>${requestId}</RequestID></Response>`;
  return `<ErrorResponse><Error><Type>${status >= 500 ? 'Receiver' : 'Sender'}</Type>${error}</Error><RequestId>${requestId}</RequestId></ErrorResponse>`;
}
