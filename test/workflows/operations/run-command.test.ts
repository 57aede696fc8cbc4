import {
  ListCommandsCommand,
  type ListCommandsCommandInput,
  type ListCommandsCommandOutput,
  SendCommandCommand,
  type SendCommandCommandInput,
} from '@aws-sdk/client-ssm';
import { ssmClient } from '../../../functions/aws/clients/ssm';
import { CommandFailedError, CommandTimedOutError, InputValidationError } from '../../../functions/domain/errors';
import { cancelUnfinishedCommands, pollCommand, sendCommand } from '../../../functions/operations/run-command';
import {
  failedCommand,
  injectError,
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
