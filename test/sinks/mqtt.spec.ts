/**
 * The MQTT target against a real Mosquitto on loopback: one message per device and batch on the device's
 * topic, acknowledged before the batch counts as written; a broker that is down or refuses the login holds
 * the records (transient), and the outbox delivers them once it is back.
 */
import { strict as assert } from 'assert';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as mqtt from 'mqtt';
import type { AttendanceRecord } from '../../lib/record';
import { DeliveryLoop, Outbox, SinkError } from '../../lib/sinks';
import {
  createMqttSink,
  messagesFor,
  recordTopic,
  topicLevel,
  checkTopicTemplate,
  DEFAULT_RECORD_TOPIC,
} from '../../lib/sinks/mqtt';
import { MosquittoBroker } from '../support/mosquitto';
import { syntheticRecords } from '../../support/sink-records';
import { sleep, until } from '../../support/wait';

interface Received {
  topic: string;
  records: AttendanceRecord[];
}

async function subscriber(
  url: string,
  topic: string,
  opts: mqtt.IClientOptions = {},
): Promise<{ client: mqtt.MqttClient; got: Received[] }> {
  const client = await mqtt.connectAsync(url, { reconnectPeriod: 200, ...opts });
  const got: Received[] = [];
  client.on('message', (t, payload) =>
    got.push({ topic: t, records: JSON.parse(payload.toString('utf8')) as AttendanceRecord[] }),
  );
  await client.subscribeAsync(topic, { qos: 1 });
  return { client, got };
}

