/**
 * The emulator test's template filter removes exactly the listed resource types and the
 * listed dependents, and refuses to drop anything else silently.
 */
import { filterTemplate } from './unsupported-resources';

const template = () => ({
  Resources: {
    Nat: { Type: 'AWS::EC2::NatGateway', Properties: { AllocationId: { 'Fn::GetAtt': ['Eip', 'AllocationId'] } } },
    Eip: { Type: 'AWS::EC2::EIP' },
    Route: { Type: 'AWS::EC2::Route', Properties: { NatGatewayId: { Ref: 'Nat' } }, DependsOn: ['Attachment'] },
    Attachment: { Type: 'AWS::EC2::VPCGatewayAttachment', Properties: {} },
    Ingress: { Type: 'AWS::EC2::SecurityGroupIngress', Properties: { GroupId: { 'Fn::GetAtt': ['Group', 'GroupId'] } } },
    Group: { Type: 'AWS::EC2::SecurityGroup', Properties: {} },
    Function: { Type: 'AWS::Lambda::Function', Properties: {}, DependsOn: ['Ingress', 'Group'] },
  } as Record<string, { Type: string; Properties?: unknown; DependsOn?: string | string[] }>,
  Outputs: { Group: { Value: { Ref: 'Group' } } } as Record<string, unknown>,
});

describe('the emulator test\'s template filter', () => {
  test('removes the listed types and the routes through them, and only those; DependsOn on them goes too', () => {
    const t = template();
    const report = filterTemplate(t);
    expect(report.removed).toEqual({ Nat: 'AWS::EC2::NatGateway', Eip: 'AWS::EC2::EIP', Ingress: 'AWS::EC2::SecurityGroupIngress' });
    expect(report.dependents).toEqual({ Route: 'AWS::EC2::Route' });
    expect(Object.keys(t.Resources).sort()).toEqual(['Attachment', 'Function', 'Group']);
    expect(t.Resources.Function?.DependsOn).toEqual(['Group']);
  });

  test('a resource of another type that points at a removed one is an error, not a silent removal', () => {
    const t = template();
    t.Resources.Function = { Type: 'AWS::Lambda::Function', Properties: { Environment: { Variables: { NAT: { 'Fn::Sub': '${Nat}' } } } } };
    expect(() => filterTemplate(t)).toThrow(/Function \(AWS::Lambda::Function\) refers to Nat/);
  });

  test('an output that points at a removed resource is an error', () => {
    const t = template();
    t.Outputs.Nat = { Value: { Ref: 'Nat' } };
    expect(() => filterTemplate(t)).toThrow(/output Nat refers to Nat/);
  });
});
