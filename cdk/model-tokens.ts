import { Token } from 'aws-cdk-lib';
import { ClusterModelError } from '../functions/domain/errors';

/**
 * A cluster model may name resources the same app creates (the reference cluster stack does): their ids and ARNs are
 * CDK tokens until deployment. The model's schema cannot check a token, so each one is swapped for a well-formed
 * stand-in of its kind, the model is validated, and the stand-ins are swapped back: the stored model and the
 * permissions then name the real resources, and every other field is checked as usual.
 */

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/** The stand-in for a token, by the field that holds it (for a list, the list's field). */
const STAND_INS: Record<string, (hex: string, region: string) => string> = {
  instanceId: (hex) => `i-${hex}`,
  vpcId: (hex) => `vpc-${hex}`,
  subnetIds: (hex) => `subnet-${hex}`,
  securityGroupIds: (hex) => `sg-${hex}`,
  launchTemplateId: (hex) => `lt-${hex}`,
  imageId: (hex) => `ami-${hex}`,
  listenerArn: (hex, region) => `arn:aws:elasticloadbalancing:${region}:000000000000:listener/app/token/${hex}/${hex}`,
  targetGroupArn: (hex, region) => `arn:aws:elasticloadbalancing:${region}:000000000000:targetgroup/token/${hex}`,
  loadBalancerArn: (hex, region) => `arn:aws:elasticloadbalancing:${region}:000000000000:loadbalancer/app/token/${hex}`,
  instanceRoleArn: (hex) => `arn:aws:iam::000000000000:role/token-${hex}`,
};

export interface TokenStandIns<T> {
  /** The model with a stand-in for each token, for validation. */
  readonly validatable: T;
  /** Puts the tokens back into the validated model. */
  restore<U>(validated: U): U;
}

export function standInsForTokens<T>(model: T, regionOf: (model: T) => string): TokenStandIns<T> {
  const tokens = new Map<string, string>();
  let counter = 0;
  // A stand-in ARN is in the region of the block that holds it: the model's, or the DR site's in the `dr` block.
  const replace = (value: Json, field: string, path: string, region: string): Json => {
    if (typeof value === 'string') {
      if (!Token.isUnresolved(value)) return value;
      const standIn = STAND_INS[field];
      if (!standIn) {
        throw new ClusterModelError('Unresolved value in the cluster model', [
          { path, message: 'is a token, which only the ids and ARNs of resources may be' },
        ]);
      }
      counter += 1;
      const made = standIn(`0000${counter.toString(16).padStart(13, '0')}`, region);
      tokens.set(made, value);
      return made;
    }
    if (Array.isArray(value)) return value.map((item, index) => replace(item, field, `${path}.${index}`, region));
    if (value && typeof value === 'object') {
      const blockRegion = typeof value.region === 'string' && !Token.isUnresolved(value.region) ? value.region : region;
      return Object.fromEntries(
        // An additional listener's target groups are keyed by slot name; each value is a target group ARN.
        Object.entries(value).map(([key, item]) => [
          key,
          replace(item, field === 'targetGroups' ? 'targetGroupArn' : key, path ? `${path}.${key}` : key, blockRegion),
        ]),
      );
    }
    return value;
  };
  const restoreValue = (value: unknown): unknown => {
    if (typeof value === 'string') return tokens.get(value) ?? value;
    if (Array.isArray(value)) return value.map(restoreValue);
    if (value && typeof value === 'object') {
      return Object.fromEntries(Object.entries(value).map(([key, item]) => [key, restoreValue(item)]));
    }
    return value;
  };
  if (Token.isUnresolved(regionOf(model))) {
    throw new ClusterModelError('Unresolved value in the cluster model', [
      { path: 'region', message: 'must be a region name, not a token: give the stack an explicit region' },
    ]);
  }
  return {
    validatable: replace(model as Json, '', '', regionOf(model)) as T,
    restore: <U>(validated: U) => (tokens.size === 0 ? validated : (restoreValue(validated) as U)),
  };
}
