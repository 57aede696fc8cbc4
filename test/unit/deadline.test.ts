import * as net from 'node:net';
import { deadlineAfterPendingIo } from '../../sandbox/deadline';

/** Holds the event loop, as a busy machine or a burst of synchronous work does. */
function holdEventLoop(ms: number): void {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    // Spin.
  }
}

const opened: { destroy(): void }[] = [];
afterEach(() => {
  for (const handle of opened.splice(0)) handle.destroy();
});

describe('deadlineAfterPendingIo', () => {
  it('lets an answer that arrived while the process could not run settle before the deadline is judged', async () => {
    // Prepare: a loopback connection, both ends open.
    const server = net.createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as net.AddressInfo;
    const accepted = new Promise<net.Socket>((resolve) => server.once('connection', resolve));
    const client = net.connect(port, '127.0.0.1');
    opened.push(client, { destroy: () => server.close() });
    await new Promise<void>((resolve) => client.once('connect', () => resolve()));
    const serverSide = await accepted;
    opened.push(serverSide);
    const outcome = new Promise<string>((resolve) => {
      const cancel = deadlineAfterPendingIo(20, () => resolve('timed out'));
      client.once('data', () => {
        cancel();
        resolve('answered');
      });
    });
    // The answer is in the client's socket once the write has gone out.
    await new Promise<void>((resolve) => serverSide.write('answer', () => resolve()));

    // Act: the process does not run for ten times the deadline, while the answer waits in the socket.
    holdEventLoop(200);

    // Assess
    expect(await outcome).toBe('answered');
  });

  it('expires when no answer comes', async () => {
    const expired = await new Promise<boolean>((resolve) => {
      deadlineAfterPendingIo(10, () => resolve(true));
    });

    expect(expired).toBe(true);
  });

  it('never calls back once cancelled, even after its timer fired', async () => {
    let calls = 0;
    const cancel = deadlineAfterPendingIo(1, () => calls++);
    // Due at the same time and made later, this timer runs right after the deadline's, in the same turn, before the
    // deferred verdict.
    setTimeout(cancel, 1);
    holdEventLoop(20);
    await new Promise((resolve) => setTimeout(resolve, 30));

    expect(calls).toBe(0);
  });
});
