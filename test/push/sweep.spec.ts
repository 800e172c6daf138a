/**
 * The offline sweep of zk-push (docs/adms.md §7: online while requests arrive within a few `Delay`
 * periods). Time is driven through the public API with explicit clocks (DeviceBook.sweep(nowMs),
 * PushServer.sweep(nowMs)), never by waiting for the threshold.
 */
import { strict as assert } from 'assert';
import type { NodeMessage } from 'node-red';
import { DeviceBook, PushStatusEvent } from '../../lib/push/devices';
import { DEFAULT_HANDSHAKE } from '../../lib/push/options';
import type { AllowedDevice } from '../../lib/push/allow-list';
import { checkNoLeaks } from '../support/handles';
import { helper, useNodeRedServer, removeDir } from '../support/node-red';
import { until } from '../../support/wait';
import { devices, Running, send, startPush } from './support';
import { collect, RedPush } from './support/red';

const iso = (ms: number): string => new Date(ms).toISOString();

/** The status event a push device gets, with every field spelled out (so an unexpected change fails). */
function expected(
  partial: Partial<PushStatusEvent> & Pick<PushStatusEvent, 'state' | 'deviceSn' | 'push'>,
): PushStatusEvent {
  return {
    deviceName: null,
    site: null,
    deviceHost: null,
    lastSeen: null,
    lastPoll: null,
    lastError: null,
    records: null,
    newRecords: 0,
    users: null,
    capacity: { records: null, recordsMax: null },
    clockDriftSec: null,
    firmware: null,
    transport: 'http',
    ...partial,
  };
}

