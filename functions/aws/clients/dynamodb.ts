import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { clientConfig } from './config';

/** Built once per Lambda container, at module scope, and reused across invocations. */
export const dynamodbClient = new DynamoDBClient(clientConfig());
