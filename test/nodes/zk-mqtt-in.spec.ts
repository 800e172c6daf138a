/**
 * zk-mqtt-in against a real Mosquitto: a message is acknowledged only once every node it reached called
 * done() (a flow stopped before that gets it again), one message at a time (a slow node holds the rest at
 * the broker), and bad input goes to output 2, acknowledged, while good records on the same topic flow on.
 */
import { strict as assert } from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import * as mqtt from 'mqtt';
import type { Node, NodeAPI, NodeDef, NodeMessage } from 'node-red';
import { helper, useNodeRedServer } from '../support/node-red';
import zkMqttIn = require('../../nodes/zk-mqtt-in/zk-mqtt-in');
import zkSink = require('../../nodes/zk-sink/zk-sink');
import type { AttendanceRecord } from '../../lib/record';
import { stableClientId } from '../../lib/mqtt/consumer';
import { MosquittoBroker } from '../support/mosquitto';
import { syntheticRecords } from '../../support/sink-records';
import { until } from '../../support/wait';

interface Held {
  msg: NodeMessage;
  done: (err?: Error) => void;
}

/** A node that keeps each message's done() for the test to call: a sink that takes its time. */
const held: Held[] = [];
function holdNode(RED: NodeAPI): void {
  function Hold(this: Node, def: NodeDef): void {
    RED.nodes.createNode(this, def);
    this.on('input', (msg: NodeMessage, _send: unknown, done: (err?: Error) => void) => held.push({ msg, done }));
  }
  RED.nodes.registerType('hold', Hold);
}

