import { ec2In } from './ec2';
import { elbv2In } from './elbv2';
import { ssmIn } from './ssm';

/** The EC2, ELBv2 and SSM clients for a region, as the DR site's operations use them. */
export function clientsIn(region: string) {
  return { ec2: ec2In(region), elbv2: elbv2In(region), ssm: ssmIn(region) };
}
