import { strict as assert } from 'assert';
import type { Node, NodeMessage } from 'node-red';
import { helper, useTempUserDir, removeDir, useNodeRedServer } from '../support/node-red';
import zkDedupe = require('../../nodes/zk-dedupe/zk-dedupe');
import { makeRecord, makeRecords } from '../support/records';
import { checkNoLeaks } from '../support/handles';
import { until } from '../../support/wait';

describe('zk-dedupe node', function () {
  this.timeout(15000);
  const ud = useNodeRedServer();
  checkNoLeaks();

  async function load(extra: Record<string, unknown> = {}) {
    helper.settings({ userDir: ud.dir });
    const flow = [
      { id: 'f1', type: 'tab' },
      { id: 'd1', z: 'f1', type: 'zk-dedupe', wires: [['new'], ['dup']], ...extra },
      { id: 'new', z: 'f1', type: 'helper' },
      { id: 'dup', z: 'f1', type: 'helper' },
      { id: 'c1', z: 'f1', type: 'catch', scope: ['d1'], wires: [['caught']] },
      { id: 'caught', z: 'f1', type: 'helper' },
    ];
    await helper.load(zkDedupe, flow);
    const got = { fresh: [] as NodeMessage[], dup: [] as NodeMessage[], caught: [] as NodeMessage[] };
    (helper.getNode('new') as Node).on('input', (m: NodeMessage) => got.fresh.push(m));
    (helper.getNode('dup') as Node).on('input', (m: NodeMessage) => got.dup.push(m));
    (helper.getNode('caught') as Node).on('input', (m: NodeMessage) => got.caught.push(m));
    return got;
  }

  it('array in, array out; duplicates to output 2; empty arrays not sent; single record stays single', async () => {
    const got = await load();
    const n = helper.getNode('d1');
    n.receive({ payload: makeRecords(10) } as NodeMessage);
    await until(() => got.fresh.length === 1);
    assert.equal((got.fresh[0].payload as unknown[]).length, 10);
    assert.equal(got.dup.length, 0, 'no empty array on output 2');
    n.receive({ payload: makeRecords(15, { from: 5 }) } as NodeMessage);
    await until(() => got.fresh.length === 2 && got.dup.length === 1);
    assert.equal((got.fresh[1].payload as unknown[]).length, 10);
    assert.equal((got.dup[0].payload as unknown[]).length, 5);
    n.receive({ payload: makeRecord(100) } as NodeMessage);
    n.receive({ payload: makeRecord(100) } as NodeMessage);
    await until(() => got.fresh.length === 3 && got.dup.length === 2);
    assert.equal((got.fresh[2].payload as { id: string }).id, makeRecord(100).id);
    assert.ok(!Array.isArray(got.dup[1].payload));
    n.receive({ payload: makeRecords(3) } as NodeMessage);
    await until(() => got.dup.length === 3);
    assert.equal(got.fresh.length, 3, 'all duplicates: nothing on output 1');
  });

  it('remembers ids across a restart (same user dir)', async () => {
    let got = await load();
    helper.getNode('d1').receive({ payload: makeRecords(50) } as NodeMessage);
    await until(() => got.fresh.length === 1);
    await helper.unload();
    got = await load();
    helper.getNode('d1').receive({ payload: makeRecords(60) } as NodeMessage);
    await until(() => got.fresh.length === 1 && got.dup.length === 1);
    assert.equal((got.fresh[0].payload as unknown[]).length, 10);
    assert.equal((got.dup[0].payload as unknown[]).length, 50);
  });

  it('repeat rule: drop, or pass marked repeat: true', async () => {
    const a = makeRecord(0, { userId: '9', localTime: '2024-03-04T08:00:00', timestamp: '2024-03-04T08:00:00.000Z' });
    const b = makeRecord(0, { userId: '9', localTime: '2024-03-04T08:00:20', timestamp: '2024-03-04T08:00:20.000Z' });
    let got = await load({ repeatSeconds: 60, repeatMode: 'drop' });
    helper.getNode('d1').receive({ payload: [a, b] } as NodeMessage);
    await until(() => got.fresh.length === 1 && got.dup.length === 1);
    assert.deepEqual(
      (got.fresh[0].payload as { id: string }[]).map((r) => r.id),
      [a.id],
    );
    await helper.unload();
    removeDir(ud.dir);
    ud.dir = useTempUserDir();
    got = await load({ repeatSeconds: 60, repeatMode: 'mark' });
    helper.getNode('d1').receive({ payload: [a, b] } as NodeMessage);
    await until(() => got.fresh.length === 1);
    const out = got.fresh[0].payload as { id: string; repeat?: boolean }[];
    assert.equal(out.length, 2);
    assert.equal(out[0].repeat, undefined);
    assert.equal(out[1].repeat, true);
  });

  it('garbage never crashes: items without an id reach Catch naming the position, the rest passes', async () => {
    const got = await load();
    const n = helper.getNode('d1');
    n.receive({ payload: [makeRecord(1), { id: 5 }, null, 'x'] } as NodeMessage);
    n.receive({ payload: 'garbage' } as NodeMessage);
    await until(() => got.caught.length === 2 && got.fresh.length === 1);
    const m0 = (got.caught[0] as NodeMessage & { error: { message: string } }).error.message;
    assert.match(m0, /payload\[1\]\.id, payload\[2\]\.id, payload\[3\]\.id: must be a non-empty string/);
    assert.match((got.caught[1] as NodeMessage & { error: { message: string } }).error.message, /payload\.id/);
    assert.equal((got.fresh[0].payload as unknown[]).length, 1);
  });
});
