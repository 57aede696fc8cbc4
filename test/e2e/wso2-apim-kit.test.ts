import * as fs from 'node:fs';
import * as http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseClusterModel } from '../../functions/domain/cluster-model';
import {
  wso2ApimCommands,
  wso2ApimConfig,
  wso2ApimFile,
  wso2ApimHealthChecks,
} from '../../kits/wso2-apim/wso2-apim-kit';
import { listenOnLoopback, runScript } from '../harness/shell';
import { testClusterModel } from '../harness/test-app';

/**
 * The WSO2 API Manager kit's real scripts, run with /bin/sh against a stand-in of the product: two installed packs
 * (wso2am-4.2.0 and wso2am-4.3.0) behind the `current` link, an update tool that updates itself on its first run and
 * then moves `updates/config.json` to the level asked, a product whose Version service answers while it is started,
 * a gateway that wants a token, and stand-ins for systemctl, the AWS CLI (S3 as directories, Secrets Manager as
 * files) and the instance metadata service.
 */

interface Layout {
  readonly root: string;
  readonly base: string;
  readonly state: string;
  readonly s3: string;
  readonly calls: (name: string) => string[];
}

const roots: string[] = [];
afterEach(() => {
  for (const dir of roots.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
});

function write(file: string, content: string, mode = 0o644): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, content, { mode });
}

function layout(): Layout {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'zerodown-wso2-'));
  roots.push(root);
  const base = path.join(root, 'opt');
  const bin = path.join(root, 'bin');
  const calls = (name: string) => {
    const file = path.join(root, `${name}.calls`);
    return fs.existsSync(file) ? fs.readFileSync(file, 'utf8').trim().split('\n') : [];
  };
  for (const version of ['4.2.0', '4.3.0']) {
    const home = path.join(base, `wso2am-${version}`);
    write(path.join(home, 'updates', 'config.json'), '{\n  "product": "wso2am",\n  "update-level": "10"\n}\n');
    // The update tool: the first run updates the tool itself and asks to be run again (exit 2); a later run moves
    // the product to the level asked.
    write(
      path.join(home, 'bin', 'wso2update_linux'),
      [
        '#!/bin/sh',
        `echo "$*" >> "${root}/wso2update.calls"`,
        `if [ ! -e "${root}/tool-updated" ]; then touch "${root}/tool-updated"; echo "tool updated, run again"; exit 2; fi`,
        'while [ $# -gt 0 ]; do [ "$1" = --level ] && level=$2; shift; done',
        `sed -i "s/\\"update-level\\": \\"[0-9-]*\\"/\\"update-level\\": \\"$level\\"/" "${home}/updates/config.json"`,
      ].join('\n'),
      0o755,
    );
  }
  fs.symlinkSync(path.join(base, 'wso2am-4.2.0'), path.join(base, 'current'));
  write(
    path.join(bin, 'systemctl'),
    `#!/bin/sh\necho "$*" >> "${root}/systemctl.calls"\ncase $1 in start) touch "${root}/running" ;; stop) rm -f "${root}/running" ;; esac\n`,
    0o755,
  );
  // The AWS CLI, as far as the kit uses it: s3 cp, s3 sync, s3 ls on directories, and secrets from files.
  write(
    path.join(bin, 'aws'),
    [
      '#!/bin/sh',
      `echo "$*" >> "${root}/aws.calls"`,
      `local_path() { case $1 in s3://*) echo "${root}/s3/\${1#s3://}" ;; *) echo "$1" ;; esac; }`,
      'case "$1 $2" in',
      `  'secretsmanager get-secret-value') cat "${root}/secrets/$4.json" ;;`,
      '  "s3 cp") cp "$(local_path "$4")" "$5" ;;',
      '  "s3 ls") ls "$(local_path "$3")" 2>/dev/null || true ;;',
      '  "s3 sync")',
      '    src=$(local_path "$7"); dst=$(local_path "$8"); mkdir -p "$src" "$dst"',
      '    find "$dst" -mindepth 1 -maxdepth 1 ! -name ".*" -exec rm -rf {} +',
      '    for f in "$src"/*; do [ -e "$f" ] && cp -R "$f" "$dst/"; done; true ;;',
      '  *) echo "unexpected aws call: $*" >&2; exit 252 ;;',
      'esac',
    ].join('\n'),
    0o755,
  );
  write(path.join(root, 'secrets', 'wso2-subscription.json'), '{"username":"ops@example.com","password":"s3cret"}');
  write(
    path.join(root, 'secrets', 'apim-db.json'),
    '{"url":"jdbc:mysql://db:3306/apim","username":"apim","password":"dbpass"}',
  );
  write(path.join(root, 'secrets', 'smoke-client.json'), '{"clientId":"smoke","clientSecret":"smoke-secret"}');
  return { root, base, state: path.join(root, 'state'), s3: path.join(root, 's3'), calls };
}

