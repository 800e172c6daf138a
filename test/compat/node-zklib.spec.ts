/**
 * node-zklib@1.3.0 against the simulator (docs/zk-protocol.md §11.2): it must read info, users, every attendance
 * record and live punches, over TCP (tft) and over UDP (zk6, after TCP is refused).
 *
 * What node-zklib needs from the device (found by reading its source and running it here):
 * - TCP, 'separate' writes: one packet per socket.write and a yield between packets. Its chunk loop handles
 *   at most one packet per 'data' event, so PREPARE_DATA + DATA of a chunk must not share a read; the
 *   simulator yields (setImmediate) before each packet and waits for each write to be flushed, which is
 *   enough in-process: no interPacketGapMs is needed (gap 0). A gap of ≥ 2 ms before a chunk's trailing
 *   ACK_OK would make its FREE_DATA read that ACK and shift later replies (§11.2 item 1): not used here.
 * - It pipelines all 1504s at once (65,472-byte chunks): 30,000 records (1,200,004 bytes) give 19 chunks.
 * - Direct DATA replies (users here: 4 + 12 × 72 = 868 ≤ 1024) cost it a fixed 1 s of silence.
 * - Its chunk 'data' listener is never removed, so getRealTimeLogs() on a connection that already downloaded
 *   attendance never installs its event listener (docs/zk-protocol.md §10 #4): live events use a fresh connection.
 * - userIds are cut to 9 characters (docs/zk-protocol.md §10 #11): compared within that limit, truncation asserted.
 * - Names are decoded as 7-bit ASCII: non-ASCII names come out mangled (asserted as such).
 * - Times are built with new Date(y, m, d, …) in the host's zone: compared the same way.
 * - UDP: only used when TCP connect fails with ECONNREFUSED (tcpMode 'refuse'); needs directReplyMaxBytes 0
 *   (its direct path decodes 8-byte pieces), 16/28-byte layouts (zk6), u16 user ids in records, 1-byte user
 *   number in 18-byte event datagrams (we send the uid there, §9.3).
 * It logs with console.log ('ok tcp'/'ok udp', silenced here) and may append DDMMYYYY.err.log files to the
 * working directory; the after hook removes any it created.
 */
import { strict as assert } from 'assert';
import * as fs from 'fs';
import { ZkSimulator, LONG_ID_INDEX } from '../../lib/sim';
import type { WallClock } from '../../lib/protocol';
import { sleep, until } from '../../support/wait';

interface ZkLibResult<T> {
  data: T[];
  err: unknown;
}
interface ZkLibUser {
  uid: number;
  role: number;
  name: string;
  userId: string | number;
}
interface ZkLibRecord {
  userSn?: number;
  deviceUserId: string | number;
  recordTime: Date;
}
interface ZkLibLive {
  userId: string | number;
  attTime: Date;
}
interface ZkLibInstance {
  createSocket(cbErr?: (e: unknown) => void, cbClose?: (t: string) => void): Promise<void>;
  getInfo(): Promise<{ userCounts: number; logCounts: number; logCapacity: number }>;
  getUsers(): Promise<ZkLibResult<ZkLibUser>>;
  getAttendances(cb?: (got: number, total: number) => void): Promise<ZkLibResult<ZkLibRecord>>;
  getRealTimeLogs(cb: (e: ZkLibLive) => void): Promise<void>;
  disconnect(): Promise<unknown>;
  connectionType: string | null;
}
type ZkLibCtor = new (ip: string, port: number, timeout: number, inport?: number) => ZkLibInstance;

// eslint-disable-next-line @typescript-eslint/no-require-imports
const ZKLib = require('node-zklib') as ZkLibCtor;

const HOST = '127.0.0.1';

/** node-zklib's own decoding of the u32 time: fields into new Date(…) in the host's zone. */
function localDate(w: WallClock): number {
  return new Date(w.year, w.month - 1, w.day, w.hour, w.minute, w.second).getTime();
}

/**
 * node-zklib decodes names with Buffer#toString('ascii'), which drops the high bit of every byte: ASCII names
 * come through, accented ones (generated for every third user) are mangled. Another pitfall it documents.
 */
function assertNameAsNodeZklibSeesIt(got: string, want: string): void {
  // eslint-disable-next-line no-control-regex
  if (/^[\x00-\x7f]*$/.test(want)) assert.equal(got, want);
  else assert.equal(got, Buffer.from(want, 'utf8').toString('ascii'), 'high bit dropped');
}

function errLogs(): Set<string> {
  return new Set(fs.readdirSync('.').filter((f) => /^\d{8}\.err\.log$/.test(f)));
}

