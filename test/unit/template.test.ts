import { type CfnTemplate, resolveIntrinsics, UnsupportedIntrinsicError } from '../../local/template';

const template: CfnTemplate = {
  Resources: {
    PatchFn: { Type: 'AWS::Lambda::Function' },
    Locks: { Type: 'AWS::DynamoDB::GlobalTable' },
    Events: { Type: 'AWS::SNS::Topic' },
    Model: { Type: 'AWS::SSM::Parameter', Properties: { Name: '/zerodown/clusters/demo' } },
  },
};
const env = { region: 'eu-west-1', account: '111122223333', stackName: 'ZeroDown-demo' };

describe('resolveIntrinsics', () => {
  it('turns the Fn::Join that CDK emits for a definition into one string with fake ARNs', () => {
    const resolved = resolveIntrinsics(template, env, {
      'Fn::Join': ['', ['{"Resource":"', { 'Fn::GetAtt': ['PatchFn', 'Arn'] }, '","Table":"', { Ref: 'Locks' }, '"}']],
    });
    expect(resolved).toBe('{"Resource":"arn:aws:lambda:eu-west-1:111122223333:function:PatchFn","Table":"Locks"}');
  });

  it('resolves Fn::Sub, pseudo parameters and resource attributes', () => {
    expect(
      resolveIntrinsics(template, env, {
        'Fn::Sub': ['${Topic} in ${AWS::Region} of ${AWS::AccountId} (${Model})', { Topic: { Ref: 'Events' } }],
      }),
    ).toBe('arn:aws:sns:eu-west-1:111122223333:Events in eu-west-1 of 111122223333 (/zerodown/clusters/demo)');
    expect(resolveIntrinsics(template, env, { 'Fn::Sub': '${Locks.Arn}' })).toBe(
      'arn:aws:dynamodb:eu-west-1:111122223333:table/Locks',
    );
  });

  it('fails loudly on an intrinsic it cannot resolve', () => {
    expect(() => resolveIntrinsics(template, env, { 'Fn::ImportValue': 'shared-vpc' })).toThrow(
      UnsupportedIntrinsicError,
    );
    expect(() => resolveIntrinsics(template, env, { Ref: 'Missing' })).toThrow(/Unknown resource Missing/);
  });
});
