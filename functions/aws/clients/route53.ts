import { Route53Client } from '@aws-sdk/client-route-53';
import { clientConfig } from './config';

/** Route 53 is global; its API lives in us-east-1 whatever region the function runs in. */
export const route53Client = new Route53Client(clientConfig('us-east-1'));