describe('push: offline sweep', function () {
  this.timeout(10000);

  describe('DeviceBook', () => {
    checkNoLeaks();
    const lobby: AllowedDevice = { sn: 'L1', name: 'Lobby', site: 'HQ', tz: 'Asia/Kolkata' };
    const t0 = Date.UTC(2026, 3, 1, 8, 0, 0);

    it('online on the first request; offline only strictly past the threshold, reported once; back online on the next request', () => {
      const book = new DeviceBook((sn) => (sn === 'L1' ? lobby : null), 30_000);
      assert.equal(
        book.seen('L1', '10.0.0.5', { firmware: 'Ver 8.0.4', users: 3, records: 10 }, t0),
        true,
        'first request: news',
      );
      assert.equal(
        book.seen('L1', '10.0.0.5', { firmware: 'Ver 8.0.4', users: 3, records: 10 }, t0 + 1000),
        false,
        'same INFO: no news',
      );
      assert.equal(book.seen('L1', '10.0.0.5', null, t0 + 2000), false);
      book.posted('L1', 4, 1, '42', t0 + 2000);
      const push = {
        posts: 1,
        records: 4,
        badLines: 1,
        stamp: '42',
        lastPost: iso(t0 + 2000),
        remoteAddress: '10.0.0.5',
        pushVersion: null,
        listed: true,
      };
      const online = expected({
        deviceSn: 'L1',
        deviceName: 'Lobby',
        site: 'HQ',
        state: 'online',
        lastSeen: iso(t0 + 2000),
        records: 10,
        newRecords: 4,
        users: 3,
        capacity: { records: 10, recordsMax: null },
        firmware: 'Ver 8.0.4',
        push,
      });
      assert.deepEqual(book.status('L1'), online);

      assert.deepEqual(book.sweep(t0 + 2000 + 30_000), [], 'exactly at the threshold: still online');
      assert.equal(book.status('L1').state, 'online');
      assert.deepEqual(book.sweep(t0 + 2000 + 30_001), ['L1'], 'one ms past it: offline');
      // Offline keeps what was known; only the state and the per-post count change.
      assert.deepEqual(book.status('L1'), { ...online, state: 'offline', newRecords: 0 });
      assert.deepEqual(book.sweep(t0 + 3_600_000), [], 'an offline device is reported once');
      assert.deepEqual(book.sweep(t0 + 2000 + 30_001), []);

      const t1 = t0 + 7_200_000;
      assert.equal(book.seen('L1', '10.0.0.6', null, t1), true, 'the next request brings it back: news');
      assert.deepEqual(book.status('L1'), {
        ...online,
        state: 'online',
        lastSeen: iso(t1),
        newRecords: 0,
        push: { ...push, remoteAddress: '10.0.0.6' },
      });
      assert.equal(book.seen('L1', '10.0.0.6', null, t1 + 5000), false, 'then heartbeats are no news again');
      assert.deepEqual(book.sweep(t1 + 5000 + 30_000), []);
      assert.deepEqual(book.sweep(t1 + 5000 + 30_001), ['L1'], 'and it can go offline again');
    });

    it('each device goes by its own last request; devices never heard from are not swept', () => {
      const book = new DeviceBook(() => null, 30_000);
      assert.equal(book.status('Z9').state, 'offline', 'a serial asked about but never heard from');
      book.seen('A1', null, null, t0);
      book.seen('B1', null, null, t0);
      for (let t = t0 + 10_000; t <= t0 + 60_000; t += 10_000) {
        book.seen('A1', null, null, t); // A keeps its heartbeat, B fell silent at t0
        assert.deepEqual(book.sweep(t), t === t0 + 40_000 ? ['B1'] : [], `sweep at t0 + ${t - t0} ms`);
      }
      assert.equal(book.status('A1').state, 'online');
      assert.equal(book.status('B1').state, 'offline');
      assert.equal(book.status('A1').push.listed, false);
      assert.deepEqual(book.sweep(t0 + 60_000 + 30_001), ['A1']);
      assert.equal(book.status('Z9').lastSeen, null);
      assert.deepEqual(book.known().sort(), ['A1', 'B1', 'Z9']);
    });
  });

  describe('PushServer over loopback HTTP', () => {
    let runs: Running[] = [];
    afterEach(async () => {
      for (const r of runs) {
        await r.close();
        removeDir(r.dir);
      }
      runs = [];
    });
    checkNoLeaks();

    const start = async (delaySec: number): Promise<Running> => {
      const r = await startPush({ devices: devices('S1'), handshake: { ...DEFAULT_HANDSHAKE, delaySec } });
      runs.push(r);
      return r;
    };
    const lastSeenMs = (r: Running, sn: string): number => Date.parse(r.server.devices.status(sn).lastSeen ?? 'none');
    const INFO = 'INFO=Ver%208.0.4,3,0,99,10.0.0.2';

    it('threshold max(30 s, 3 × Delay + 10 s); exact offline event once, then exactly one online event on the next heartbeat', async () => {
      for (const [delaySec, threshold] of [
        [20, 70_000],
        [10, 40_000],
        [1, 30_000],
      ]) {
        const run = await start(delaySec);
        const st = run.seen.statuses;
        assert.equal((await send(run.url, 'GET', '/iclock/cdata?SN=S1&options=all&pushver=2.4.1')).status, 200);
        assert.equal((await send(run.url, 'GET', `/iclock/getrequest?SN=S1&${INFO}`)).body, 'OK');
        assert.equal(
          (
            await send(
              run.url,
              'POST',
              '/iclock/cdata?SN=S1&table=ATTLOG&Stamp=7',
              '1001\t2026-04-01 08:00:00\t0\t1\t0\t0\t0\n',
            )
          ).body,
          'OK',
        );
        assert.equal((await send(run.url, 'GET', `/iclock/getrequest?SN=S1&${INFO}`)).body, 'OK');
        assert.deepEqual(
          st.map((e) => [e.state, e.newRecords]),
          [
            ['online', 0],
            ['online', 0],
            ['online', 1],
          ],
          'handshake, INFO news, ATTLOG post; a plain heartbeat is no event',
        );
        const last = lastSeenMs(run, 'S1');
        const lastPost = st[2].push.lastPost;
        assert.equal(typeof lastPost, 'string');
        const push = {
          posts: 1,
          records: 1,
          badLines: 0,
          stamp: '7',
          lastPost,
          remoteAddress: '127.0.0.1',
          pushVersion: '2.4.1',
          listed: true,
        };

        run.server.sweep(last + threshold);
        assert.equal(st.length, 3, `Delay ${delaySec}: still online exactly at ${threshold} ms`);
        assert.equal(run.server.devices.status('S1').state, 'online');
        run.server.sweep(last + threshold + 1);
        assert.equal(st.length, 4, `Delay ${delaySec}: offline one ms past ${threshold} ms`);
        assert.deepEqual(
          st[3],
          expected({
            deviceSn: 'S1',
            state: 'offline',
            lastSeen: iso(last),
            records: 99,
            users: 3,
            capacity: { records: 99, recordsMax: null },
            firmware: 'Ver 8.0.4',
            push,
          }),
        );
        run.server.sweep(last + 10 * threshold);
        assert.equal(st.length, 4, 'reported once');

        assert.equal((await send(run.url, 'GET', `/iclock/getrequest?SN=S1&${INFO}`)).body, 'OK');
        assert.equal(st.length, 5, 'back online: one event');
        const back = lastSeenMs(run, 'S1');
        assert.ok(back >= last);
        assert.deepEqual(
          st[4],
          expected({
            deviceSn: 'S1',
            state: 'online',
            lastSeen: iso(back),
            records: 99,
            users: 3,
            capacity: { records: 99, recordsMax: null },
            firmware: 'Ver 8.0.4',
            push,
          }),
        );
        assert.equal((await send(run.url, 'GET', `/iclock/getrequest?SN=S1&${INFO}`)).body, 'OK');
        assert.equal(st.length, 5, 'heartbeats after that: no event');
        assert.deepEqual(run.seen.errors, []);
        assert.deepEqual(run.seen.rejected, []);
      }
    });

    it('whatever request comes first after going offline brings the device back with one online event', async () => {
      const run = await start(10);
      const st = run.seen.statuses;
      const firstContact = await send(run.url, 'GET', '/iclock/cdata?SN=S1&options=all');
      assert.equal(firstContact.status, 200);
      const requests: Array<[string, () => Promise<{ status: number; body: string }>]> = [
        ['getrequest', () => send(run.url, 'GET', '/iclock/getrequest?SN=S1')],
        ['ping', () => send(run.url, 'GET', '/iclock/ping?SN=S1')],
        ['devicecmd', () => send(run.url, 'POST', '/iclock/devicecmd?SN=S1', 'ID=77&Return=0&CMD=INFO\n')],
        [
          'OPERLOG',
          () =>
            send(run.url, 'POST', '/iclock/cdata?SN=S1&table=OPERLOG', 'OPLOG 4\t0\t2026-04-01 08:00:00\t0\t0\t0\t0\n'),
        ],
        [
          'ATTLOG',
          () => send(run.url, 'POST', '/iclock/cdata?SN=S1&table=ATTLOG', '1001\t2026-04-01 09:00:00\t0\t1\n'),
        ],
        ['start-up', () => send(run.url, 'GET', '/iclock/cdata?SN=S1&options=all')],
        [
          'registry',
          () =>
            send(
              run.url,
              'POST',
              '/iclock/registry?SN=S1',
              'DeviceType=att,~DeviceName=Gate,FirmVer=ZAM180,PushVersion=3.1.2',
            ),
        ],
        ['push', () => send(run.url, 'GET', '/iclock/push?SN=S1')],
        ['fdata', () => send(run.url, 'POST', '/iclock/fdata?SN=S1', 'PIN=1\n')],
      ];
      for (const [what, request] of requests) {
        const before = st.length;
        run.server.sweep(lastSeenMs(run, 'S1') + 40_001);
        assert.deepEqual(
          st.slice(before).map((e) => e.state),
          ['offline'],
          `${what}: swept offline first`,
        );
        const r = await request();
        assert.equal(r.status, 200, what);
        assert.equal(run.server.devices.status('S1').state, 'online', what);
        assert.deepEqual(
          st.slice(before + 1).map((e) => [e.deviceSn, e.state, e.lastSeen]),
          [['S1', 'online', iso(lastSeenMs(run, 'S1'))]],
          `${what}: one online event`,
        );
      }
      assert.deepEqual(run.seen.errors, []);
    });
  });

  describe('zk-push node under Node-RED', () => {
    const red = new RedPush();
    useNodeRedServer(() => red.close());
    checkNoLeaks();

    it("the node's sweep sends the offline event on output 2, and the online event when the device is back", async () => {
      red.watchServers();
      const flow = [
        { id: 'f1', type: 'tab' },
        {
          id: 'p1',
          z: 'f1',
          type: 'zk-push',
          delay: 5,
          devices: 'NS1,Gate,Plant 2,Europe/Berlin',
          tz: 'UTC',
          wires: [['rec'], ['ev']],
        },
        { id: 'rec', z: 'f1', type: 'helper' },
        { id: 'ev', z: 'f1', type: 'helper' },
      ];
      await helper.load([red.register], flow);
      const records: NodeMessage[] = [];
      const events: NodeMessage[] = [];
      collect('rec', records);
      collect('ev', events);
      await until(() => red.servers.length === 1, 5000, 'the node serving');
      const server = red.servers[0];
      const url = await red.serveHttpNode();
      assert.equal((await send(url, 'GET', '/iclock/cdata?SN=NS1&options=all&pushver=2.4.1')).status, 200);
      await until(() => events.length === 1, 5000, 'online event');
      const online = events[0].payload as PushStatusEvent;
      assert.equal(events[0].topic, 'NS1');
      assert.equal(online.state, 'online');
      const last = Date.parse(online.lastSeen ?? 'none');
      const push = {
        posts: 0,
        records: 0,
        badLines: 0,
        stamp: null,
        lastPost: null,
        remoteAddress: '127.0.0.1',
        pushVersion: '2.4.1',
        listed: true,
      };
      assert.deepEqual(
        online,
        expected({ deviceSn: 'NS1', deviceName: 'Gate', site: 'Plant 2', state: 'online', lastSeen: iso(last), push }),
      );

      // Delay 5 → 3 × 5 s + 10 s = 25 s, below the 30 s floor.
      server.sweep(last + 30_001);
      await until(() => events.length === 2, 5000, 'offline event');
      assert.equal(events[1].topic, 'NS1');
      assert.deepEqual(
        events[1].payload,
        expected({ deviceSn: 'NS1', deviceName: 'Gate', site: 'Plant 2', state: 'offline', lastSeen: iso(last), push }),
      );

      assert.equal((await send(url, 'GET', '/iclock/getrequest?SN=NS1')).body, 'OK');
      await until(() => events.length === 3, 5000, 'online again');
      const again = events[2].payload as PushStatusEvent;
      assert.equal(events[2].topic, 'NS1');
      const back = Date.parse(again.lastSeen ?? 'none');
      assert.ok(back >= last);
      assert.deepEqual(again, { ...online, lastSeen: iso(back) });

      // A heartbeat and a sweep within the threshold send nothing: the next message is the next offline event.
      assert.equal((await send(url, 'GET', '/iclock/getrequest?SN=NS1')).body, 'OK');
      const beat = Date.parse(server.devices.status('NS1').lastSeen ?? 'none');
      server.sweep(beat + 30_000);
      server.sweep(beat + 30_001);
      await until(() => events.length >= 4, 5000, 'second offline event');
      assert.deepEqual(events.slice(3), [
        {
          ...events[3],
          topic: 'NS1',
          payload: expected({
            deviceSn: 'NS1',
            deviceName: 'Gate',
            site: 'Plant 2',
            state: 'offline',
            lastSeen: iso(beat),
            push,
          }),
        },
      ]);
      assert.equal(records.length, 0);
    });
  });
});
