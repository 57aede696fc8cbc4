import {
  ListCommandsCommand,
  type ListCommandsCommandInput,
  type ListCommandsCommandOutput,
  SendCommandCommand,
  type SendCommandCommandInput,
} from '@aws-sdk/client-ssm';
import { ec2Client } from '../../../functions/aws/clients/ec2';
import { elbv2Client } from '../../../functions/aws/clients/elbv2';
import { ssmClient } from '../../../functions/aws/clients/ssm';
import { CommandFailedError, CommandTimedOutError, InputValidationError } from '../../../functions/domain/errors';
import { launchSurgeNode } from '../../../functions/operations/launch-surge-node';
import {
  cancelUnfinishedCommands,
  isMigrationDocument,
  pollCommand,
  sendCommand,
  unfinishedCommands as unfinishedOnCluster,
} from '../../../functions/operations/run-command';
import { kitDocumentName, withKitDocuments } from '../../../kits/node/documents';
import {
  failedCommand,
  injectError,
  recordInputs,
  respondWith,
  rewriteOutput,
  ssmThrottling,
  unfinishedCommands,
} from '../../../local/faults';
import { createMotoCluster } from '../../../local/moto-cluster';
import { useFaults } from '../../harness/cleanup';
import { useMoto } from '../../harness/moto';

const KEY =
  'arn:aws:states:us-east-1:123456789012:execution:zerodown-test-cluster-patch-server:run-1#Patch passive node';

