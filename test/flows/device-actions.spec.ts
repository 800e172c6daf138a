/**
 * The dashboards' device actions (both dashboard generations): a "device actions" template that asks before it
 * sends, a zk-command limited to clock sync and door unlock for the tab's fleet, and its answers shown back
 * under the buttons. The zk-command node of each flow runs in Node-RED against simulators.
 */
import { strict as assert } from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import type { EventEmitter } from 'events';
import type { NodeMessage } from 'node-red';
import { helper, useNodeRedServer } from '../support/node-red';
import zkCommand from '../../nodes/zk-command/zk-command';
import { ZkSimulator, startSimulators } from '../../lib/sim';
import { wallClockSeconds } from '../../lib/protocol/time';
import { until } from '../../support/wait';

type FlowNode = Record<string, unknown> & {
  id: string;
  type: string;
  name?: string;
  wires?: string[][];
  func?: string;
  format?: string;
};

const readFlow = (name: string): FlowNode[] =>
  JSON.parse(fs.readFileSync(path.join(__dirname, '..', '..', 'flows', name), 'utf8')) as FlowNode[];

for (const [file, templateType] of [
  ['fleet-mysql-access.json', 'ui_template'],
  ['dashboard2.json', 'ui-template'],
] as const) {
  describe(`${file}: device actions on the dashboard`, function () {
    this.timeout(30000);
    const nodes = readFlow(file);
    const byId = new Map(nodes.map((n) => [n.id, n]));
    const tmpl = nodes.find((n) => n.type === templateType && n.name === 'device actions');
    const cmd = tmpl ? byId.get(tmpl.wires?.[0]?.[0] ?? '') : undefined;
    const result = cmd ? byId.get(cmd.wires?.[0]?.[0] ?? '') : undefined;

    it('the device table feeds a template that asks before sending; zk-command allows only clock and unlock; answers come back', () => {
      assert.ok(tmpl, 'a "device actions" template');
      const table = nodes.find((n) => n.type === 'function' && n.name === 'device table');
      assert.ok(table?.wires?.[0].includes(tmpl.id), 'the device rows reach the template');
      const format = String(tmpl.format);
      for (const action of ['syncClock', 'unlock']) assert.ok(format.includes(`act('${action}')`), action);
      // The confirmation comes before the send, in the one function that sends.
      assert.ok(
        format.indexOf('window.confirm(') > 0 && format.indexOf('window.confirm(') < format.lastIndexOf('send('),
        'asks first',
      );
      assert.equal(format.match(/send\(/g)?.length, 1, 'one place sends');
      assert.ok(cmd && cmd.type === 'zk-command');
      assert.deepEqual(
        [cmd.mode, cmd.fleet, cmd.tz, cmd.allowUnlock, cmd.allowRestart, cmd.allowClear],
        ['list', '${FLEET}', '${DEVICE_TZ}', true, false, false],
      );
      assert.ok(result && result.type === 'function');
      assert.deepEqual(cmd.wires, [[result.id], [result.id]], 'results and failures both shown');
      // Back under the buttons through a link pair (wires run left to right on the canvas).
      const out = byId.get(result.wires?.[0]?.[0] ?? '');
      assert.equal(out?.type, 'link out');
      const back = byId.get(String((out?.links as string[] | undefined)?.[0]));
      assert.equal(back?.type, 'link in');
      assert.deepEqual(back?.wires, [[tmpl.id]]);
    });

    it("the 'action result' function turns a result and a failure into the line under the buttons", () => {
      const run = new Function('msg', String(result?.func)) as (m: Record<string, unknown>) => {
        topic: string;
        payload: { ok: boolean; text: string };
      };
      const ok = run({
        payload: { ok: true, action: 'unlock', message: 'Front door (127.0.0.1:4370): door unlocked for 3 s' },
      });
      assert.deepEqual(
        [ok.topic, ok.payload.ok, ok.payload.text],
        ['result', true, 'Front door (127.0.0.1:4370): door unlocked for 3 s'],
      );
      const bad = run({
        payload: { ok: false, message: 'Back door (127.0.0.1:4371): did not answer CONNECT within 5000 ms' },
      });
      assert.deepEqual(
        [bad.payload.ok, bad.payload.text],
        [false, 'Back door (127.0.0.1:4371): did not answer CONNECT within 5000 ms'],
      );
    });

    describe('its zk-command against simulators', () => {
      let sims: ZkSimulator[] = [];
      useNodeRedServer(async () => {
        await Promise.all(sims.map((s) => s.stop()));
        sims = [];
      });

      it('a row\'s "Unlock door" opens that door only; "Sync clock" sets that clock; "restart" is refused', async () => {
        sims = await startSimulators({ devices: 2, records: 3, users: 1, transports: 'tcp', clockOffsetSec: 300 });
        const fleet = 'host,port,name,site\n' + sims.map((s, i) => `127.0.0.1,${s.port},Door ${i + 1},HQ`).join('\n');
        assert.ok(cmd, 'the flow has its zk-command');
        const node = { ...cmd, z: 'f1', fleet, tz: 'UTC', wires: [['out'], ['out']] };
        const flow: FlowNode[] = [
          { id: 'f1', type: 'tab', label: 't' },
          node,
          { id: 'out', type: 'helper', z: 'f1' },
          { id: 'ct', type: 'catch', z: 'f1', scope: [cmd.id], uncaught: false, wires: [['out']] },
        ];
        await helper.load([zkCommand], flow);
        const got: NodeMessage[] = [];
        (helper.getNode('out') as unknown as EventEmitter).on('input', (m: NodeMessage) => got.push(m));
        const send = async (payload: unknown) => {
          const before = got.length;
          helper.getNode(cmd.id).receive({ payload } as NodeMessage);
          await until(() => got.length > before, 20000, 'an answer');
        };
        await send({ action: 'unlock', device: `127.0.0.1:${sims[1].port}` });
        assert.deepEqual(
          sims.map((s) => s.doorUnlocks.map((u) => u.seconds)),
          [[], [3]],
        );
        await send({ action: 'syncClock', device: `127.0.0.1:${sims[0].port}` });
        assert.ok(Math.abs(wallClockSeconds(sims[0].now()) - Math.floor(Date.now() / 1000)) <= 2, 'set');
        assert.ok(wallClockSeconds(sims[1].now()) - Math.floor(Date.now() / 1000) >= 298, 'the other left alone');
        await send({ action: 'restart', device: `127.0.0.1:${sims[0].port}` });
        assert.equal(sims[0].restarts, 0);
        assert.match(
          String(
            (got[got.length - 1].payload as { message?: string }).message ??
              (got[got.length - 1] as { error?: { message: string } }).error?.message,
          ),
          /restart is not allowed/,
        );
      });
    });
  });
}
