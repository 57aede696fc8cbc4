import { Stack, type StackProps } from 'aws-cdk-lib';
import type { Construct } from 'constructs';
import type { ClusterModelInput } from '../../functions/domain/cluster-model';
import { ZeroDownCluster } from '../constructs/zerodown-cluster';

export interface OrchestrationStackProps extends StackProps {
  readonly model: ClusterModelInput;
  /** Buckets the nodes may read deploy artifacts from. @default none */
  readonly artifactBuckets?: readonly string[];
}

/**
 * The orchestration of one cluster, deployed in the cluster's region. One stack per cluster keeps each cluster's
 * permissions and deployments apart.
 */
export class OrchestrationStack extends Stack {
  public readonly cluster: ZeroDownCluster;

  constructor(scope: Construct, id: string, props: OrchestrationStackProps) {
    super(scope, id, props);
    this.cluster = new ZeroDownCluster(this, 'Cluster', {
      model: props.model,
      ...(props.artifactBuckets ? { artifactBuckets: props.artifactBuckets } : {}),
    });
  }
}
