/**
 * The command channel's ends (docs/adms.md §5): a command sent on a heartbeat and never answered times
 * out, leaves the queue and is reported; one answered in time is never reported as timed out; a result
 * nobody asked for is 'unmatched' and harms nothing. Time goes through PushServer.sweep(nowMs).
 */
import { strict as assert } from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import type { NodeMessage } from 'node-red';
import type { CommandOutcome } from '../../lib/push/server';
import { PushDevice } from '../../lib/sim/push-device';
import { checkNoLeaks } from '../support/handles';
import { helper, useNodeRedServer, removeDir } from '../support/node-red';
import { until } from '../../support/wait';
import { devices, Running, send, startPush } from './support';
import { collect, RedPush } from './support/red';

const TIMEOUT = 60_000;

interface SavedState {
  devices: Array<{ sn: string; nextCommandId: number; commands: Array<{ id: number; state: string }> }>;
}

describe('push: command timeouts and results', function () {
  this.timeout(10000);

  describe('PushServer over loopback HTTP', () => {
    let run: Running | null = null;
    const devicesToStop: PushDevice[] = [];
    afterEach(async () => {
      await Promise.all(devicesToStop.splice(0).map((d) => d.stop()));
      if (run) {
        await run.close();
        removeDir(run.dir);
        run = null;
      }
    });
    checkNoLeaks();

    const sentAtMs = (r: Running, sn: string, id: number): number => {
      const c = r.server.commands.pending(sn).find((x) => x.id === id);
      assert.ok(c && c.state === 'sent' && c.sentAt !== null, `command ${id} is sent`);
      return Date.parse(c.sentAt);
    };

    it('sent on the heartbeat and never answered: timeout strictly after the timeout, reported once, gone from the queue and the saved state, not sent again', async () => {
      run = await startPush({ devices: devices('C1'), commandTimeoutMs: TIMEOUT });
      const r = run;
      assert.equal((await send(r.url, 'GET', '/iclock/cdata?SN=C1&options=all')).status, 200);
      const q = await r.server.queueCommand('C1', 'INFO', false);
      assert.deepEqual(
        { ...q, queuedAt: typeof q.queuedAt },
        { deviceSn: 'C1', id: 1, command: 'INFO', state: 'queued', queuedAt: 'string', sentAt: null },
      );

      // Not yet sent (the device has not polled): no timeout however late it gets.
      r.server.sweep(Date.now() + 100 * TIMEOUT);
      assert.deepEqual(r.seen.commands, []);
      assert.deepEqual(
        r.server.commands.pending('C1').map((c) => [c.id, c.state]),
        [[1, 'queued']],
      );

      assert.equal((await send(r.url, 'GET', '/iclock/getrequest?SN=C1')).body, 'C:1:INFO\n');
      const sent = sentAtMs(r, 'C1', 1);
      r.server.sweep(sent + TIMEOUT);
      assert.deepEqual(r.seen.commands, [], 'exactly at the timeout: still waiting');
      assert.deepEqual(
        r.server.commands.pending('C1').map((c) => [c.id, c.state]),
        [[1, 'sent']],
      );

      r.server.sweep(sent + TIMEOUT + 1);
      const timedOut: CommandOutcome = {
        deviceSn: 'C1',
        id: 1,
        command: 'INFO',
        state: 'timeout',
        returnCode: null,
        result: null,
      };
      assert.deepEqual(r.seen.commands, [timedOut]);
      assert.deepEqual(r.server.commands.pending('C1'), [], 'left the queue');
      r.server.sweep(sent + 10 * TIMEOUT);
      assert.deepEqual(r.seen.commands, [timedOut], 'reported once');
      assert.equal((await send(r.url, 'GET', '/iclock/getrequest?SN=C1')).body, 'OK', 'not sent again');

      await r.state.flush();
      const saved = JSON.parse(fs.readFileSync(path.join(r.dir, 'state.json'), 'utf8')) as SavedState;
      const c1 = saved.devices.find((d) => d.sn === 'C1');
      assert.deepEqual(
        [c1?.commands, c1?.nextCommandId],
        [[], 2],
        'the saved state has no trace of it, and its id is not handed out again',
      );

      // The device answers after all: nothing waits for that id any more.
      const late = await send(r.url, 'POST', '/iclock/devicecmd?SN=C1', 'ID=1&Return=0&CMD=INFO\n');
      assert.deepEqual([late.status, late.body], [200, 'OK']);
      assert.deepEqual(r.seen.commands.slice(1), [
        {
          deviceSn: 'C1',
          id: 1,
          command: null,
          state: 'unmatched',
          returnCode: 0,
          result: { id: 1, returnCode: 0, cmd: 'INFO', fields: { ID: '1', Return: '0', CMD: 'INFO' } },
        },
      ]);
      assert.equal((await r.server.queueCommand('C1', 'INFO', false)).id, 2);
      assert.deepEqual(r.seen.errors, []);
    });

    it('answered before the timeout: answered, out of the queue, never reported as timed out; of two sent, only the unanswered one times out', async () => {
      run = await startPush({ devices: devices('C1'), commandTimeoutMs: TIMEOUT });
      const r = run;
      assert.equal((await send(r.url, 'GET', '/iclock/cdata?SN=C1&options=all')).status, 200);
      const verify = 'VERIFY SUM ATTLOG StartTime=2026-04-01 00:00:00\tEndTime=2026-04-02 00:00:00';
      await r.server.queueCommand('C1', 'INFO', false);
      await r.server.queueCommand('C1', verify, false);
      assert.equal((await send(r.url, 'GET', '/iclock/getrequest?SN=C1')).body, `C:1:INFO\nC:2:${verify}\n`);
      const sent = sentAtMs(r, 'C1', 1);
      assert.equal(sentAtMs(r, 'C1', 2), sent, 'sent in one reply');

      r.server.sweep(sent + TIMEOUT - 1);
      const answer = await send(r.url, 'POST', '/iclock/devicecmd?SN=C1', 'ID=2&Return=0&CMD=VERIFY&AttlogCount=5\n');
      assert.deepEqual([answer.status, answer.body], [200, 'OK']);
      const answered: CommandOutcome = {
        deviceSn: 'C1',
        id: 2,
        command: verify,
        state: 'answered',
        returnCode: 0,
        result: {
          id: 2,
          returnCode: 0,
          cmd: 'VERIFY',
          fields: { ID: '2', Return: '0', CMD: 'VERIFY', AttlogCount: '5' },
        },
      };
      assert.deepEqual(r.seen.commands, [answered]);
      assert.deepEqual(
        r.server.commands.pending('C1').map((c) => [c.id, c.state]),
        [[1, 'sent']],
      );

      r.server.sweep(sent + TIMEOUT + 1);
      r.server.sweep(sent + 100 * TIMEOUT);
      assert.deepEqual(r.seen.commands, [
        answered,
        { deviceSn: 'C1', id: 1, command: 'INFO', state: 'timeout', returnCode: null, result: null },
      ]);
      assert.deepEqual(r.server.commands.pending('C1'), []);
      assert.deepEqual(r.seen.errors, []);
    });

    it('a simulated device answers on its own: answered, and later sweeps report no timeout', async () => {
      run = await startPush({ devices: devices('SIM1'), commandTimeoutMs: TIMEOUT });
      const r = run;
      const dev = new PushDevice({ url: r.url, serial: 'SIM1', records: 3, users: 2, pollMs: 20, errorDelayMs: 20 });
      devicesToStop.push(dev);
      dev.start();
      await dev.ready;
      const q = await r.server.queueCommand('SIM1', 'INFO', false);
      await until(() => r.seen.commands.length === 1, 5000, 'the answer');
      assert.deepEqual(
        r.seen.commands.map((c) => [c.deviceSn, c.id, c.command, c.state, c.returnCode, c.result?.fields.AttLogCount]),
        [['SIM1', q.id, 'INFO', 'answered', 0, '3']],
      );
      assert.deepEqual(r.server.commands.pending('SIM1'), []);
      r.server.sweep(Date.now() + 100 * TIMEOUT);
      assert.equal(r.seen.commands.length, 1, 'no timeout for an answered command');
      assert.equal(dev.stats.commands, 1);
    });

    it('results for ids nobody sent are unmatched, reported as the device gave them, and disturb nothing', async () => {
      run = await startPush({ devices: devices('C1', 'C2'), commandTimeoutMs: TIMEOUT });
      const r = run;
      assert.equal((await send(r.url, 'GET', '/iclock/cdata?SN=C1&options=all')).status, 200);
      await r.server.queueCommand('C1', 'INFO', false);
      assert.equal((await send(r.url, 'GET', '/iclock/getrequest?SN=C1')).body, 'C:1:INFO\n');
      const sent = sentAtMs(r, 'C1', 1);

      // Batched: two ids nobody sent (one without a return code); the sent command stays as it was.
      const a = await send(r.url, 'POST', '/iclock/devicecmd?SN=C1', 'ID=999&Return=-1002&CMD=DATA\r\nID=5&CMD=INFO\n');
      assert.deepEqual([a.status, a.body], [200, 'OK']);
      assert.deepEqual(r.seen.commands, [
        {
          deviceSn: 'C1',
          id: 999,
          command: null,
          state: 'unmatched',
          returnCode: -1002,
          result: { id: 999, returnCode: -1002, cmd: 'DATA', fields: { ID: '999', Return: '-1002', CMD: 'DATA' } },
        },
        // No Return field: no return code (the parsed result keeps NaN).
        {
          deviceSn: 'C1',
          id: 5,
          command: null,
          state: 'unmatched',
          returnCode: null,
          result: { id: 5, returnCode: NaN, cmd: 'INFO', fields: { ID: '5', CMD: 'INFO' } },
        },
      ]);
      assert.deepEqual(
        r.server.commands.pending('C1').map((c) => [c.id, c.state, c.sentAt]),
        [[1, 'sent', new Date(sent).toISOString()]],
      );

      // A device that never connected (no saved state): unmatched too, and no state made up for it.
      const b = await send(r.url, 'POST', '/iclock/devicecmd?SN=C2', 'ID=1&Return=0&CMD=INFO\n');
      assert.deepEqual([b.status, b.body], [200, 'OK']);
      assert.deepEqual(
        r.seen.commands.slice(2).map((c) => [c.deviceSn, c.id, c.command, c.state, c.returnCode]),
        [['C2', 1, null, 'unmatched', 0]],
      );
      assert.equal(r.state.has('C2'), false);
      // Text without any result: OK and nothing reported.
      assert.equal((await send(r.url, 'POST', '/iclock/devicecmd?SN=C1', 'hello\nReturn=0\n')).body, 'OK');
      assert.equal(r.seen.commands.length, 3);

      // The real command still times out normally, and the server kept serving throughout.
      r.server.sweep(sent + TIMEOUT + 1);
      assert.deepEqual(r.seen.commands.slice(3), [
        { deviceSn: 'C1', id: 1, command: 'INFO', state: 'timeout', returnCode: null, result: null },
      ]);
      assert.equal((await send(r.url, 'GET', '/iclock/getrequest?SN=C1')).body, 'OK');
      assert.deepEqual(r.seen.errors, []);
      assert.deepEqual(r.seen.rejected, []);
    });
  });

  describe('zk-push node under Node-RED', () => {
    const red = new RedPush();
    useNodeRedServer(() => red.close());
    checkNoLeaks();

    it("output 2 reports the command queued, then timed out after the node's timeout, then a late answer as unmatched", async () => {
      red.watchServers();
      const flow = [
        { id: 'f1', type: 'tab' },
        { id: 'p1', z: 'f1', type: 'zk-push', devices: 'PN1', tz: 'UTC', commandTimeout: 10, wires: [['rec'], ['ev']] },
        { id: 'rec', z: 'f1', type: 'helper' },
        { id: 'ev', z: 'f1', type: 'helper' },
        { id: 'c1', z: 'f1', type: 'catch', scope: ['p1'], wires: [['caught']] },
        { id: 'caught', z: 'f1', type: 'helper' },
      ];
      await helper.load([red.register], flow);
      const events: NodeMessage[] = [];
      const caught: NodeMessage[] = [];
      collect('ev', events);
      collect('caught', caught);
      await until(() => red.servers.length === 1, 5000, 'the node serving');
      const server = red.servers[0];
      const url = await red.serveHttpNode();
      const commands = (): NodeMessage[] => events.filter((m) => m.topic === 'command');

      helper.getNode('p1').receive({ payload: { sn: 'PN1', command: 'INFO' } } as NodeMessage);
      await until(() => commands().length === 1, 5000, 'queued');
      assert.deepEqual(commands()[0].payload, {
        deviceSn: 'PN1',
        id: 1,
        command: 'INFO',
        state: 'queued',
        returnCode: null,
        result: null,
      });

      assert.equal((await send(url, 'GET', '/iclock/getrequest?SN=PN1')).body, 'C:1:INFO\n');
      const sentAt = server.commands.pending('PN1')[0]?.sentAt;
      assert.equal(typeof sentAt, 'string');
      server.sweep(Date.parse(sentAt ?? 'none') + 10_000);
      server.sweep(Date.parse(sentAt ?? 'none') + 10_001);
      await until(() => commands().length >= 2, 5000, 'timeout reported');
      const timeout = commands()[1] as NodeMessage & { deviceSn?: string };
      assert.equal(timeout.deviceSn, 'PN1');
      assert.deepEqual(timeout.payload, {
        deviceSn: 'PN1',
        id: 1,
        command: 'INFO',
        state: 'timeout',
        returnCode: null,
        result: null,
      });
      assert.deepEqual(server.commands.pending('PN1'), []);

      assert.equal((await send(url, 'POST', '/iclock/devicecmd?SN=PN1', 'ID=1&Return=0&CMD=INFO\n')).body, 'OK');
      await until(() => commands().length >= 3, 5000, 'late answer reported');
      assert.deepEqual(
        commands().map((m) => (m.payload as CommandOutcome).state),
        ['queued', 'timeout', 'unmatched'],
      );
      assert.deepEqual(commands()[2].payload, {
        deviceSn: 'PN1',
        id: 1,
        command: null,
        state: 'unmatched',
        returnCode: 0,
        result: { id: 1, returnCode: 0, cmd: 'INFO', fields: { ID: '1', Return: '0', CMD: 'INFO' } },
      });
      assert.deepEqual(caught, []);
    });
  });
});
