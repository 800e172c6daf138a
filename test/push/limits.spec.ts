/**
 * What one sender can hold: a body has a deadline from its first byte (a trickle does not extend it), and an
 * address has a bounded number of requests in progress. Both refusals leave a real device its data: it
 * resends, and every record arrives once.
 */
import { strict as assert } from 'assert';
import * as net from 'net';
import { PushDevice, PushTrouble } from '../../lib/sim/push-device';
import { checkNoLeaks } from '../support/handles';
import { removeDir } from '../support/node-red';
import { until } from '../../support/wait';
import { devices, Running, send, startPush } from './support';

interface Raw {
  socket: net.Socket;
  /** Everything the server wrote, once it closed the connection. */
  closed: Promise<string>;
  /** Everything received so far. */
  readonly got: string;
}

/** A request written by hand on its own connection, so a test decides when (and whether) the body ends. */
function raw(port: number, text: string): Raw {
  const socket = net.connect(port, '127.0.0.1');
  let got = '';
  socket.on('data', (c: Buffer) => (got += c.toString('latin1')));
  socket.on('error', () => undefined);
  const closed = new Promise<string>((resolve) => socket.once('close', () => resolve(got)));
  socket.write(text);
  return {
    socket,
    closed,
    get got() {
      return got;
    },
  };
}

const head = (path: string, length: number): string =>
  `POST ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: text/plain\r\nContent-Length: ${length}\r\n\r\n`;

describe('push server: limits per sender', function () {
  this.timeout(20000);
  let run: Running | null = null;
  const open: net.Socket[] = [];
  afterEach(async () => {
    for (const s of open.splice(0)) s.destroy();
    if (run) {
      await run.close();
      removeDir(run.dir);
      run = null;
    }
  });
  checkNoLeaks();

  it('a body that trickles in is cut at the body deadline with 408 and the connection closed, however often bytes arrive', async () => {
    run = await startPush({ devices: devices('A1'), bodyTimeoutMs: 300 });
    const r = raw(run.listener.port, head('/iclock/cdata?SN=A1&table=ATTLOG', 100_000) + '1');
    open.push(r.socket);
    // A byte every 20 ms: an idle timer would never fire.
    const trickle = setInterval(() => r.socket.writable && r.socket.write('1'), 20);
    try {
      const reply = await r.closed;
      assert.match(reply, /^HTTP\/1\.1 408 /);
      assert.match(reply, /\r\nConnection: close\r\n/i);
      assert.ok(reply.endsWith('\r\n\r\nBAD REQUEST'), reply);
    } finally {
      clearInterval(trickle);
    }
    assert.deepEqual(
      run.seen.rejected.map((x) => [x.status, x.deviceSn, x.reason]),
      [[408, 'A1', 'body not received within 300 ms']],
    );
    assert.equal(run.seen.entries.length, 0);
    // The server serves the next post as usual.
    assert.equal(
      (await send(run.url, 'POST', '/iclock/cdata?SN=A1&table=ATTLOG', '1\t2026-04-01 08:00:00\t0\t1\n')).body,
      'OK',
    );
  });

  it('past N requests in progress from one address: 503 RETRY and the connection closed; a device told so resends and every record arrives once', async () => {
    run = await startPush({ devices: devices('A1', 'D1'), maxRequestsPerAddress: 2, bodyTimeoutMs: 60_000 });
    const line = (n: number): string => `9${n}\t2026-04-01 08:00:0${n}\t0\t1\n`;
    // Two posts whose bodies stop short of their length: they hold both places.
    const held = [1, 2].map((n) => {
      const r = raw(
        run!.listener.port,
        head(`/iclock/cdata?SN=A1&table=ATTLOG&Stamp=${n}`, line(n).length) + line(n).slice(0, 5),
      );
      open.push(r.socket);
      return { r, rest: line(n).slice(5) };
    });
    await until(() => run!.server.requestsInProgress === 2, 5000, 'both held posts in progress');
    const third = await send(run.url, 'POST', '/iclock/cdata?SN=A1&table=ATTLOG', line(3));
    assert.deepEqual([third.status, third.body, third.headers.connection], [503, 'RETRY', 'close']);
    assert.equal((await send(run.url, 'GET', '/iclock/getrequest?SN=A1')).status, 503, 'every endpoint counts');
    assert.deepEqual(
      run.seen.rejected.map((x) => [x.status, x.reason]),
      [
        [
          503,
          'more than 2 requests at once from 127.0.0.1 (devices behind one NAT or proxy share an address: raise the zk-push "Per address" setting)',
        ],
      ],
    );
    // A simulated device arriving now is told to retry, keeps its records, and gets in once a place is free.
    const troubles: PushTrouble[] = [];
    const dev = new PushDevice({
      url: run.url,
      serial: 'D1',
      records: 20,
      batchSize: 5,
      errorDelayMs: 30,
      pollMs: 1000,
      backlogUntilMs: Date.UTC(2026, 3, 1),
      onTrouble: (t) => troubles.push(t),
    });
    try {
      dev.start();
      await until(() => troubles.length > 0, 5000, 'the device refused');
      assert.deepEqual(
        troubles.map((t) => (t.kind === 'refused' ? [t.status, t.reply] : [t.kind])),
        [[503, 'RETRY']],
      );
      assert.equal(dev.acked, 0);
      for (const h of held) h.r.socket.write(h.rest);
      await until(
        () => held.every((h) => /^HTTP\/1\.1 200 /.test(h.r.got) && h.r.got.endsWith('OK')),
        5000,
        'held posts answered',
      );
      await until(() => dev.acked === 20, 10000, 'the device delivered its backlog');
    } finally {
      await dev.stop();
    }
    await until(
      () => run!.journal.pending === 0 && run!.seen.entries.reduce((n, e) => n + e.records.length, 0) === 22,
      5000,
      'journal drained',
    );
    const ids = run.seen.entries.flatMap((e) => e.records.map((r) => r.id));
    assert.equal(new Set(ids).size, 22, 'each record once');
    assert.deepEqual(
      run.seen.entries
        .filter((e) => e.deviceSn === 'A1')
        .map((e) => e.stamp)
        .sort(),
      ['1', '2'],
    );
  });
});
