import { AssetHashType, DockerImage, Stack } from 'aws-cdk-lib';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import type { Construct } from 'constructs';
import { POWERTOOLS_LAYER_ARG } from '../bundling';
import { PROJECT_ROOT } from '../paths';
import { bundleLocally } from './local-bundling';

const LAYER_ID = 'ZeroDownPowertoolsLayer';

/**
 * The layer of Powertools for AWS Lambda (Logger and Metrics) that every zerodown function in a stack shares, built
 * from the versions the project pins. Our own layer rather than the public Powertools one: it needs no account
 * outside the user's, exists in every partition, and carries exactly the code the tests ran.
 */
export function powertoolsLayer(scope: Construct): lambda.ILayerVersion {
  const stack = Stack.of(scope);
  const existing = stack.node.tryFindChild(LAYER_ID);
  if (existing instanceof lambda.LayerVersion) return existing;
  return new lambda.LayerVersion(stack, LAYER_ID, {
    code: lambda.Code.fromAsset(PROJECT_ROOT, {
      assetHashType: AssetHashType.OUTPUT,
      bundling: {
        // Never used: local bundling always succeeds or throws, and this project needs no Docker.
        image: DockerImage.fromRegistry('dummy'),
        command: ['cdk/bundle-lambda.ts', POWERTOOLS_LAYER_ARG],
        local: { tryBundle: (outputDir) => bundleLocally([POWERTOOLS_LAYER_ARG, outputDir]) },
      },
    }),
    compatibleRuntimes: [lambda.Runtime.NODEJS_24_X],
    compatibleArchitectures: [lambda.Architecture.ARM_64],
    description: 'Powertools for AWS Lambda (Logger, Metrics) for the zerodown functions',
    license: 'MIT-0',
  });
}