interface Product {
  url: string;
  role: string;
  /** The node's private address, as the instance metadata service gives it. */
  ip: string;
  close(): Promise<void>;
}

/** The product's listeners and the instance metadata service, on one loopback server. */
async function product(site: Layout): Promise<Product> {
  const state = { role: 'manager', ip: '10.0.1.10' };
  const server = http.createServer((request, response) => {
    const url = request.url ?? '';
    if (url === '/latest/api/token') {
      response.end('imds-token');
    } else if (url === '/latest/meta-data/tags/instance/zerodown:role') {
      response.end(state.role);
    } else if (url === '/latest/meta-data/local-ipv4') {
      response.end(state.ip);
    } else if (url === '/services/Version') {
      if (!fs.existsSync(path.join(site.root, 'running'))) {
        response.writeHead(503).end();
        return;
      }
      const version = path.basename(fs.readlinkSync(path.join(site.base, 'current'))).replace('wso2am-', '');
      response.end(
        `<ns:getVersionResponse xmlns:ns="http://version.services.core.carbon.wso2.org"><return>WSO2 API Manager-${version}</return></ns:getVersionResponse>`,
      );
    } else if (url === '/oauth2/token' && request.method === 'POST') {
      const expected = `Basic ${Buffer.from('smoke:smoke-secret').toString('base64')}`;
      if (request.headers.authorization === expected) response.end('{"access_token":"tok-1","token_type":"Bearer"}');
      else response.writeHead(401).end('{}');
    } else if (url === '/orders/1.0') {
      response.writeHead(request.headers.authorization === 'Bearer tok-1' ? 200 : 401).end();
    } else {
      response.writeHead(404).end();
    }
  });
  return Object.assign(state, await listenOnLoopback(server));
}

/** Runs a kit script as SSM would, with the stand-ins on its PATH. */
function run(site: Layout, node: Product, script: 'zerodown-node' | 'zerodown-sync', args: string[], extra = {}) {
  const config = path.join(site.root, 'wso2-apim.env');
  write(
    config,
    wso2ApimConfig({
      apimBase: site.base,
      syncUri: 's3://apim-artifacts/carbonapps',
      updateSecret: 'wso2-subscription',
      databaseSecret: 'apim-db',
      smokeTestSecret: 'smoke-client',
      migrationCommand: `env | grep -E '^WSO2_(DB|TARGET)' | sort > "${site.root}/migration.env"`,
    }),
  );
  return runScript(wso2ApimFile(script), args, {
    PATH: `${path.join(site.root, 'bin')}${path.delimiter}/usr/bin${path.delimiter}/bin`,
    ZERODOWN_WSO2_CONFIG: config,
    ZERODOWN_STATE_DIR: site.state,
    ZERODOWN_IMDS_URL: node.url,
    WSO2_VERSION_URL: `${node.url}/services/Version`,
    WSO2_GATEWAY_URL: node.url,
    WSO2_TOKEN_URL: `${node.url}/oauth2/token`,
    WSO2_READY_SECONDS: '60',
    ...extra,
  });
}

const updateLevel = (site: Layout, version = '4.2.0') =>
  /"update-level": "(-?\d+)"/.exec(
    fs.readFileSync(path.join(site.base, `wso2am-${version}`, 'updates', 'config.json'), 'utf8'),
  )?.[1];