describe('mqtt target: topics', () => {
  it('one topic level per device: wildcards and separators in a site or serial cannot widen what a subscriber matches', () => {
    assert.equal(topicLevel('HQ'), 'HQ');
    assert.equal(topicLevel('a/b+c#d'), 'a_b_c_d');
    assert.equal(topicLevel(null), '_');
    assert.equal(topicLevel(''), '_');
    assert.equal(
      recordTopic(DEFAULT_RECORD_TOPIC, { site: 'Branch 7', deviceSn: 'SN/1' }),
      'punchflow/records/Branch 7/SN_1',
    );
    assert.throws(() => checkTopicTemplate('punchflow/#'), /wildcard/);
    assert.throws(() => checkTopicTemplate('$SYS/x'), /starts with \$/);
    assert.throws(() => checkTopicTemplate(''), /empty/);
  });

  it('groups a batch by device in order and splits large groups', () => {
    const recs = syntheticRecords(10, { devices: 2 });
    const msgs = messagesFor(recs, DEFAULT_RECORD_TOPIC, 3);
    assert.deepEqual(
      msgs.map((m) => [m.topic, m.records.length]),
      [
        ['punchflow/records/HQ/SIM1000000000', 3],
        ['punchflow/records/HQ/SIM1000000000', 2],
        ['punchflow/records/HQ/SIM1000000001', 3],
        ['punchflow/records/HQ/SIM1000000001', 2],
      ],
    );
    assert.deepEqual(
      msgs
        .flatMap((m) => m.records)
        .map((r) => r.id)
        .sort(),
      recs.map((r) => r.id).sort(),
    );
  });

  it('refuses a URL that is not a broker URL, naming what to write', () => {
    assert.throws(() => createMqttSink({ url: 'http://127.0.0.1:1883' }), /must start with mqtt:\/\//);
    assert.throws(() => createMqttSink({ url: 'not a url' }), /invalid broker URL/);
  });
});

describe('mqtt target against Mosquitto', function () {
  let broker: MosquittoBroker;
  const clients: mqtt.MqttClient[] = [];
  const dirs: string[] = [];

  before(async () => {
    broker = await MosquittoBroker.create({ users: { capture: 'capture-secret' } });
  });
  after(async () => {
    await broker?.destroy();
  });
  afterEach(async () => {
    for (const c of clients.splice(0)) await c.endAsync(true);
    for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
    await broker.start();
  });

  const auth = { username: 'capture', password: 'capture-secret' };

  it('publishes one message per device at QoS 1 and reports the batch written once the broker acknowledged it', async () => {
    const sub = await subscriber(broker.url, 'punchflow/records/#', auth);
    clients.push(sub.client);
    const sink = createMqttSink({ url: broker.url, ...auth });
    await sink.open();
    const recs = syntheticRecords(40, { devices: 4 });
    const res = await sink.write(recs);
    assert.deepEqual(res, { inserted: 40, duplicates: 0, rejected: [] });
    await until(
      () => sub.got.reduce((n, m) => n + m.records.length, 0) >= 40,
      10000,
      'the subscriber to get 40 records',
    );
    assert.equal(sub.got.length, 4, 'one message per device');
    for (const m of sub.got) {
      assert.ok(
        m.records.every((r) => m.topic === `punchflow/records/HQ/${r.deviceSn}`),
        m.topic,
      );
    }
    assert.deepEqual(
      sub.got.flatMap((m) => m.records).sort((a, b) => a.id.localeCompare(b.id)),
      [...recs].sort((a, b) => a.id.localeCompare(b.id)),
    );
    await sink.close();
  });

  it('a message nobody is subscribed to is not written: the records stay until a consumer subscribes', async () => {
    const sink = createMqttSink({ url: broker.url, ...auth, topic: 'punchflow/unread/{serial}' });
    await sink.open();
    const recs = syntheticRecords(4, { devices: 2 });
    await assert.rejects(
      sink.write(recs),
      (err: unknown) =>
        err instanceof SinkError && !err.permanent && /no one is subscribed to punchflow\/unread\//.test(err.message),
    );
    const sub = await subscriber(broker.url, '$share/g/punchflow/unread/#', auth);
    clients.push(sub.client);
    assert.deepEqual(await sink.write(recs), { inserted: 4, duplicates: 0, rejected: [] });
    await until(() => sub.got.reduce((n, m) => n + m.records.length, 0) === 4, 10000, 'the records at the consumer');
    await sink.close();
  });

  it('a refused login and a stopped broker are transient: the records are kept, not rejected', async () => {
    const wrong = createMqttSink({ url: broker.url, username: 'capture', password: 'wrong', connectTimeoutMs: 2000 });
    await wrong.open();
    await assert.rejects(
      wrong.write(syntheticRecords(2)),
      (err: unknown) =>
        err instanceof SinkError && !err.permanent && /not connected/.test(err.message) && !/wrong/.test(err.message),
    );
    await wrong.close();

    const sink = createMqttSink({ url: broker.url, ...auth, connectTimeoutMs: 2000, ackTimeoutMs: 1000 });
    await sink.open();
    await broker.stop();
    // Until the client notices the closed socket a write may still look connected; it must then time out.
    await assert.rejects(
      (async () => {
        for (let i = 0; i < 100; i++) {
          await sink.write(syntheticRecords(1, { from: i }));
          await sleep(50);
        }
      })(),
      (err: unknown) => err instanceof SinkError && !err.permanent,
    );
    await sink.close();
  });

  it('through the outbox: a broker outage holds the records on disk, and every one arrives after it is back', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'punchflow-mqtt-outbox-'));
    dirs.push(dir);
    const sub = await subscriber(broker.url, 'punchflow/records/#', {
      ...auth,
      clean: false,
      clientId: `pf-test-${process.pid}`,
    });
    clients.push(sub.client);
    await broker.stop();
    const outbox = await Outbox.open<AttendanceRecord>(dir);
    const sink = createMqttSink({ url: broker.url, ...auth, connectTimeoutMs: 500 });
    const states: string[] = [];
    const loop = new DeliveryLoop({
      sink,
      outbox,
      batchSize: 100,
      flushIntervalMs: 0,
      backoff: { baseMs: 100, maxMs: 400 },
      onState: (s) => states.push(s.state),
    });
    const recs = syntheticRecords(1000, { devices: 5 });
    await outbox.append(recs);
    loop.start();
    await until(() => states.includes('retry'), 10000, 'the loop to retry while the broker is down');
    assert.equal(outbox.pending, 1000, 'nothing leaves the outbox while the broker is down');
    await broker.start();
    await until(() => outbox.pending === 0, 20000, 'the outbox to drain');
    await until(
      () => new Set(sub.got.flatMap((m) => m.records.map((r) => r.id))).size === 1000,
      20000,
      'every record at the subscriber',
    );
    await loop.stop();
    await sink.close();
    await outbox.close();
  });
});
