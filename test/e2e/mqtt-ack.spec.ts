/**
 * What zk-mqtt-in prevents: Node-RED's core `mqtt in` node acknowledges a QoS 1 message to the broker as soon
 * as it arrives, so records still on their way to zk-sink's outbox when the process dies are gone for good
 * (the broker has no reason to send them again). The same flow with zk-mqtt-in loses none. Both flows hold
 * the messages in a delay node before zk-sink, and the runtime is killed with SIGKILL while they wait.
 */
import { strict as assert } from 'assert';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as mqtt from 'mqtt';
import type { AttendanceRecord } from '../../lib/record';
import { MosquittoBroker } from '../support/mosquitto';
import { syntheticRecords } from '../../support/sink-records';
import { FlowNode, startRuntime } from './runtime';
import { sleep } from '../../support/wait';

function fileRecords(dir: string): AttendanceRecord[] {
  if (!fs.existsSync(dir)) return [];
  return fs
    .readdirSync(dir)
    .flatMap((f) => fs.readFileSync(path.join(dir, f), 'utf8').split('\n').filter(Boolean))
    .map((l) => JSON.parse(l) as AttendanceRecord);
}

describe('e2e: acknowledged consumption from MQTT vs the core mqtt in node, across a SIGKILL', function () {
  this.timeout(120_000);
  let broker: MosquittoBroker;
  let publisher: mqtt.MqttClient;
  const dirs: string[] = [];

  before(async () => {
    broker = await MosquittoBroker.create();
    publisher = await mqtt.connectAsync(broker.url, { clientId: `pf-ack-pub-${process.pid}` });
  });
  after(async () => {
    await publisher?.endAsync(true);
    await broker?.destroy();
    for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
  });

  /** Runs `input` → delay 2 s → zk-sink (files), publishes 10 messages, kills the runtime while they wait, restarts it, and counts what reached the files. */
  async function killWhileInFlight(
    name: string,
    input: FlowNode[],
    topicRoot: string,
  ): Promise<{ sent: number; stored: number }> {
    const userDir = fs.mkdtempSync(path.join(os.tmpdir(), `punchflow-${name}-`));
    dirs.push(userDir);
    const outDir = path.join(userDir, 'out');
    const flow: FlowNode[] = [
      { id: 't1', type: 'tab', label: name },
      ...input,
      {
        id: 'wait1',
        z: 't1',
        type: 'delay',
        pauseType: 'delay',
        timeout: '2',
        timeoutUnits: 'seconds',
        rate: '1',
        nbRateUnits: '1',
        rateUnits: 'second',
        randomFirst: '1',
        randomLast: '5',
        randomUnits: 'seconds',
        drop: false,
        allowrate: false,
        outputs: 1,
        wires: [['store1']],
      },
      {
        id: 'store1',
        z: 't1',
        type: 'zk-sink',
        target: 'file',
        dir: outDir,
        format: 'ndjson',
        batchSize: 100,
        flushInterval: 0,
        wires: [[], []],
      },
    ];
    let rt = await startRuntime({ userDir, flows: flow });
    try {
      // Let the input connect and subscribe (its session is then at the broker and survives the kill).
      await sleep(1500);
      const batches = Array.from({ length: 10 }, (_, i) => syntheticRecords(5, { from: i * 5 }));
      for (const b of batches) await publisher.publishAsync(`${topicRoot}/HQ/SIM1`, JSON.stringify(b), { qos: 1 });
      await sleep(1500); // all delivered to the runtime, all waiting in the delay node
      assert.equal(fileRecords(outDir).length, 0, 'nothing stored yet: the records wait in the delay');
      await rt.kill();
      rt = await startRuntime({ userDir });
      // Until all 50 are stored, or nothing new was stored for 10 s (5 times the delay: the broker sends
      // nothing more). zk-mqtt-in takes one message at a time, so its 10 come one delay apart.
      let last = -1;
      let changed = Date.now();
      for (;;) {
        const n = fileRecords(outDir).length;
        if (n !== last) [last, changed] = [n, Date.now()];
        if (n >= 50 || Date.now() - changed > 10_000) break;
        await sleep(250);
      }
      return { sent: 50, stored: new Set(fileRecords(outDir).map((r) => r.id)).size };
    } finally {
      await rt.stop();
    }
  }

  it('the core mqtt in node loses what it had acknowledged; zk-mqtt-in loses nothing', async () => {
    const core = await killWhileInFlight(
      'core-mqtt-in',
      [
        {
          id: 'broker',
          type: 'mqtt-broker',
          name: 'b',
          broker: broker.host,
          port: String(broker.port),
          clientid: 'pf-core-in',
          autoConnect: true,
          usetls: false,
          protocolVersion: '4',
          keepalive: '60',
          cleansession: false,
          autoUnsubscribe: false,
        },
        {
          id: 'in',
          z: 't1',
          type: 'mqtt in',
          name: '',
          topic: 'core/records/#',
          qos: '1',
          datatype: 'json',
          broker: 'broker',
          nl: false,
          rap: true,
          rh: 0,
          inputs: 0,
          wires: [['wait1']],
        },
      ],
      'core/records',
    );
    const ours = await killWhileInFlight(
      'zk-mqtt-in',
      [
        {
          id: 'in',
          z: 't1',
          type: 'zk-mqtt-in',
          broker: broker.url,
          topic: 'ours/records/#',
          group: 'sinks',
          clientId: 'pf-zk-in',
          wires: [['wait1'], []],
        },
      ],
      'ours/records',
    );
    assert.equal(ours.stored, ours.sent, 'zk-mqtt-in: every record once the runtime came back');
    assert.ok(core.stored < core.sent, `core mqtt in: expected a loss, stored ${core.stored} of ${core.sent}`);
    // eslint-disable-next-line no-console
    console.log(
      `      after a SIGKILL with 50 records in flight: core mqtt in kept ${core.stored}, zk-mqtt-in ${ours.stored}`,
    );
  });
});
