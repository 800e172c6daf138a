import { strict as assert } from 'assert';
import { helper, useNodeRedServer } from '../support/node-red';
import zkDevice = require('../../nodes/zk-device/zk-device');
import { ZkSimulator } from '../../lib/sim';
import { sessionRegistry } from '../../lib/device';
import type { ZkDeviceNode } from '../../nodes/zk-device/zk-device-api';
import { parseStateMap } from '../../nodes/zk-device/device-node-config';
import { checkNoLeaks } from '../support/handles';

const HOST = '127.0.0.1';

describe('zk-device config node', function () {
  this.timeout(15000);
  let sim: ZkSimulator;
  let port: number;

  before(async () => {
    sim = new ZkSimulator({ host: HOST, port: 0, seed: 21, users: 8, records: 120, commKey: 777 });
    ({ port } = await sim.start());
  });
  after(async () => {
    await sim.stop();
  });
  useNodeRedServer();
  checkNoLeaks();

  const flow = (extra: Record<string, unknown> = {}) => [
    { id: 'd1', type: 'zk-device', name: 'Front door', host: HOST, port, timeout: 2000, tz: 'Europe/Berlin', ...extra },
  ];

  it('Test connection (saved comm key): serial, model, counts, capacity, time and drift', async () => {
    await helper.load(zkDevice, flow(), { d1: { commKey: '777' } });
    const res = await helper
      .request()
      .post('/zk-device/test')
      .send({ id: 'd1', host: HOST, port, timeout: 2000, commKey: '__PWRD__' })
      .expect(200);
    assert.equal(res.body.ok, true, JSON.stringify(res.body));
    assert.equal(res.body.info.serial, sim.serial);
    assert.equal(res.body.info.counts.records, 120);
    assert.equal(res.body.info.counts.users, 8);
    assert.ok(res.body.info.capacity.records >= 120);
    assert.match(res.body.info.deviceTime, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d$/);
    assert.equal(typeof res.body.info.clockDriftSec, 'number');
  });

  it('Test connection with unsaved settings: a wrong comm key is said in plain words', async () => {
    await helper.load(zkDevice, flow(), { d1: { commKey: '777' } });
    const res = await helper
      .request()
      .post('/zk-device/test')
      .send({ host: HOST, port, timeout: 2000, commKey: '778' })
      .expect(200);
    assert.equal(res.body.ok, false);
    assert.equal(res.body.code, 'AUTH');
    assert.match(res.body.error, /rejected the comm key/);
  });

  it('Test connection to a wrong host or port fails fast with a clear message', async () => {
    await helper.load(zkDevice, flow(), { d1: { commKey: '777' } });
    const t0 = Date.now();
    const closed = await helper
      .request()
      .post('/zk-device/test')
      .send({ host: HOST, port: 1, timeout: 5000 })
      .expect(200);
    assert.equal(closed.body.ok, false);
    assert.match(closed.body.error, /connection refused — check the host, the port/);
    const bad = await helper.request().post('/zk-device/test').send({ host: 'not a host!', port: 4370 }).expect(400);
    assert.match(bad.body.error, /host "not a host!" is not an IP address or host name/);
    const noName = await helper
      .request()
      .post('/zk-device/test')
      .send({ host: 'no-such-device.invalid', port: 4370, timeout: 5000 })
      .expect(200);
    assert.equal(noName.body.ok, false);
    assert.match(noName.body.error, /not found|cannot talk/);
    assert.ok(Date.now() - t0 < 4000, `took ${Date.now() - t0} ms`);
  });

  it('GET defaults names the host zone', async () => {
    await helper.load(zkDevice, flow());
    const res = await helper.request().get('/zk-device/defaults').expect(200);
    assert.equal(typeof res.body.tz, 'string');
    assert.ok(res.body.tz.length > 0);
  });

  it('users share one session; the last release closes it', async () => {
    await helper.load(zkDevice, flow(), { d1: { commKey: '777' } });
    const dev = helper.getNode('d1') as unknown as ZkDeviceNode;
    assert.equal(dev.deviceConfig.commKey, 777);
    assert.equal(dev.deviceConfig.tz, 'Europe/Berlin');
    const a = { id: 'a', status: () => undefined } as never;
    const b = { id: 'b', status: () => undefined } as never;
    const s1 = dev.acquire(a);
    const s2 = dev.acquire(b);
    assert.equal(s1, s2);
    const info = await s1.info();
    assert.equal(info.serial, sim.serial);
    assert.equal(sessionRegistry.find(s1.key), s1);
    await dev.release(a);
    assert.equal(sessionRegistry.find(s1.key), s1, 'still held by b');
    await dev.release(b);
    assert.equal(sessionRegistry.find(s1.key), null, 'closed with the last user');
  });

  it('a bad configuration is reported naming the field, and acquire refuses', async () => {
    await helper.load(zkDevice, flow({ tz: 'Mars/Olympus' }));
    const dev = helper.getNode('d1') as unknown as ZkDeviceNode;
    assert.throws(
      () => dev.acquire({ id: 'x', status: () => undefined } as never),
      /time zone "Mars\/Olympus" is not an IANA zone/,
    );
  });

  it('punch mapping: JSON parsed and validated with the field named', () => {
    assert.deepEqual(parseStateMap('{"0":"out","7":"in"}'), { 0: 'out', 7: 'in' });
    assert.equal(parseStateMap(''), undefined);
    assert.throws(() => parseStateMap('{"0":"sideways"}'), /state 0 → "sideways" is not one of/);
    assert.throws(() => parseStateMap('[1]'), /must be a JSON object/);
    assert.throws(() => parseStateMap('{'), /not valid JSON/);
  });
});

describe('session registry', () => {
  it('warns when a second configuration for the same device differs in connection settings', async () => {
    const { SessionRegistry, normaliseDeviceConfig } = await import('../../lib/device');
    const reg = new SessionRegistry();
    const warnings: string[] = [];
    const logger = (level: string, msg: string) => (level === 'warn' ? warnings.push(msg) : undefined);
    const a = reg.acquire(normaliseDeviceConfig({ host: '127.0.0.1', port: 4999, commKey: 1 }), { logger });
    const b = reg.acquire(normaliseDeviceConfig({ host: '127.0.0.1', port: 4999, commKey: 1 }), { logger });
    assert.equal(a, b);
    assert.equal(warnings.length, 0, 'same settings: no warning');
    const c = reg.acquire(normaliseDeviceConfig({ host: '127.0.0.1', port: 4999, commKey: 2 }), { logger });
    assert.equal(c, a);
    assert.equal(warnings.length, 1);
    assert.match(warnings[0], /127\.0\.0\.1:4999 is already connected with other commKey settings/);
    for (const s of [a, b, c]) await reg.release(s);
    assert.equal(reg.size, 0);
  });
});