describe('the WSO2 API Manager kit', () => {
  let site: Layout;
  let node: Product;
  beforeEach(async () => {
    site = layout();
    node = await product(site);
    fs.writeFileSync(path.join(site.root, 'running'), '');
  });
  afterEach(() => node.close());

  it('patches to an update level through the update tool, running it again after it updates itself', async () => {
    const patched = await run(site, node, 'zerodown-node', ['patch', '--patch-id', '12']);
    // The tool's own output stays in the command's, for the operator reading the invocation.
    expect(patched).toMatchObject({ status: 0, stdout: 'tool updated, run again\nupdate level 12\n' });
    expect(updateLevel(site)).toBe('12');
    expect(site.calls('systemctl')).toEqual(['stop wso2am', 'start wso2am']);
    // Twice: the tool's own update, then the product's; the subscription comes from Secrets Manager.
    expect(site.calls('wso2update')).toEqual([
      `--level 12 --backup ${site.state}/update-backups -u ops@example.com -p s3cret`,
      `--level 12 --backup ${site.state}/update-backups -u ops@example.com -p s3cret`,
    ]);

    // A retried command finds the level reached and restarts nothing.
    const again = await run(site, node, 'zerodown-node', ['patch', '--patch-id', '12']);
    expect(again).toMatchObject({ status: 0, stdout: 'nothing to do: update level 12\n' });
    expect(site.calls('systemctl')).toHaveLength(2);
  });

  it('refuses a patch id that is not an update level, and fails when the product does not come back', async () => {
    expect(await run(site, node, 'zerodown-node', ['patch', '--patch-id', 'P42'])).toMatchObject({
      status: 2,
      stderr: expect.stringMatching(/the patch id is the WSO2 update level to reach, a number \(got P42\)/),
    });
    // The unit starts, but the product never answers: the command fails instead of reporting success.
    write(path.join(site.root, 'bin', 'systemctl'), `#!/bin/sh\nrm -f "${site.root}/running"\n`, 0o755);
    const stuck = await run(site, node, 'zerodown-node', ['patch', '--patch-id', '11'], { WSO2_READY_SECONDS: '3' });
    expect(stuck.status).toBe(1);
    expect(stuck.stderr).toMatch(/the product did not answer at .*\/services\/Version within 3 s/);
  });

  it('upgrades by switching to the installed pack, and refuses one that is not installed', async () => {
    const upgraded = await run(site, node, 'zerodown-node', ['upgrade', '--version', '4.3.0']);
    expect(upgraded).toMatchObject({ status: 0, stdout: 'version 4.3.0\n' });
    expect(fs.readlinkSync(path.join(site.base, 'current'))).toBe(path.join(site.base, 'wso2am-4.3.0'));
    expect((await run(site, node, 'zerodown-node', ['upgrade', '--version', '4.3.0'])).stdout).toBe(
      'nothing to do: version 4.3.0\n',
    );
    expect(await run(site, node, 'zerodown-node', ['upgrade', '--version', '9.9.9'])).toMatchObject({
      status: 1,
      stderr: expect.stringMatching(/wso2am-9\.9\.9 is not installed: the AMI must carry the new pack/),
    });
  });

  it('runs the migration client once, with the database from Secrets Manager and not on its command line', async () => {
    expect(await run(site, node, 'zerodown-node', ['migrate', '--version', '4.3.0'])).toMatchObject({
      status: 0,
      stdout: 'migrated to 4.3.0\n',
    });
    expect(fs.readFileSync(path.join(site.root, 'migration.env'), 'utf8').trim().split('\n')).toEqual([
      'WSO2_DB_PASSWORD=dbpass',
      'WSO2_DB_URL=jdbc:mysql://db:3306/apim',
      'WSO2_DB_USERNAME=apim',
      'WSO2_TARGET_VERSION=4.3.0',
    ]);
    expect((await run(site, node, 'zerodown-node', ['migrate', '--version', '4.3.0'])).stdout).toBe(
      'nothing to do: migrated to 4.3.0\n',
    );
  });

  it('hot-deploys a Carbon application on the manager only, whole or not at all', async () => {
    write(path.join(site.s3, 'releases', 'orders-1.0.car'), 'car-bytes');
    const deployed = await run(site, node, 'zerodown-node', ['deploy', '--artifact', 's3://releases/orders-1.0.car']);
    expect(deployed).toMatchObject({ status: 0, stdout: 'deployed orders-1.0.car\n' });
    const apps = path.join(site.base, 'current', 'repository', 'deployment', 'server', 'carbonapps');
    expect(fs.readdirSync(apps)).toEqual(['orders-1.0.car']);

    expect(await run(site, node, 'zerodown-node', ['deploy', '--artifact', 's3://releases/orders.war'])).toMatchObject({
      status: 1,
      stderr: expect.stringMatching(/orders\.war is not a Carbon application/),
    });
    node.role = 'worker';
    expect(
      await run(site, node, 'zerodown-node', ['deploy', '--artifact', 's3://releases/orders-1.0.car']),
    ).toMatchObject({ status: 1, stderr: expect.stringMatching(/deploy runs on the manager only/) });
  });

  it("smoke-tests a service through the node's gateway with a client-credentials token", async () => {
    expect(
      await run(site, node, 'zerodown-node', ['smoke-test', '--service', 'orders'], { WSO2_SMOKE_TEST_PATH: '/1.0' }),
    ).toMatchObject({ status: 0, stdout: 'orders answered 200\n' });
    write(path.join(site.root, 'secrets', 'smoke-client.json'), '{"clientId":"smoke","clientSecret":"wrong"}');
    expect(
      await run(site, node, 'zerodown-node', ['smoke-test', '--service', 'orders'], { WSO2_SMOKE_TEST_PATH: '/1.0' }),
    ).toMatchObject({ status: 1, stderr: expect.stringMatching(/no token from/) });
  });

  it('syncs through the bucket: the manager publishes, a worker mirrors, a paused node keeps what it has', async () => {
    const apps = path.join(site.base, 'current', 'repository', 'deployment', 'server', 'carbonapps');
    write(path.join(apps, 'orders-1.0.car'), 'v1');
    // The first manager finds the bucket empty, so its own directory is the truth.
    expect((await run(site, node, 'zerodown-sync', [])).status).toBe(0);
    expect(fs.readdirSync(path.join(site.s3, 'apim-artifacts', 'carbonapps'))).toEqual(['orders-1.0.car']);

    // A worker (same layout, its own state) mirrors the bucket, and keeps its copy while paused, across a restart.
    const worker = { ...site, state: path.join(site.root, 'worker-state') };
    node.role = 'worker';
    fs.rmSync(apps, { recursive: true });
    expect((await run(worker, node, 'zerodown-sync', [])).status).toBe(0);
    expect(fs.readdirSync(apps)).toEqual(['orders-1.0.car']);
    expect((await run(worker, node, 'zerodown-node', ['sync-pause'])).stdout).toBe('sync paused\n');
    write(path.join(site.s3, 'apim-artifacts', 'carbonapps', 'orders-2.0.car'), 'v2');
    expect((await run(worker, node, 'zerodown-sync', [])).status).toBe(0);
    expect(fs.readdirSync(apps)).toEqual(['orders-1.0.car']);
    expect((await run(worker, node, 'zerodown-node', ['sync-resume'])).stdout).toBe('sync resumed\n');
    expect((await run(worker, node, 'zerodown-sync', [])).status).toBe(0);
    expect(fs.readdirSync(apps).sort()).toEqual(['orders-1.0.car', 'orders-2.0.car']);

    // A replacement manager booted from an AMI without orders-2.0 first takes the bucket's copy, then publishes.
    const replacement = { ...site, state: path.join(site.root, 'replacement-state') };
    node.role = 'manager';
    fs.rmSync(path.join(apps, 'orders-2.0.car'));
    expect((await run(replacement, node, 'zerodown-sync', [])).status).toBe(0);
    expect(fs.readdirSync(apps).sort()).toEqual(['orders-1.0.car', 'orders-2.0.car']);
    expect(fs.readdirSync(path.join(site.s3, 'apim-artifacts', 'carbonapps')).sort()).toEqual([
      'orders-1.0.car',
      'orders-2.0.car',
    ]);
  });

  it('reconfigure rewrites the well-known-address members, records the manager, and restarts nothing', async () => {
    const toml = path.join(site.base, 'wso2am-4.2.0', 'repository', 'conf', 'deployment.toml');
    const before = [
      '[server]',
      'hostname = "apim.example.com"',
      '',
      '[clustering]',
      'membership_scheme = "wka"',
      'local_member_host = "10.0.9.9"',
      'local_member_port = "4000"',
      'members = ["10.0.1.10:4000", "10.0.9.9:4000"]',
      '',
      '[database.apim_db]',
      'url = "jdbc:mysql://db:3306/apim"',
      '',
    ];
    write(toml, before.join('\n'));
    // The replacement: booted from an AMI built on 10.0.9.9, it is now 10.0.2.20, and the manager.
    node.ip = '10.0.2.20';
    const args = ['reconfigure', '--members', '10.0.1.10,10.0.2.20', '--manager', '10.0.2.20'];

    expect(await run(site, node, 'zerodown-node', args)).toMatchObject({
      status: 0,
      stdout:
        'members ["10.0.1.10:4000", "10.0.2.20:4000"], manager 10.0.2.20: deployment.toml updated; the product reads it at its next restart\n',
    });
    const after = [...before];
    after[5] = 'local_member_host = "10.0.2.20"';
    after[7] = 'members = ["10.0.1.10:4000", "10.0.2.20:4000"]';
    expect(fs.readFileSync(toml, 'utf8')).toBe(after.join('\n'));
    expect(fs.readFileSync(`${toml}.zerodown-previous`, 'utf8')).toBe(before.join('\n'));
    expect(fs.readFileSync(path.join(site.state, 'manager-address'), 'utf8')).toBe('10.0.2.20\n');
    // Every node runs it at once: nothing restarts, and the node says a restart is pending.
    expect(site.calls('systemctl')).toEqual([]);
    expect((await run(site, node, 'zerodown-node', ['status'])).stdout).toMatch(
      /restart pending: deployment.toml has members \["10.0.1.10:4000", "10.0.2.20:4000"\]/,
    );

    // A retried command finds the file as it wants it.
    expect(await run(site, node, 'zerodown-node', args)).toMatchObject({
      status: 0,
      stdout: 'nothing to do: members ["10.0.1.10:4000", "10.0.2.20:4000"], manager 10.0.2.20\n',
    });
    expect(fs.readFileSync(toml, 'utf8')).toBe(after.join('\n'));

    // The next restart (an upgrade here) reads the new list, and the flag goes.
    expect((await run(site, node, 'zerodown-node', ['upgrade', '--version', '4.3.0'])).status).toBe(0);
    expect(fs.existsSync(path.join(site.state, 'restart-pending'))).toBe(false);
  });

  it('reconfigure refuses bad addresses, and changes no member list without well-known-address clustering', async () => {
    const toml = path.join(site.base, 'wso2am-4.2.0', 'repository', 'conf', 'deployment.toml');
    write(toml, '[server]\nhostname = "apim.example.com"\n');
    for (const [flags, message] of [
      [['--members', '10.0.1.10;reboot', '--manager', '10.0.1.10'], /--members must be 1 to 5 IPv4 addresses/],
      [['--members', '10.0.1.1,10.0.1.2,10.0.1.3,10.0.1.4,10.0.1.5,10.0.1.6', '--manager', '10.0.1.1'], /--members/],
      [['--members', '10.0.1.10', '--manager', '10.0.1.256'], /--manager must be an IPv4 address/],
      [['--members', '10.0.1.10'], /reconfigure takes --members <ip,ip,...> --manager <ip>/],
      [['--members', '10.0.1.10', '--manager', '10.0.1.10', '--force', 'x'], /reconfigure does not take --force/],
    ] as const) {
      expect(await run(site, node, 'zerodown-node', ['reconfigure', ...flags])).toMatchObject({
        status: 2,
        stderr: expect.stringMatching(message),
      });
    }
    expect(fs.existsSync(path.join(site.state, 'manager-address'))).toBe(false);

    expect(
      await run(site, node, 'zerodown-node', [
        'reconfigure',
        '--members',
        '10.0.1.10,10.0.2.20',
        '--manager',
        '10.0.1.10',
      ]),
    ).toMatchObject({
      status: 0,
      stdout:
        'manager 10.0.1.10 recorded; deployment.toml has no well-known-address clustering, so no member list to change\n',
    });
    expect(fs.readFileSync(toml, 'utf8')).toBe('[server]\nhostname = "apim.example.com"\n');

    fs.rmSync(toml);
    expect(
      await run(site, node, 'zerodown-node', ['reconfigure', '--members', '10.0.1.10', '--manager', '10.0.1.10']),
    ).toMatchObject({ status: 1, stderr: expect.stringMatching(/deployment\.toml does not exist/) });
  });

  it('shares the whole deployment directory with the Carbon 4 layout, and refuses a layout it does not know', async () => {
    const server = path.join(site.base, 'current', 'repository', 'deployment', 'server');
    write(path.join(server, 'synapse-configs', 'default', 'api', 'orders.xml'), '<api name="orders"/>');
    write(path.join(server, 'carbonapps', 'orders-1.0.car'), 'v1');
    expect((await run(site, node, 'zerodown-sync', [], { WSO2_SYNC_LAYOUT: 'carbon4' })).status).toBe(0);
    const bucket = path.join(site.s3, 'apim-artifacts', 'carbonapps');
    expect(fs.readdirSync(bucket).sort()).toEqual(['carbonapps', 'synapse-configs']);
    expect(fs.readFileSync(path.join(bucket, 'synapse-configs', 'default', 'api', 'orders.xml'), 'utf8')).toBe(
      '<api name="orders"/>',
    );

    const worker = { ...site, state: path.join(site.root, 'worker-state') };
    node.role = 'worker';
    fs.rmSync(server, { recursive: true });
    expect((await run(worker, node, 'zerodown-sync', [], { WSO2_SYNC_LAYOUT: 'carbon4' })).status).toBe(0);
    expect(fs.readFileSync(path.join(server, 'synapse-configs', 'default', 'api', 'orders.xml'), 'utf8')).toBe(
      '<api name="orders"/>',
    );

    const unknown = await run(worker, node, 'zerodown-sync', [], { WSO2_SYNC_LAYOUT: 'rsync' });
    expect(unknown.status).toBe(2);
    expect(unknown.stderr).toContain("WSO2_SYNC_LAYOUT must be carbonapps or carbon4, not 'rsync'");
  });

  it('publishes from a node tagged manager only when it is the manager reconfigure recorded', async () => {
    const apps = path.join(site.base, 'current', 'repository', 'deployment', 'server', 'carbonapps');
    write(path.join(site.s3, 'apim-artifacts', 'carbonapps', 'orders-1.0.car'), 'v1');
    write(path.join(apps, 'stale.car'), 'from the AMI');
    write(path.join(site.state, 'sync-seeded'), '');
    write(path.join(site.state, 'manager-address'), '10.0.2.20\n');

    // Tagged manager at 10.0.1.10, but the cluster's manager is 10.0.2.20: it mirrors instead of publishing.
    const mirrored = await run(site, node, 'zerodown-sync', []);
    expect(mirrored.status).toBe(0);
    expect(mirrored.stderr).toMatch(/the cluster's manager is 10\.0\.2\.20, not 10\.0\.1\.10: mirroring/);
    expect(fs.readdirSync(apps)).toEqual(['orders-1.0.car']);
    expect(fs.readdirSync(path.join(site.s3, 'apim-artifacts', 'carbonapps'))).toEqual(['orders-1.0.car']);

    node.ip = '10.0.2.20';
    write(path.join(apps, 'payments-1.0.car'), 'v1');
    expect((await run(site, node, 'zerodown-sync', [])).status).toBe(0);
    expect(fs.readdirSync(path.join(site.s3, 'apim-artifacts', 'carbonapps')).sort()).toEqual([
      'orders-1.0.car',
      'payments-1.0.car',
    ]);
  });

  it('gives the model health checks on the Version service and every command through the node kit', () => {
    const model = parseClusterModel({
      ...testClusterModel(),
      healthChecks: wso2ApimHealthChecks(),
      commands: wso2ApimCommands(),
    });
    expect(model.healthChecks.http.map((check) => `${check.protocol}:${check.port}${check.path}`)).toEqual([
      'https:9443/services/Version',
      'https:9443/services/Version',
    ]);
    expect(Object.values(model.commands).every((command) => command?.kit === 'node')).toBe(true);
  });
});
