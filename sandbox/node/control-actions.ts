import type * as http from 'node:http';
import type { MigrationResult, SharedDatabase } from './database';
import type { DeploymentDir } from './deployment';
import { HttpError, optionalString, requiredString, respondJson } from './http-io';
import type { Listener } from './listener';
import type { NodeSettings } from './options';
import {
  isArtifactUri,
  MANAGER_URL_PATTERN,
  MEMBERS_PATTERN,
  type NodeStatus,
  PATCH_ID_PATTERN,
  type RestartAccepted,
  SERVICE_PATTERN,
  type ServiceRecord,
  VERSION_PATTERN,
} from './protocol';
import type { SchemaGuard } from './schema-check';
import type { StateStore } from './state-store';
import type { SyncPuller } from './sync';

/**
 * What each /_control/ action does once routes.ts has let the request in: the node's side of the control script.
 * Request bodies are checked here, before anything on the node changes.
 */

/** The part of the node's life cycle the control actions see (runtime.ts). */
export interface NodeLifeCycle {
  readonly current: Listener | undefined;
  readonly restarting: boolean;
  acceptRestart(listener: Listener, version: string | undefined, patchId: string | undefined): Promise<RestartAccepted>;
  restartFrom(listener: Listener): Promise<void>;
  /** Connections from these addresses are cut as they arrive, as a network partition would drop them. */
  refuseConnectionsFrom(addresses: readonly string[]): void;
}

export interface ControlParts {
  settings: NodeSettings;
  node: NodeLifeCycle;
  state: StateStore;
  deployment: DeploymentDir;
  database: SharedDatabase;
  schema: SchemaGuard;
  /** Absent on a node that does not sync from a manager. */
  puller: SyncPuller | undefined;
}

const IPV4 = /^\d{1,3}(\.\d{1,3}){3}$/;

export class ControlActions {
  constructor(private readonly parts: ControlParts) {}

  async status(): Promise<NodeStatus> {
    const { settings, node, state, deployment, database, schema, puller } = this.parts;
    const services = await deployment.services();
    const schemaVersion = await database.schemaVersion();
    const version = node.current?.version ?? state.current.version;
    // A fresh read: the requests that follow need not read the file again.
    schema.note(schemaVersion);
    return {
      id: settings.id,
      role: settings.role,
      version,
      bootId: node.current?.bootId ?? '',
      patches: [...state.current.patches],
      services,
      syncPaused: state.current.syncPaused,
      syncRounds: puller?.rounds ?? 0,
      restarting: node.restarting,
      db: {
        schemaVersion,
        oldVersionRunsOnNewSchema: settings.oldVersionRunsOnNewSchema,
        refusing: schema.judge(version, schemaVersion) ?? null,
      },
    };
  }

  /** The sandbox's `partition` fault: `{ refuse: [addresses] }`; an empty list heals it. */
  partition(body: Record<string, unknown>): { refusing: string[] } {
    const refuse = body.refuse;
    if (!Array.isArray(refuse) || refuse.some((address) => typeof address !== 'string' || !IPV4.test(address))) {
      throw new HttpError(400, '"refuse" must be a list of IPv4 addresses');
    }
    this.parts.node.refuseConnectionsFrom(refuse as string[]);
    return { refusing: refuse as string[] };
  }

  /**
   * Answers 202 first and restarts once that answer is out, because closing the listener would otherwise cut the
   * caller's own connection. The caller learns the restart is over when /health answers with another bootId.
   */
  async restart(listener: Listener, body: Record<string, unknown>, response: http.ServerResponse): Promise<void> {
    const version = optionalString(body, 'version', VERSION_PATTERN, 'a version like 4.2.0 or 4.2.0-p1');
    const patchId = optionalString(body, 'patchId', PATCH_ID_PATTERN, 'a patch id like WSO2-CARBON-PATCH-4.4.0-1234');
    const accepted = await this.parts.node.acceptRestart(listener, version, patchId);
    // 'close' rather than 'finish', and at once if the caller is already gone: a caller that hangs up early must not
    // leave the node half restarted.
    const begin = () => void this.parts.node.restartFrom(listener);
    if (!response.socket || response.socket.destroyed) return begin();
    response.once('close', begin);
    respondJson(listener, response, 202, accepted, { connection: 'close' });
  }

  async deploy(body: Record<string, unknown>): Promise<ServiceRecord> {
    this.requireManager('deploy');
    const service = requiredString(body, 'service', SERVICE_PATTERN, 'a service name like orders-api');
    const artifact = body.artifact;
    if (typeof artifact !== 'string' || !isArtifactUri(artifact)) {
      throw new HttpError(400, 'artifact must be an s3:// or https:// URI');
    }
    const record = await this.parts.deployment.deploy(service, artifact);
    this.parts.settings.log({ event: 'deployed', id: this.parts.settings.id, service, artifact });
    return record;
  }

  async undeploy(body: Record<string, unknown>): Promise<{ service: string; removed: boolean }> {
    this.requireManager('undeploy');
    const service = requiredString(body, 'service', SERVICE_PATTERN, 'a service name like orders-api');
    if (!(await this.parts.deployment.undeploy(service))) return { service, removed: false };
    this.parts.settings.log({ event: 'undeployed', id: this.parts.settings.id, service });
    return { service, removed: true };
  }

  async migrate(body: Record<string, unknown>): Promise<MigrationResult> {
    const version = requiredString(body, 'version', VERSION_PATTERN, 'a version like 4.3.0');
    const result = await this.parts.database.migrate(version);
    // This node sees its own migration at once; the others within the schema check's refresh time.
    this.parts.schema.note(result.schemaVersion);
    return result;
  }

  async setSync(body: Record<string, unknown>): Promise<{ syncPaused: boolean }> {
    const action = body.action;
    if (action !== 'pause' && action !== 'resume') throw new HttpError(400, 'action must be "pause" or "resume"');
    const syncPaused = action === 'pause';
    const { state, settings } = this.parts;
    if (state.current.syncPaused !== syncPaused) {
      await state.update({ syncPaused });
      settings.log({ event: syncPaused ? 'sync-paused' : 'sync-resumed', id: settings.id });
    }
    return { syncPaused };
  }

  /**
   * Records where the manager now is (a failover replaced it, at a new address): file sync pulls from there from the
   * next round, and state.json keeps it across restarts. The manager itself pulls from nobody. Doing it again
   * changes nothing.
   */
  async reconfigure(
    body: Record<string, unknown>,
  ): Promise<{ managerUrl: string; members: string; changed: boolean; syncing: boolean }> {
    const managerUrl = requiredString(body, 'managerUrl', MANAGER_URL_PATTERN, 'an http:// URL of the manager');
    const members = requiredString(body, 'members', MEMBERS_PATTERN, '1 to 5 IPv4 addresses, separated by commas');
    const { state, settings, puller } = this.parts;
    const changed = state.current.managerUrl !== managerUrl;
    if (changed) {
      await state.update({ managerUrl });
      settings.log({ event: 'reconfigured', id: settings.id, managerUrl, members });
    }
    puller?.retarget(managerUrl);
    return { managerUrl, members, changed, syncing: puller !== undefined };
  }

  private requireManager(action: string): void {
    const { id, role } = this.parts.settings;
    if (role === 'manager') return;
    throw new HttpError(
      409,
      `cannot ${action} on ${id}: it is a ${role} node, whose deployment directory is ` +
        'read-only and follows the manager by file sync; run it on the manager',
    );
  }
}
