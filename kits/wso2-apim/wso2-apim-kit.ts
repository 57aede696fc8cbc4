import * as fs from 'node:fs';
import * as path from 'node:path';
import { PROJECT_ROOT } from '../../cdk/paths';
import type { ClusterModelInput } from '../../functions/domain/cluster-model';
import { NODE_KIT_COMMAND_KINDS } from '../../functions/domain/cluster-model';
import { fileInstallLines } from '../node/node-kit';

/**
 * The WSO2 API Manager kit: `zerodown-node` for an all-in-one API-M 4.x node, so the node kit's documents drive the
 * product, and file sync of the Carbon applications through the cluster's bucket. See kits/wso2-apim/README.md for
 * what each action does and the product documentation it follows.
 */

// From the project root rather than this file: the built library runs from dist/, and the files stay here.
const FILES_DIR = path.join(PROJECT_ROOT, 'kits', 'wso2-apim', 'files');

/** The kit's files, by their path on the node. */
export const WSO2_APIM_FILES = {
  '/usr/local/bin/zerodown-node': 'zerodown-node',
  '/usr/local/bin/zerodown-sync': 'zerodown-sync',
  '/etc/systemd/system/zerodown-sync.service': 'zerodown-sync.service',
  '/etc/systemd/system/zerodown-sync.timer': 'zerodown-sync.timer',
} as const;
export const WSO2_APIM_CONFIG_PATH = '/etc/zerodown/wso2-apim.env';

export function wso2ApimFile(name: (typeof WSO2_APIM_FILES)[keyof typeof WSO2_APIM_FILES]): string {
  return path.join(FILES_DIR, name);
}

/** The management port's HTTPS listener, where the Version service answers (API-M's documented health check). */
export const WSO2_MANAGEMENT_PORT = 9443;
/** The gateway's HTTPS listener, which serves the APIs. */
export const WSO2_GATEWAY_PORT = 8243;

/**
 * The model's health checks and version endpoint for API-M: the Version service, which answers only once the
 * server has started its services (a port that accepts connections is not enough), and names the version.
 */
export function wso2ApimHealthChecks(): ClusterModelInput['healthChecks'] {
  return {
    http: [
      {
        name: 'version service',
        path: '/services/Version',
        port: WSO2_MANAGEMENT_PORT,
        protocol: 'https',
        bodyContains: 'WSO2 API Manager',
        timeoutMs: 5_000,
      },
      {
        name: 'version service reports the version',
        path: '/services/Version',
        port: WSO2_MANAGEMENT_PORT,
        protocol: 'https',
        expectVersion: true,
        timeoutMs: 5_000,
      },
    ],
    version: { path: '/services/Version', port: WSO2_MANAGEMENT_PORT, protocol: 'https' },
  };
}

/** A listener of the product's and the target group of each slot behind it (the surge slot's included). */
export interface Wso2ApimListener {
  readonly listenerArn: string;
  /** When a listener rule, not the listener's default action, carries the cluster's traffic. */
  readonly ruleArn?: string;
  readonly targetGroups: Readonly<Record<string, string>>;
}

/**
 * The model's traffic for API-M behind one load balancer: the gateway listener (8243) carries the cluster's weights
 * and the management listener (9443: Publisher, Developer Portal, Admin, the key manager) takes the same weights on
 * every shift, so a node drained for a patch stops taking management calls as well as API calls.
 */
export function wso2ApimTraffic(settings: {
  readonly gateway: Wso2ApimListener;
  readonly management: Wso2ApimListener;
  /** @default 'surge' */
  readonly surgeSlot?: string;
}): ClusterModelInput['traffic'] {
  const { gateway, management } = settings;
  return {
    strategy: 'weighted-target-groups',
    listenerArn: gateway.listenerArn,
    ...(gateway.ruleArn ? { ruleArn: gateway.ruleArn } : {}),
    slots: Object.entries(gateway.targetGroups).map(([name, targetGroupArn]) => ({ name, targetGroupArn })),
    surgeSlot: settings.surgeSlot ?? 'surge',
    additionalListeners: [
      {
        name: 'management',
        listenerArn: management.listenerArn,
        ...(management.ruleArn ? { ruleArn: management.ruleArn } : {}),
        targetGroups: { ...management.targetGroups },
      },
    ],
  };
}

/** Every command from the node kit's documents, which call this kit's `zerodown-node`; a patch may take an hour. */
export function wso2ApimCommands(): ClusterModelInput['commands'] {
  return Object.fromEntries(
    NODE_KIT_COMMAND_KINDS.map((kind) => [
      kind,
      { kit: 'node' as const, ...(kind === 'patch' || kind === 'upgrade' ? { timeoutSeconds: 3_600 } : {}) },
    ]),
  );
}

export interface Wso2ApimNodeSettings {
  /** The s3:// prefix the nodes share the Carbon applications through. */
  readonly syncUri: string;
  /**
   * What the nodes share: the Carbon applications directory (API-M 4.x), or the whole `repository/deployment/server`
   * of a Carbon 4 product (API-M 2.x and 3.x, Identity Server 5.x). @default carbonapps
   */
  readonly syncLayout?: 'carbonapps' | 'carbon4';
  /** Secrets Manager ids: the WSO2 subscription (username, password), the database (url, username, password), and
   * the smoke test's OAuth client (clientId, clientSecret). Each is read on the node when needed. */
  readonly updateSecret?: string;
  readonly databaseSecret?: string;
  readonly smokeTestSecret?: string;
  /** The migration client's command line, run with the database in WSO2_DB_URL, WSO2_DB_USERNAME, WSO2_DB_PASSWORD. */
  readonly migrationCommand?: string;
  /** Where the packs are installed (`wso2am-<version>`, and the `current` link). @default /opt/wso2am */
  readonly apimBase?: string;
  /** The product's systemd unit. @default wso2am */
  readonly service?: string;
}

/** The kit's settings file, `/etc/zerodown/wso2-apim.env`. */
export function wso2ApimConfig(settings: Wso2ApimNodeSettings): string {
  const quoted = (value: string) => `'${value.replace(/'/g, `'\\''`)}'`;
  const entries: [string, string | undefined][] = [
    ['APIM_BASE', settings.apimBase],
    ['APIM_SERVICE', settings.service],
    ['WSO2_SYNC_URI', settings.syncUri],
    ['WSO2_SYNC_LAYOUT', settings.syncLayout],
    ['WSO2_UPDATE_SECRET', settings.updateSecret],
    ['WSO2_DB_SECRET', settings.databaseSecret],
    ['WSO2_SMOKE_TEST_SECRET', settings.smokeTestSecret],
    ['WSO2_MIGRATION_COMMAND', settings.migrationCommand],
  ];
  return `${entries
    .filter((entry): entry is [string, string] => entry[1] !== undefined)
    .map(([name, value]) => `${name}=${quoted(value)}`)
    .join('\n')}\n`;
}

/** Shell lines for user data that install the kit's files and settings and start file sync. */
export function wso2ApimInstallCommands(settings: Wso2ApimNodeSettings): string[] {
  return [
    'install -d -m 0755 /etc/zerodown',
    ...fileInstallLines([
      ...Object.entries(WSO2_APIM_FILES).map(([target, name]) => ({
        target,
        content: fs.readFileSync(wso2ApimFile(name), 'utf8'),
      })),
      // Secret ids only, but the migration command may carry more: readable by root alone.
      { target: WSO2_APIM_CONFIG_PATH, content: wso2ApimConfig(settings), mode: '0600' },
    ]),
    'systemctl daemon-reload',
    'systemctl enable --now zerodown-sync.timer',
  ];
}
