/** The region the local cluster and its stack live in. */
export const LOCAL_REGION = 'us-east-1';
/** The region of the local cluster's DR site. */
export const DR_REGION = 'eu-west-1';
/** moto's default account: the ARNs it makes carry it. */
export const LOCAL_ACCOUNT = '123456789012';