describe('compat: node-zklib 1.3.0 reads the simulator', function () {
  this.timeout(20000);
  let logsBefore: Set<string>;
  const realLog = console.log;
  const clients: ZkLibInstance[] = [];

  before(() => {
    logsBefore = errLogs();
    console.log = (): void => undefined; // node-zklib prints 'ok tcp' / 'ok udp'
  });
  after(async () => {
    console.log = realLog;
    for (const c of clients) await c.disconnect().catch(() => undefined);
    await sleep(50); // its appendFile calls are asynchronous
    for (const f of errLogs()) if (!logsBefore.has(f)) fs.rmSync(f, { force: true });
  });

  it('TCP (tft): info, users, every attendance record, live events', async () => {
    const sim = new ZkSimulator({
      host: HOST,
      port: 0,
      profile: 'tft',
      seed: 21,
      users: 12,
      records: 30000,
      faults: { writeMode: 'separate' },
    });
    const { port } = await sim.start();
    try {
      const zk = new ZKLib(HOST, port, 5000, 0);
      clients.push(zk);
      await zk.createSocket();
      assert.equal(zk.connectionType, 'tcp');

      const info = await zk.getInfo();
      assert.deepEqual(info, { userCounts: 12, logCounts: 30000, logCapacity: 100000 });

      const users = await zk.getUsers();
      assert.ok(!users.err, 'no error (its direct-reply path leaves err undefined)');
      assert.equal(users.data.length, 12);
      users.data.forEach((u, i) => {
        const want = sim.users[i];
        assert.equal(u.uid, want.uid);
        assert.equal(u.userId, want.userId.slice(0, 9));
        assertNameAsNodeZklibSeesIt(u.name, want.name ?? '');
      });
      const long = sim.users[LONG_ID_INDEX].userId;
      assert.equal(long.length, 24);
      assert.equal(users.data[LONG_ID_INDEX].userId, long.slice(0, 9), 'node-zklib truncates user ids to 9 characters');
      assert.notEqual(users.data[LONG_ID_INDEX].userId, long);

      const progress: number[] = [];
      const att = await zk.getAttendances((got) => progress.push(got));
      assert.equal(att.err, null);
      assert.equal(att.data.length, 30000);
      att.data.forEach((r, i) => {
        const want = sim.records[i];
        assert.equal(r.userSn, want.uid, `uid of record ${i}`);
        assert.equal(r.deviceUserId, want.userId.slice(0, 9), `userId of record ${i}`);
        assert.equal(r.recordTime.getTime(), localDate(want.time), `time of record ${i}`);
      });
      assert.equal(progress.length, 19, '19 pipelined chunks');
      await zk.disconnect();

      // Live events on a fresh connection (see the header comment about its leaked listener).
      const live = new ZKLib(HOST, port, 5000, 0);
      clients.push(live);
      await live.createSocket();
      const events: ZkLibLive[] = [];
      await live.getRealTimeLogs((e) => events.push(e));
      await until(() => (sim.counters.commandsSeen[500] ?? 0) >= 1);
      await sleep(20); // let the REG_EVENT ACK pass first
      const p1 = sim.punch({ userId: sim.users[1].userId, verify: 1, state: 0 });
      await until(() => events.length === 1);
      await sleep(60); // one event per read (two events in one read would be decoded as one body)
      const p2 = sim.punch({ userId: long, verify: 15, state: 1 });
      await until(() => events.length === 2);
      assert.equal(events[0].userId, p1.userId);
      assert.equal(events[0].attTime.getTime(), localDate(p1.time));
      assert.equal(events[1].userId, long.slice(0, 9));
      assert.equal(events[1].attTime.getTime(), localDate(p2.time));
      await live.disconnect();
    } finally {
      await sim.stop();
    }
  });

  it('UDP (zk6, TCP refused, directReplyMaxBytes 0): info, users, every record, live events', async () => {
    const sim = new ZkSimulator({
      host: HOST,
      port: 0,
      profile: 'zk6',
      seed: 22,
      users: 9,
      records: 2500,
      faults: { tcpMode: 'refuse', directReplyMaxBytes: 0 },
    });
    const { port } = await sim.start();
    try {
      const zk = new ZKLib(HOST, port, 5000, 0);
      clients.push(zk);
      await zk.createSocket();
      assert.equal(zk.connectionType, 'udp', 'fell back to UDP after ECONNREFUSED');

      const info = await zk.getInfo();
      assert.deepEqual(info, { userCounts: 9, logCounts: 2500, logCapacity: 100000 });

      const users = await zk.getUsers();
      assert.ok(!users.err);
      assert.deepEqual(
        users.data.map((u) => [u.uid, String(u.userId)]),
        sim.users.map((u) => [u.uid, u.userId]),
      );
      users.data.forEach((u, i) => assertNameAsNodeZklibSeesIt(u.name, sim.users[i].name ?? ''));

      const att = await zk.getAttendances();
      assert.equal(att.err, null);
      assert.equal(att.data.length, 2500);
      att.data.forEach((r, i) => {
        const want = sim.records[i];
        // node-zklib reads the u32 user id of 16-byte records as a u16; the simulator's ids are < 65536.
        assert.equal(r.deviceUserId, Number(want.userId), `userId of record ${i}`);
        assert.equal(r.recordTime.getTime(), localDate(want.time), `time of record ${i}`);
      });

      const events: ZkLibLive[] = [];
      await zk.getRealTimeLogs((e) => events.push(e));
      await until(() => (sim.counters.commandsSeen[500] ?? 0) >= 1);
      await sleep(20);
      const u = sim.users[4];
      const p = sim.punch({ userId: u.userId, verify: 1, state: 0 });
      await until(() => events.length === 1);
      // 18-byte datagram: node-zklib reads one byte of the u16 user field (the uid).
      assert.equal(events[0].userId, u.uid & 0xff);
      assert.equal(events[0].attTime.getTime(), localDate(p.time));
      await zk.disconnect();
    } finally {
      await sim.stop();
    }
  });
});
