/** A node deleted from the flow says, once, which of its folders stay on disk and why. */
import { strict as assert } from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import type { Node, NodeMessage } from 'node-red';
import { helper, useNodeRedServer } from '../../support/node-red';
import zkDedupe = require('../../../nodes/zk-dedupe/zk-dedupe');
import { makeRecords } from '../../support/records';
import { until } from '../../../support/wait';

describe('nodes: removal notice', function () {
  this.timeout(15000);
  const ud = useNodeRedServer();

  async function loadDedupe(): Promise<{
    node: Node & { close(removed: boolean): Promise<void> };
    logged: string[];
    passed: NodeMessage[];
  }> {
    await helper.load(zkDedupe, [
      { id: 'f1', type: 'tab' },
      { id: 'd1', z: 'f1', type: 'zk-dedupe', wires: [['out'], []] },
      { id: 'out', z: 'f1', type: 'helper' },
    ]);
    const node = helper.getNode('d1') as Node & { close(removed: boolean): Promise<void> };
    const passed: NodeMessage[] = [];
    (helper.getNode('out') as Node).on('input', (m: NodeMessage) => passed.push(m));
    const logged: string[] = [];
    const log = node.log.bind(node);
    node.log = (m: string) => {
      logged.push(String(m));
      log(m);
    };
    return { node, logged, passed };
  }

  it('zk-dedupe removed: names the file of seen ids it leaves in the user directory', async () => {
    const { node, logged, passed } = await loadDedupe();
    node.receive({ payload: makeRecords(3) } as NodeMessage);
    await until(() => passed.length === 1);
    const file = path.join(ud.dir, 'punchflow', 'dedupe', 'd1.log');
    await until(() => fs.existsSync(file));
    await node.close(true);
    const notices = logged.filter((m) => m.includes('was removed'));
    assert.equal(notices.length, 1, logged.join('\n'));
    assert.ok(notices[0].includes(file) && notices[0].includes('seen ids'), notices[0]);
  });

  it('zk-dedupe redeployed (not removed): says nothing of its folders', async () => {
    const { node, logged, passed } = await loadDedupe();
    node.receive({ payload: makeRecords(2) } as NodeMessage);
    await until(() => passed.length === 1);
    await node.close(false);
    assert.deepEqual(
      logged.filter((m) => m.includes('was removed')),
      [],
    );
  });
});
