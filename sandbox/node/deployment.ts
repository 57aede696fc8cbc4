import { createHash } from 'node:crypto';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { DEPLOYMENT_FILE_PATTERN, isRecord, parseJson, SERVICE_PATTERN, type ServiceRecord } from './protocol';
import { writeFileAtomic } from './state-store';

/**
 * The deployment directory, `<service>.json` per deployed service: written by deploy on the manager, copied to the
 * other nodes by file sync, read by /services/<name> and the status. File names are checked by the callers that take
 * them from a request or another host.
 */
export class DeploymentDir {
  constructor(private readonly dir: string) {}

  async create(): Promise<void> {
    await fs.mkdir(this.dir, { recursive: true });
  }

  async deploy(service: string, artifact: string): Promise<ServiceRecord> {
    const record: ServiceRecord = { service, artifact, deployedAt: new Date().toISOString() };
    await writeFileAtomic(this.servicePath(service), `${JSON.stringify(record, null, 2)}\n`);
    return record;
  }

  /** Whether the service was deployed, and is removed now. */
  async undeploy(service: string): Promise<boolean> {
    try {
      await fs.unlink(this.servicePath(service));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return false;
      throw error;
    }
    return true;
  }

  async readService(service: string): Promise<ServiceRecord | undefined> {
    if (!SERVICE_PATTERN.test(service)) return undefined;
    let text: string;
    try {
      text = await fs.readFile(this.servicePath(service), 'utf8');
    } catch {
      return undefined;
    }
    const record = parseJson(Buffer.from(text));
    if (!isRecord(record) || record.service !== service || typeof record.artifact !== 'string') return undefined;
    return { service, artifact: record.artifact, deployedAt: String(record.deployedAt ?? '') };
  }

  async services(): Promise<ServiceRecord[]> {
    const services: ServiceRecord[] = [];
    for (const file of await this.files()) {
      const record = await this.readService(file.slice(0, -'.json'.length));
      if (record) services.push(record);
    }
    return services;
  }

  /** The deployment files by name, and the SHA-256 of each. */
  async manifest(): Promise<Map<string, string>> {
    const manifest = new Map<string, string>();
    for (const file of await this.files()) {
      try {
        manifest.set(file, sha256(await this.readFile(file)));
      } catch (error) {
        // Removed between the listing and the read: it is simply not part of this manifest.
        if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
      }
    }
    return manifest;
  }

  readFile(file: string): Promise<Buffer> {
    return fs.readFile(path.join(this.dir, file));
  }

  writeFile(file: string, data: Buffer): Promise<void> {
    return writeFileAtomic(path.join(this.dir, file), data);
  }

  async removeFile(file: string): Promise<void> {
    await fs.rm(path.join(this.dir, file), { force: true });
  }

  private async files(): Promise<string[]> {
    const entries = await fs.readdir(this.dir, { withFileTypes: true });
    return entries
      .filter((entry) => entry.isFile() && DEPLOYMENT_FILE_PATTERN.test(entry.name))
      .map((entry) => entry.name)
      .sort();
  }

  private servicePath(service: string): string {
    return path.join(this.dir, `${service}.json`);
  }
}

export function sha256(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}