describe('run command', () => {
  useMoto();
  useFaults();

  async function sent() {
    const cluster = await createMotoCluster();
    const passive = cluster.model.nodes[1]?.instanceId ?? '';
    // moto fans SendCommand out to every instance, so what was requested is read from the request itself.
    const requests: SendCommandCommandInput[] = [];
    rewriteOutput(ssmClient, 'SendCommandCommand', (output: object, input: SendCommandCommandInput) => {
      requests.push(input);
      return output;
    });
    const command = await sendCommand(ssmClient, cluster.model, {
      kind: 'patch',
      instanceIds: [passive],
      input: 'WSO2-CARBON-PATCH-4.4.0-1234',
      idempotencyKey: KEY,
    });
    return { cluster, passive, command, requests };
  }

  it('sends the cluster document to the named node, with the operator value as its parameter', async () => {
    const { passive, command, requests } = await sent();

    // Polled every 10 s (the default), the 600 s command allows 60 polls, and 2 more for the one that cancels it.
    expect(command).toMatchObject({
      documentName: 'zerodown-test-patch',
      instanceIds: [passive],
      reused: false,
      maxPolls: 62,
    });
    expect(requests).toEqual([
      expect.objectContaining({
        InstanceIds: [passive],
        DocumentName: 'zerodown-test-patch',
        Parameters: { PatchId: ['WSO2-CARBON-PATCH-4.4.0-1234'] },
        TimeoutSeconds: 600,
      }),
    ]);
    const listed = await ssmClient.send(new ListCommandsCommand({ CommandId: command.commandId }));
    expect(listed.Commands?.[0]?.Parameters).toEqual({ PatchId: ['WSO2-CARBON-PATCH-4.4.0-1234'] });
  });

  it('finds the command it already sent when the send is retried', async () => {
    const { cluster, passive, command } = await sent();

    const retried = await sendCommand(ssmClient, cluster.model, {
      kind: 'patch',
      instanceIds: [passive],
      input: 'WSO2-CARBON-PATCH-4.4.0-1234',
      idempotencyKey: KEY,
    });

    expect(retried).toMatchObject({ commandId: command.commandId, reused: true });
    const all = await ssmClient.send(new ListCommandsCommand({}));
    expect(all.Commands).toHaveLength(1);
  });

  it("finds the command it already sent on a later page of the node's commands", async () => {
    const { cluster, passive, command } = await sent();
    // moto answers ListCommands in one page; this splits its answer so the earlier send sits on the second page.
    const paging = rewriteOutput(
      ssmClient,
      'ListCommandsCommand',
      (output: ListCommandsCommandOutput, input: ListCommandsCommandInput) =>
        input.NextToken === 'page-2' ? output : { ...output, Commands: [], NextToken: 'page-2' },
    );

    const retried = await sendCommand(ssmClient, cluster.model, {
      kind: 'patch',
      instanceIds: [passive],
      input: 'WSO2-CARBON-PATCH-4.4.0-1234',
      idempotencyKey: KEY,
    });

    expect(paging.hits).toBe(2);
    expect(retried).toMatchObject({ commandId: command.commandId, reused: true });
    paging.remove();
    const all = await ssmClient.send(new ListCommandsCommand({}));
    expect(all.Commands).toHaveLength(1);
  });

  it('refuses a command kind the cluster does not define, or a missing or multi-line value', async () => {
    const cluster = await createMotoCluster({ customize: (model) => ({ ...model, commands: {} }) });
    const instanceIds = [cluster.model.nodes[0]?.instanceId ?? ''];
    await expect(
      sendCommand(ssmClient, cluster.model, { kind: 'migrate', instanceIds, input: '5.0.0', idempotencyKey: KEY }),
    ).rejects.toThrow('commands.migrate is not defined in the cluster model');

    const full = await createMotoCluster({ name: 'full-cluster' });
    await expect(
      sendCommand(ssmClient, full.model, { kind: 'patch', instanceIds, idempotencyKey: KEY }),
    ).rejects.toThrow(InputValidationError);
    await expect(
      sendCommand(ssmClient, full.model, { kind: 'patch', instanceIds, input: 'x\nrm -rf /', idempotencyKey: KEY }),
    ).rejects.toThrow('input must be 1-1024 characters of single-line text');
    // Whatever a workflow's schema let through, a value a shell line would run is refused here, before the send.
    for (const input of ["P42'; reboot; '", 'P42;reboot', '$(reboot)', 'P42`reboot`', 'P42 | sh', 'P42 > /etc/x']) {
      await expect(
        sendCommand(ssmClient, full.model, { kind: 'patch', instanceIds, input, idempotencyKey: KEY }),
      ).rejects.toThrow(/without quotes, ;, \|, \$/);
    }
    // A value free of shell syntax must still be what the workflow's input allows for that kind of command.
    await expect(
      sendCommand(ssmClient, full.model, { kind: 'patch', instanceIds, input: 'reboot now', idempotencyKey: KEY }),
    ).rejects.toThrow('input must be a patch id of letters, digits and ._:+-');
    await expect(
      sendCommand(ssmClient, full.model, {
        kind: 'deploy',
        instanceIds,
        input: 'file:///etc/shadow',
        idempotencyKey: KEY,
      }),
    ).rejects.toThrow('input must be an s3:// URI or an https:// URL of the artifact');
    expect(
      await sendCommand(ssmClient, full.model, {
        kind: 'patch',
        instanceIds,
        input: 'WSO2-CARBON-UPDATE-4.2.0-0042',
        idempotencyKey: `${KEY}-safe`,
      }),
    ).toMatchObject({ commandId: expect.any(String) });
  });

  it('reports success once every invocation succeeded', async () => {
    const { passive, command } = await sent();
    const result = await pollCommand(ssmClient, { commandId: command.commandId, instanceIds: [passive] });
    expect(result).toMatchObject({ status: 'Success', invocations: [{ instanceId: passive, status: 'Success' }] });
  });

  it('keeps polling while the command runs', async () => {
    const { passive, command } = await sent();
    rewriteOutput(ssmClient, 'GetCommandInvocationCommand', (output: object) => ({ ...output, Status: 'InProgress' }));
    const result = await pollCommand(ssmClient, { commandId: command.commandId, instanceIds: [passive] });
    expect(result.status).toBe('InProgress');
  });

  it('fails with CommandFailedError carrying the tail of the output', async () => {
    // moto reports every invocation as Success; the failure is injected.
    const { passive, command } = await sent();
    failedCommand(passive, {
      output: `${'x'.repeat(5000)}\nERROR: patch conflicts with installed update 17`,
      responseCode: 2,
    });

    const error = await pollCommand(ssmClient, { commandId: command.commandId, instanceIds: [passive] }).catch(
      (caught: unknown) => caught,
    );

    expect(error).toBeInstanceOf(CommandFailedError);
    const message = (error as Error).message;
    expect(message).toContain(`${passive}: Failed (exit 2)`);
    expect(message).toContain('ERROR: patch conflicts with installed update 17');
    expect(message.length).toBeLessThan(2_300);
  });

  it('fails with CommandTimedOutError when SSM times the command out', async () => {
    const { passive, command } = await sent();
    failedCommand(passive, { status: 'TimedOut' });
    await expect(pollCommand(ssmClient, { commandId: command.commandId, instanceIds: [passive] })).rejects.toThrow(
      CommandTimedOutError,
    );
  });

  it('cancels a command still running at its deadline', async () => {
    const { passive, command } = await sent();
    rewriteOutput(ssmClient, 'GetCommandInvocationCommand', (output: object) => ({ ...output, Status: 'InProgress' }));
    // moto does not implement CancelCommand; its answer is supplied.
    const cancel = respondWith(ssmClient, 'CancelCommandCommand', () => ({}));

    await expect(
      pollCommand(ssmClient, {
        commandId: command.commandId,
        instanceIds: [passive],
        deadline: '2020-01-01T00:00:00Z',
      }),
    ).rejects.toThrow(/still running at its deadline .* and was cancelled/);
    expect(cancel.hits).toBe(1);
  });

  it('cancels the unfinished commands it sent to the cluster nodes, and no others', async () => {
    const { cluster, passive, command } = await sent();
    const foreign = await ssmClient.send(
      new SendCommandCommand({ InstanceIds: [passive], DocumentName: 'AWS-RunShellScript', Comment: 'an operator' }),
    );
    const { cancelled } = unfinishedCommands();

    const result = await cancelUnfinishedCommands(ssmClient, cluster.model);

    expect(result.cancelled).toEqual([command.commandId]);
    expect(cancelled).toEqual([command.commandId]);
    expect(cancelled).not.toContain(foreign.Command?.CommandId);
  });

  it('leaves a migration running while it cancels a patch on the same cluster, and waits for it', async () => {
    // A migration cut half-way leaves the schema in neither version: a failover or a recovery lets it end instead.
    const { cluster, command: patch } = await sent();
    const active = cluster.model.nodes[0]?.instanceId ?? '';
    const migration = await sendCommand(ssmClient, cluster.model, {
      kind: 'migrate',
      instanceIds: [active],
      input: '2.0.0',
      idempotencyKey: `${KEY}#migrate`,
    });
    const { cancelled } = unfinishedCommands();

    const result = await cancelUnfinishedCommands(ssmClient, cluster.model);

    expect(result.cancelled).toEqual([patch.commandId]);
    expect(cancelled).toEqual([patch.commandId]);
    expect(result.leftRunning).toEqual([
      {
        commandId: migration.commandId,
        // moto fans a command out to every instance it knows.
        instanceIds: expect.arrayContaining([active]),
        documentName: 'zerodown-test-migrate',
      },
    ]);
    // Still unfinished, so a recovery goes on waiting for it (and for the patch until its cancellation has ended).
    const { unfinished, settled } = await unfinishedOnCluster(ssmClient, cluster.model);
    expect(unfinished).toEqual(expect.arrayContaining([migration.commandId, patch.commandId]));
    expect(settled).toBe(false);
  });

  it('looks for unfinished commands on the surge nodes too, where active/active runs its migrations', async () => {
    const { cluster } = await sent();
    const surge = await launchSurgeNode(
      { ec2: ec2Client, elbv2: elbv2Client, ssm: ssmClient },
      cluster.model,
      'arn:aws:states:us-east-1:123456789012:execution:zerodown-test-cluster-upgrade-version:migrating',
    );
    const asked: ListCommandsCommandInput[] = [];
    recordInputs(ssmClient, 'ListCommandsCommand', asked);

    await unfinishedOnCluster(ssmClient, cluster.model, ec2Client);
    await cancelUnfinishedCommands(ssmClient, cluster.model, ec2Client);

    const nodes = [...cluster.model.nodes.map((node) => node.instanceId), surge.instanceId];
    // Each call asks every node, the surge node included (moto fans a command out to every instance, so the answers
    // alone could not tell).
    expect(asked.map((input) => input.InstanceId)).toEqual([...nodes, ...nodes]);
  });

  it("knows the migrate document by its name, a shared document's ARN, or the node kit's content name", async () => {
    const { cluster } = await sent();
    const { model } = cluster;
    expect(isMigrationDocument(model, 'zerodown-test-migrate')).toBe(true);
    expect(isMigrationDocument(model, 'arn:aws:ssm:us-east-1:123456789012:document/zerodown-test-migrate')).toBe(true);
    expect(isMigrationDocument(model, 'zerodown-test-patch')).toBe(false);
    expect(isMigrationDocument(model, '')).toBe(false);

    const kit = withKitDocuments({
      ...model,
      commands: { ...model.commands, migrate: { kit: 'node', parameters: {}, timeoutSeconds: 600 } },
    });
    const current = kitDocumentName(model.name, 'migrate');
    expect(kit.commands.migrate?.documentName).toBe(current);
    expect(isMigrationDocument(kit, current)).toBe(true);
    // Sent before a deploy changed the kit's document, whose name follows its content.
    expect(isMigrationDocument(kit, `zerodown-${model.name}-migrate-0123456789ab`)).toBe(true);
    expect(isMigrationDocument(kit, kitDocumentName(model.name, 'patch'))).toBe(false);
    expect(isMigrationDocument(kit, `zerodown-other-migrate-0123456789ab`)).toBe(false);
  });

  it('rides out a throttled poll through the SDK retries', async () => {
    const { passive, command } = await sent();
    const throttle = injectError(ssmClient, 'GetCommandInvocationCommand', ssmThrottling, { times: 1 });
    await expect(
      pollCommand(ssmClient, { commandId: command.commandId, instanceIds: [passive] }),
    ).resolves.toMatchObject({
      status: 'Success',
    });
    expect(throttle.hits).toBe(1);
  });
});
