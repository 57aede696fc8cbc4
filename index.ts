/**
 * The construct library: what a CDK app imports from `zerodown`. `npm run build:lib` compiles this module and what
 * it imports into dist/; package.json's `exports` names dist/index.js and its declarations as the only entry point,
 * so everything a user may rely on is exported here, and anything else may move without breaking them.
 *
 * The Lambdas are bundled from functions/ when the user's app synthesizes, so the package ships those TypeScript
 * sources and the kits' files beside dist/ (see `files` in package.json and docs/library.md).
 */

export { DEFAULT_HEARTBEAT, type HeartbeatSettings } from './cdk/constructs/node-alarms';
export {
  addZeroDownStage,
  type BuildInputSpec,
  buildExecutionInput,
  writeBuildInputCommand,
  ZERODOWN_INPUT_FILE,
  type ZeroDownStage,
  ZeroDownStageInput,
  type ZeroDownStageProps,
} from './cdk/constructs/pipeline-stage';
export { DEFAULT_WORKFLOW_TIMEOUT } from './cdk/constructs/workflows';
// The cluster's orchestration: its workflows, node operations, lock, topics, alarms, dashboard and outputs.
export { ZeroDownCluster, type ZeroDownClusterProps } from './cdk/constructs/zerodown-cluster';
// The cluster model: validated at synthesis; a bad field fails with a ClusterModelError that names it.
export { type ClusterModel, type ClusterModelInput, parseClusterModel } from './functions/domain/cluster-model';
export { ClusterModelError } from './functions/domain/errors';
// The node kit: the SSM documents, the node policy, and what a node's user data installs.
export {
  fileInstallLines,
  HEARTBEAT_PERIOD_SECONDS,
  heartbeatInstallCommands,
  NODE_CONFIG_PATH,
  NodeKit,
  type NodeKitProps,
  nodeConfigOf,
  nodeTags,
} from './kits/node/node-kit';
// The WSO2 API Manager 4.x kit: its checks, commands and traffic for the model, and its node install.
export {
  WSO2_APIM_CONFIG_PATH,
  WSO2_GATEWAY_PORT,
  WSO2_MANAGEMENT_PORT,
  type Wso2ApimListener,
  type Wso2ApimNodeSettings,
  wso2ApimCommands,
  wso2ApimConfig,
  wso2ApimHealthChecks,
  wso2ApimInstallCommands,
  wso2ApimTraffic,
} from './kits/wso2-apim/wso2-apim-kit';
export { DEFAULT_TIMING, type WorkflowTiming } from './statemachines/workflow-builder';