describe('zk-mqtt-in node', function () {
  this.timeout(60000);
  let broker: MosquittoBroker;
  let publisher: mqtt.MqttClient;
  const ud = useNodeRedServer(async () => {
    held.length = 0;
  });

  before(async () => {
    broker = await MosquittoBroker.create();
    publisher = await mqtt.connectAsync(broker.url, { clientId: `pf-pub-${process.pid}` });
  });
  after(async () => {
    await publisher?.endAsync(true);
    await broker?.destroy();
  });

  let run = 0;
  let sessionOpened = 0;
  let clientId = '';
  beforeEach(() => {
    // A fresh session and group per test, the same across the reloads inside a test (Mosquitto counts an
    // offline persistent session as a group member and queues its share for it).
    clientId = `pf-in-${process.pid}-${++run}`;
  });

  const publish = (topic: string, payload: string | Buffer): Promise<unknown> =>
    publisher.publishAsync(topic, payload, { qos: 1 });

  /** Opens the node's persistent session at the broker first, so nothing published before it connects is missed. */
  async function openSession(filter: string): Promise<void> {
    const c = await mqtt.connectAsync(broker.url, {
      clientId,
      clean: false,
      protocolVersion: 5,
      properties: { sessionExpiryInterval: 3600 },
    });
    await c.subscribeAsync(filter, { qos: 1 });
    await c.endAsync();
  }

  async function loadHold(): Promise<{ errors: NodeMessage[] }> {
    if (run !== sessionOpened) {
      await openSession(`$share/sinks${run}/punchflow/records/#`);
      sessionOpened = run;
    }
    helper.settings({ userDir: ud.dir });
    const flow = [
      { id: 'f1', type: 'tab' },
      {
        id: 'in',
        z: 'f1',
        type: 'zk-mqtt-in',
        broker: broker.url,
        topic: 'punchflow/records/#',
        group: `sinks${run}`,
        clientId,
        wires: [['h'], ['err']],
      },
      { id: 'h', z: 'f1', type: 'hold' },
      { id: 'err', z: 'f1', type: 'helper' },
      { id: 'st', z: 'f1', type: 'status', scope: ['in'], wires: [['sth']] },
      { id: 'sth', z: 'f1', type: 'helper' },
    ];
    await helper.load([zkMqttIn, holdNode], flow);
    const errors: NodeMessage[] = [];
    statuses.length = 0;
    (helper.getNode('err') as Node).on('input', (m: NodeMessage) => errors.push(m));
    (helper.getNode('sth') as Node).on('input', (m: NodeMessage) =>
      statuses.push(String((m as unknown as { status: { text: string } }).status.text)),
    );
    return { errors };
  }
  const statuses: string[] = [];

  it('acknowledges only after done(): a flow stopped before that gets the message again, and not after', async () => {
    await loadHold();
    const recs = syntheticRecords(3);
    await publish('punchflow/records/HQ/SIM1', JSON.stringify(recs));
    await until(() => held.length === 1, 20000, 'the first delivery');
    assert.equal((held[0].msg as unknown as { redelivered: boolean }).redelivered, false);
    assert.deepEqual(
      (held[0].msg.payload as AttendanceRecord[]).map((r) => r.id),
      recs.map((r) => r.id),
    );

    // Stopped with done() not yet called: not acknowledged, so it comes again.
    await helper.unload();
    held.length = 0;
    await loadHold();
    await until(() => held.length === 1, 20000, 'the redelivery');
    assert.deepEqual(
      (held[0].msg.payload as AttendanceRecord[]).map((r) => r.id),
      recs.map((r) => r.id),
    );
    held[0].done();
    await until(() => statuses.includes('3 in'), 20000, 'the acknowledgement (status "3 in")');

    // Acknowledged now: a marker message published after it is the next thing this session gets.
    await helper.unload();
    held.length = 0;
    await loadHold();
    const marker = syntheticRecords(1, { from: 100 });
    await publish('punchflow/records/HQ/SIM1', JSON.stringify(marker));
    await until(() => held.length >= 1, 20000, 'the marker');
    assert.deepEqual(
      held.map((h) => (h.msg.payload as AttendanceRecord[])[0].id),
      [marker[0].id],
    );
    held[0].done();
  });

  it('one message at a time: a slow node holds the rest at the broker, and all come in order once it goes on', async () => {
    await loadHold();
    const batches = [0, 1, 2, 3, 4].map((i) => syntheticRecords(2, { from: i * 2 }));
    await publish('punchflow/records/HQ/SIM1', JSON.stringify(batches[0]));
    await until(() => held.length === 1, 20000, 'the first message');
    for (const b of batches.slice(1)) await publish('punchflow/records/HQ/SIM1', JSON.stringify(b));
    // The broker acknowledged all four publishes; none reached the flow while the first one is not done.
    assert.equal(held.length, 1);
    for (let i = 0; i < batches.length; i++) {
      await until(() => held.length === i + 1, 20000, `message ${i + 1}`);
      assert.equal(held.length, i + 1, 'never more than one in flight');
      held[i].done();
    }
    assert.deepEqual(
      held.map((h) => (h.msg.payload as AttendanceRecord[])[0].id),
      batches.map((b) => b[0].id),
    );
  });

  it('a node that answers with an error: not acknowledged, the message comes again', async () => {
    await loadHold();
    await publish('punchflow/records/HQ/SIM1', JSON.stringify(syntheticRecords(1)));
    await until(() => held.length === 1, 20000, 'the first delivery');
    held[0].done(new Error('disk full'));
    await until(() => held.length === 2, 20000, 'the redelivery after the error');
    assert.equal((held[1].msg as unknown as { redelivered: boolean }).redelivered, true);
    held[1].done();
  });

  it('bad input: not JSON, too large, or failing the schema goes to output 2 acknowledged; good records on the topic keep flowing into zk-sink', async () => {
    await openSession('punchflow/records/#');
    helper.settings({ userDir: ud.dir });
    const flow = [
      { id: 'f1', type: 'tab' },
      {
        id: 'in',
        z: 'f1',
        type: 'zk-mqtt-in',
        broker: broker.url,
        topic: 'punchflow/records/#',
        group: '',
        clientId,
        maxMessageKiB: 64,
        wires: [['s1'], ['err']],
      },
      {
        id: 's1',
        z: 'f1',
        type: 'zk-sink',
        target: 'file',
        dir: 'out',
        format: 'ndjson',
        batchSize: 100,
        flushInterval: 0,
        wires: [[], []],
      },
      { id: 'err', z: 'f1', type: 'helper' },
    ];
    await helper.load([zkMqttIn, zkSink], flow);
    const errors: NodeMessage[] = [];
    (helper.getNode('err') as Node).on('input', (m: NodeMessage) => errors.push(m));
    const topic = 'punchflow/records/HQ/SIM1000000000';
    const good = syntheticRecords(20);
    const broken = { ...good[1], localTime: 'yesterday' };
    await publish(topic, JSON.stringify(good.slice(0, 10)));
    await publish(topic, 'this is not json');
    await publish(topic, Buffer.alloc(100 * 1024, 0x41));
    await publish(topic, JSON.stringify([broken, { hello: 1 }]));
    await publish(topic, JSON.stringify(good.slice(10)));
    const out = path.join(ud.dir, 'out');
    const lines = (): AttendanceRecord[] =>
      fs.existsSync(out)
        ? fs
            .readdirSync(out)
            .flatMap((f) => fs.readFileSync(path.join(out, f), 'utf8').split('\n').filter(Boolean))
            .map((l) => JSON.parse(l) as AttendanceRecord)
        : [];
    await until(() => lines().length === 20, 20000, 'the 20 good records in the file');
    await until(() => errors.length === 4, 20000, 'four errors');
    const reasons = errors.map((e) => (e.payload as { reason: string }).reason);
    assert.match(reasons[0], /not JSON/);
    assert.match(reasons[1], /over the limit/);
    assert.match(reasons[2], /localTime/);
    assert.ok(errors.every((e) => (e as unknown as { mqttTopic: string }).mqttTopic === topic));
    assert.deepEqual(
      lines()
        .map((r) => r.id)
        .sort(),
      good.map((r) => r.id).sort(),
    );

    // All of it was acknowledged: after a reload nothing comes again (a marker is the next thing delivered).
    await helper.unload();
    errors.length = 0;
    await helper.load([zkMqttIn, zkSink], flow);
    (helper.getNode('err') as Node).on('input', (m: NodeMessage) => errors.push(m));
    const marker = syntheticRecords(1, { from: 500 });
    await publish(topic, JSON.stringify(marker));
    await until(() => lines().length === 21, 20000, 'the marker in the file');
    assert.equal(errors.length, 0, 'no bad message came back');
    assert.equal(lines().length, 21);
  });

  it('a stable client id: the configured one, else host and node id; an unresolved ${VAR} counts as unset', () => {
    assert.equal(stableClientId('sink-a', 'n1', 'h'), 'sink-a');
    assert.equal(stableClientId('', 'n1', 'host.example'), 'punchflow-host_example-n1');
    assert.equal(stableClientId('${PUNCHFLOW_MQTT_CLIENT_ID}', 'n1', 'h'), 'punchflow-h-n1');
  });
});
