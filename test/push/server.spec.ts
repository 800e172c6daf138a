import { strict as assert } from 'assert';
import * as crypto from 'crypto';
import * as http from 'http';
import { PushDevice } from '../../lib/sim/push-device';
import { checkNoLeaks } from '../support/handles';
import { until } from '../../support/wait';
import { devices, Running, send, startPush } from './support';
import { removeDir } from '../support/node-red';

describe('push server over loopback HTTP', function () {
  this.timeout(30000);
  let run: Running | null = null;
  afterEach(async () => {
    if (run) {
      await run.close();
      removeDir(run.dir);
      run = null;
    }
  });
  checkNoLeaks();

  it('handshake: GET OPTION FROM block with stamps, delays, TransFlag, TimeZone in hours or minutes, Realtime=1, text/plain and Date', async () => {
    run = await startPush({ devices: devices(['IN1', 'Asia/Kolkata'], ['DE1', 'Europe/Berlin']), defaultTz: 'UTC' });
    const r = await send(run.url, 'GET', '/iclock/cdata?SN=IN1&options=all&pushver=2.4.1&language=69');
    assert.equal(r.status, 200);
    assert.match(String(r.headers['content-type']), /^text\/plain/);
    assert.ok(r.headers.date, 'Date header (devices set their clock from it)');
    assert.ok(Math.abs(Date.parse(String(r.headers.date)) - Date.now()) < 5000);
    const lines = r.body.trimEnd().split('\n');
    assert.equal(lines[0], 'GET OPTION FROM: IN1');
    const kv = Object.fromEntries(lines.slice(1).map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));
    assert.deepEqual(Object.keys(kv), [
      'ATTLOGStamp',
      'OPERLOGStamp',
      'ATTPHOTOStamp',
      'ErrorDelay',
      'Delay',
      'TransTimes',
      'TransInterval',
      'TransFlag',
      'TimeZone',
      'Realtime',
      'Encrypt',
      'ServerVer',
    ]);
    assert.equal(kv.ATTLOGStamp, 'None');
    assert.equal(kv.OPERLOGStamp, '9999');
    assert.equal(kv.TimeZone, '330');
    assert.equal(kv.Realtime, '1');
    assert.equal(kv.Delay, '10');
    assert.equal(kv.ErrorDelay, '30');
    assert.equal(kv.TransFlag, 'TransData AttLog OpLog EnrollUser ChgUser');
    assert.doesNotMatch(r.body, /\r/);
    const de = await send(run.url, 'GET', '/iclock/cdata.aspx?SN=DE1&options=all');
    assert.match(de.body, /^TimeZone=[12]$/m, 'whole hours as hours (.aspx path of old firmware)');
    // After an ATTLOG post with a Stamp, the start-up reply carries it.
    await send(
      run.url,
      'POST',
      '/iclock/cdata?SN=IN1&table=ATTLOG&Stamp=777',
      '1\t2026-04-01 08:00:00\t0\t1\t0\t0\t0\n',
    );
    assert.match((await send(run.url, 'GET', '/iclock/cdata?SN=IN1&options=all')).body, /^ATTLOGStamp=777$/m);
    assert.ok(run.seen.statuses.some((s) => s.deviceSn === 'IN1' && s.state === 'online'));
  });

  it('history "new" and no Date header when clock sync is off', async () => {
    run = await startPush({ devices: devices('A1'), history: 'new', sendDate: false });
    const r = await send(run.url, 'GET', '/iclock/cdata?SN=A1&options=all');
    assert.match(r.body, /^ATTLOGStamp=9999$/m);
    assert.equal(r.headers.date, undefined);
  });

  it('ATTLOG: odd lines (CRLF, extra columns, missing work code, key=value, bad lines) → records journaled before OK, bad lines reported, rest accepted', async () => {
    run = await startPush({ devices: devices(['A1', 'Asia/Kolkata']) });
    const body = [
      '1001\t2026-04-01 08:00:00\t0\t1\t0\t0\t0',
      '1002\t2026-04-01 08:01:00\t1\t15\t0\t0\t0\t255\t36.5',
      '1003\t2026-04-01 08:02:00\t0\t1',
      'PIN=1004\tDateTime=2026-04-01 08:03:00\tVerified=2\tStatus=0',
      '\t2026-04-01 08:04:00\t0\t1',
      '1005\tnot a time\t0\t1',
      '',
      '1001\t2026-04-01 08:00:00\t0\t1\t0\t0\t0',
    ].join('\r\n');
    const r = await send(run.url, 'POST', '/iclock/cdata?SN=A1&table=ATTLOG&Stamp=42', body, {
      'Content-Type': 'application/x-www-form-urlencoded',
    });
    assert.equal(r.status, 200);
    assert.equal(r.body, 'OK');
    // Durable at OK: the journal holds the post (pending or already handed to the pump).
    await until(() => run!.seen.entries.length === 1);
    const recs = run.seen.entries[0].records;
    assert.deepEqual(
      recs.map((x) => x.userId),
      ['1001', '1002', '1003', '1004'],
    );
    assert.ok(
      recs.every((x) => x.source === 'push' && x.deviceHost === null && x.tz === 'Asia/Kolkata' && x.deviceSn === 'A1'),
    );
    assert.equal(run.seen.entries[0].stamp, '42');
    assert.deepEqual(
      run.seen.bad.map((b) => [b.line, b.reason.split(' ')[0]]),
      [
        [5, 'empty'],
        [6, 'no'],
      ],
    );
    assert.equal(run.seen.bad[1].raw, '1005\tnot a time\t0\t1');
    const st = run.seen.statuses.at(-1)!;
    assert.equal(st.newRecords, 4);
    assert.equal(st.push.badLines, 2);
    assert.equal(st.push.stamp, '42');
  });

  it('ATTLOG: a line with a control character, a NUL or bytes that are not UTF-8 → that line to output 2, the rest stored, OK', async () => {
    run = await startPush({ devices: devices('A1') });
    // The trial's repro: a good line and one with \x01 in the PIN.
    const r1 = await send(
      run.url,
      'POST',
      '/iclock/cdata?SN=A1&table=ATTLOG&Stamp=7',
      'A1\t2025-08-03 09:00:00\t0\t1\t0\t0\t0\nBAD\u0001PIN\t2025-08-03 09:00:30\t0\t1\t0\t0\t0\n',
    );
    assert.deepEqual([r1.status, r1.body], [200, 'OK']);
    const body = Buffer.concat([
      Buffer.from('A2\t2025-08-03 09:01:00\t0\t1\r\n'),
      Buffer.from('B\u0000\t2025-08-03 09:01:10\t0\t1\r\n'),
      Buffer.from([0x4a, 0x6f, 0x73, 0xe9, 0x09]),
      Buffer.from('2025-08-03 09:01:20\t0\t1\r\n'), // "José" in windows-1252
      Buffer.from('A3\t2025-08-03 09:01:30\t0\t1\r\n'),
    ]);
    const r2 = await send(run.url, 'POST', '/iclock/cdata?SN=A1&table=ATTLOG&Stamp=8', body);
    assert.deepEqual([r2.status, r2.body], [200, 'OK']);
    await until(() => run!.seen.entries.length === 2);
    assert.deepEqual(
      run.seen.entries.map((e) => e.records.map((x) => x.userId)),
      [['A1'], ['A2', 'A3']],
    );
    assert.deepEqual(
      run.seen.bad.map((b) => [b.line, b.reason.split(':')[0]]),
      [
        [2, 'control character U+0001 in the line (a corrupt record on the device?)'],
        [2, 'control character U+0000 in the line (a corrupt record on the device?)'],
        [3, 'not utf-8 text'],
      ],
    );
    assert.match(run.seen.bad[2].reason, /code page in the device list/);
    assert.equal(run.seen.bad[2].raw, 'Jos\ufffd\t2025-08-03 09:01:20\t0\t1');
    assert.equal(run.seen.statuses.at(-1)!.push.badLines, 3);
    assert.equal(run.seen.rejected.length, 0);
  });

  it('ATTLOG and OPERLOG in the code page of the device (windows-1252, gbk) from the device list; the node default for the rest', async () => {
    run = await startPush({
      devices: new Map([
        ['W1', { sn: 'W1', name: null, site: null, tz: null, codePage: 'windows-1252' }],
        ['G1', { sn: 'G1', name: null, site: null, tz: null }],
      ]),
      codePage: 'gbk',
      otherTables: 'pass',
    });
    const w = Buffer.concat([Buffer.from([0x4a, 0x6f, 0x73, 0xe9]), Buffer.from('\t2025-08-03 09:00:00\t0\t1\n')]);
    assert.equal((await send(run.url, 'POST', '/iclock/cdata?SN=W1&table=ATTLOG', w)).body, 'OK');
    // 张伟 in GBK.
    const g = Buffer.concat([Buffer.from([0xd5, 0xc5, 0xce, 0xb0]), Buffer.from('\t2025-08-03 09:00:00\t0\t1\n')]);
    assert.equal((await send(run.url, 'POST', '/iclock/cdata?SN=G1&table=ATTLOG', g)).body, 'OK');
    assert.equal(
      (
        await send(
          run.url,
          'POST',
          '/iclock/cdata?SN=G1&table=OPERLOG',
          Buffer.concat([Buffer.from('USER PIN=7\tName='), Buffer.from([0xd5, 0xc5, 0xce, 0xb0]), Buffer.from('\n')]),
        )
      ).body,
      'OK',
    );
    await until(() => run!.seen.entries.length === 2);
    assert.deepEqual(
      run.seen.entries.map((e) => e.records[0].userId),
      ['José', '张伟'],
    );
    assert.equal(run.seen.tables[0].body, 'USER PIN=7\tName=张伟\n');
    assert.deepEqual(run.seen.bad, []);
  });

  it('OPERLOG and other tables accepted with OK; passed on raw when configured (UTF-8 names intact)', async () => {
    run = await startPush({ devices: devices('A1'), otherTables: 'pass' });
    const oplog =
      'USER PIN=7\tName=张伟 José\tPri=0\tPasswd=\tCard=\tGrp=1\nOPLOG 4\t0\t2026-04-01 08:00:00\t0\t0\t0\t0\n';
    const r = await send(run.url, 'POST', '/iclock/cdata?SN=A1&table=OPERLOG&Stamp=5', oplog);
    assert.equal(r.status, 200);
    assert.equal(r.body, 'OK');
    const photo = Buffer.concat([
      Buffer.from('PIN=7\nSN=A1\nsize=4\nCMD=uploadphoto\n'),
      Buffer.from([0xff, 0xd8, 0, 1]),
    ]);
    assert.equal(
      (
        await send(run.url, 'POST', '/iclock/cdata?SN=A1&table=ATTPHOTO', photo, {
          'Content-Type': 'application/octet-stream',
        })
      ).status,
      200,
    );
    assert.equal(run.seen.tables.length, 2);
    assert.equal(run.seen.tables[0].table, 'OPERLOG');
    assert.equal(run.seen.tables[0].body, oplog);
    assert.ok(Buffer.isBuffer(run.seen.tables[1].body));
    assert.equal(run.seen.entries.length, 0, 'no attendance records from OPERLOG');
    assert.match((await send(run.url, 'GET', '/iclock/cdata?SN=A1&options=all')).body, /^OPERLOGStamp=5$/m);
  });

  it('ping, registry and push (Push 3.x) answer; unknown endpoints 404; GET heartbeat answers OK', async () => {
    run = await startPush({ devices: devices('A1') });
    assert.equal((await send(run.url, 'GET', '/iclock/ping?SN=A1')).body, 'OK');
    const reg = await send(
      run.url,
      'POST',
      '/iclock/registry?SN=A1',
      'DeviceType=acc,~DeviceName=SpeedFace,FirmVer=ZAM180-NF,PushVersion=3.1.2',
    );
    assert.match(reg.body, /^RegistryCode=[0-9a-f]{32}$/);
    const cfg = await send(run.url, 'GET', '/iclock/push?SN=A1');
    assert.match(cfg.body, /^RequestDelay=10$/m);
    assert.match(cfg.body, /^Realtime=1$/m);
    assert.equal((await send(run.url, 'GET', '/iclock/getrequest?SN=A1&INFO=Ver%208.0,3,0,99,10.0.0.2')).body, 'OK');
    assert.equal((await send(run.url, 'GET', '/iclock/nothing?SN=A1')).status, 404);
    assert.equal((await send(run.url, 'GET', '/other/cdata?SN=A1')).status, 404);
    assert.equal((await send(run.url, 'GET', '/iclock/cdata')).status, 400, 'no serial');
    assert.equal((await send(run.url, 'GET', '/iclock/cdata?SN=../../etc')).status, 400);
    const s = run.server.devices.status('A1');
    assert.equal(s.firmware, 'Ver 8.0');
    assert.equal(s.records, 99);
  });

  it('command queue round trip with a simulated device: C:<id>:<cmd> out, devicecmd result matched; backfill re-pushes a range', async () => {
    run = await startPush({ devices: devices('PD1') });
    const dev = new PushDevice({
      url: run.url,
      serial: 'PD1',
      records: 30,
      users: 5,
      pollMs: 50,
      errorDelayMs: 50,
      batchSize: 10,
    });
    try {
      dev.start();
      await until(() => dev.acked === 30, 10000, 'backlog uploaded');
      const q = await run.server.queueCommand('PD1', 'INFO', false);
      assert.equal(q.state, 'queued');
      await until(() => run!.seen.commands.some((c) => c.id === q.id), 5000, 'INFO answered');
      const res = run.seen.commands.find((c) => c.id === q.id)!;
      assert.deepEqual([res.state, res.command, res.returnCode, res.result?.cmd], ['answered', 'INFO', 0, 'INFO']);
      const first = dev.records[0].time;
      const last = dev.records[9].time;
      const fmt = (w: typeof first) =>
        `${w.year}-${String(w.month).padStart(2, '0')}-${String(w.day).padStart(2, '0')} ${String(w.hour).padStart(2, '0')}:${String(w.minute).padStart(2, '0')}:${String(w.second).padStart(2, '0')}`;
      const before = run.seen.entries.reduce((n, e) => n + e.records.length, 0);
      const q2 = await run.server.queueCommand(
        'PD1',
        `DATA QUERY ATTLOG StartTime=${fmt(first)}\tEndTime=${fmt(last)}`,
        false,
      );
      await until(() => run!.seen.commands.some((c) => c.id === q2.id), 5000, 'DATA QUERY answered');
      await until(
        () => run!.seen.entries.reduce((n, e) => n + e.records.length, 0) === before + 10,
        5000,
        'backfill re-pushed',
      );
      assert.ok(q2.id > q.id, 'ids increase');
      await assert.rejects(run.server.queueCommand('PD1', 'CLEAR LOG', false), /destructive/);
      await assert.rejects(run.server.queueCommand('NOPE', 'INFO', false), /not on the device list/);
      const unknown = await run.server.queueCommand('PD1', 'FROBNICATE', false);
      await until(() => run!.seen.commands.some((c) => c.id === unknown.id), 5000);
      assert.equal(run.seen.commands.find((c) => c.id === unknown.id)?.returnCode, -22);
    } finally {
      await dev.stop();
    }
  });

  it('INFO answers: detail lines after ID=…&CMD=INFO, or an options post to cdata, go into the result and the device status', async () => {
    run = await startPush({ devices: devices('A1') });
    const poll = async (): Promise<string> => (await send(run!.url, 'GET', '/iclock/getrequest?SN=A1')).body;
    // Firmware that lists its details on devicecmd, after the result line.
    const q1 = await run.server.queueCommand('A1', 'INFO', false);
    assert.equal(await poll(), `C:${q1.id}:INFO\n`);
    const answer = `ID=${q1.id}&Return=0&CMD=INFO\n~DeviceName=SpeedFace-V5L\nFWVersion=Ver 8.0.4.7-20230306\nIPAddress=10.0.0.7\nUserCount=12\nTransactionCount=345\nMAC=00:17:61:12:34:56\n`;
    assert.equal((await send(run.url, 'POST', '/iclock/devicecmd?SN=A1', answer)).body, 'OK');
    const r1 = run.seen.commands.find((c) => c.id === q1.id)!;
    assert.deepEqual([r1.state, r1.returnCode], ['answered', 0]);
    assert.deepEqual(r1.result?.fields, {
      ID: String(q1.id),
      Return: '0',
      CMD: 'INFO',
      DeviceName: 'SpeedFace-V5L',
      FWVersion: 'Ver 8.0.4.7-20230306',
      IPAddress: '10.0.0.7',
      UserCount: '12',
      TransactionCount: '345',
      MAC: '00:17:61:12:34:56',
    });
    const st = run.seen.statuses.at(-1)!;
    assert.deepEqual(
      [st.firmware, st.users, st.records, st.deviceName],
      ['Ver 8.0.4.7-20230306', 12, 345, 'SpeedFace-V5L'],
    );
    // Firmware that posts them as an options table (other tables ignored, the default) and answers with the bare line.
    const q2 = await run.server.queueCommand('A1', 'INFO', false);
    assert.equal(await poll(), `C:${q2.id}:INFO\n`);
    assert.equal(
      (
        await send(
          run.url,
          'POST',
          '/iclock/cdata?SN=A1&table=options&Stamp=1',
          '~DeviceName=Gate 2,FWVersion=Ver 6.60,UserCount=13,TransactionCount=350\n',
        )
      ).body,
      'OK',
    );
    assert.deepEqual(
      run.seen.options.map((o) => [o.deviceSn, o.options]),
      [['A1', { DeviceName: 'Gate 2', FWVersion: 'Ver 6.60', UserCount: '13', TransactionCount: '350' }]],
    );
    assert.equal(
      (await send(run.url, 'POST', '/iclock/devicecmd?SN=A1', `ID=${q2.id}&Return=0&CMD=INFO\n`)).body,
      'OK',
    );
    const r2 = run.seen.commands.find((c) => c.id === q2.id)!;
    assert.deepEqual(r2.result?.fields, {
      DeviceName: 'Gate 2',
      FWVersion: 'Ver 6.60',
      UserCount: '13',
      TransactionCount: '350',
      ID: String(q2.id),
      Return: '0',
      CMD: 'INFO',
    });
    assert.deepEqual(
      [
        run.server.devices.status('A1').firmware,
        run.server.devices.status('A1').users,
        run.server.devices.status('A1').records,
      ],
      ['Ver 6.60', 13, 350],
    );
    assert.equal(run.seen.tables.length, 0, 'no raw table under "ignore"');
  });

  it('DST while connected: when the offset of its zone changes, CHECK is queued once and the device re-reads TimeZone', async () => {
    // Europe/Berlin moves from +1 to +2 at 01:00 UTC on 29 March 2026; the server's clock is set, not waited for.
    let now = Date.UTC(2026, 2, 29, 0, 59, 0);
    run = await startPush({ devices: devices(['B1', 'Europe/Berlin'], ['K1', 'Asia/Kolkata']) }, { now: () => now });
    const b1 = new PushDevice({ url: run.url, serial: 'B1', pollMs: 20, errorDelayMs: 20 });
    const k1 = new PushDevice({ url: run.url, serial: 'K1', pollMs: 20, errorDelayMs: 20 });
    try {
      b1.start();
      k1.start();
      await Promise.all([b1.ready, k1.ready]);
      assert.deepEqual([b1.options?.timeZone, k1.options?.timeZone], ['1', '330']);
      run.server.sweep(now);
      assert.equal(run.seen.commands.length, 0, 'no change, no command');
      now = Date.UTC(2026, 2, 29, 1, 0, 5);
      run.server.sweep(now);
      run.server.sweep(now);
      await until(() => b1.options?.timeZone === '2', 5000, 'B1 re-read its options');
      await until(() => run!.seen.commands.some((c) => c.state === 'answered'), 5000, 'CHECK answered');
      run.server.sweep(now);
      const checks = run.seen.commands.map((c) => [c.deviceSn, c.command, c.state]);
      assert.deepEqual(
        checks,
        [
          ['B1', 'CHECK', 'queued'],
          ['B1', 'CHECK', 'answered'],
        ],
        'one CHECK, only for the device whose offset changed',
      );
      assert.match(run.seen.commands[0].reason ?? '', /UTC offset of Europe\/Berlin changed \(TimeZone 1 → 2\)/);
      assert.equal(b1.stats.handshakes, 2);
      assert.equal(k1.stats.handshakes, 1);
    } finally {
      await b1.stop();
      await k1.stop();
    }
  });

  it('unknown serial → 403 UNKNOWN DEVICE; bad or missing token → 401; the right token on start-up admits the device', async () => {
    run = await startPush({ devices: devices('A1'), token: 's3cret' });
    const unk = await send(run.url, 'GET', '/iclock/cdata?SN=ZZ9&options=all&pushcommkey=s3cret');
    assert.equal(unk.status, 403);
    assert.match(unk.body, /^UNKNOWN DEVICE/);
    const post = await send(run.url, 'POST', '/iclock/cdata?SN=ZZ9&table=ATTLOG', '1\t2026-04-01 08:00:00\t0\t1\n');
    assert.equal(post.status, 403);
    assert.equal((await send(run.url, 'GET', '/iclock/cdata?SN=A1&options=all')).status, 401, 'no token');
    assert.equal((await send(run.url, 'GET', '/iclock/cdata?SN=A1&options=all&pushcommkey=wrong')).status, 401);
    assert.equal(
      (await send(run.url, 'POST', '/iclock/cdata?SN=A1&table=ATTLOG', '1\t2026-04-01 08:00:00\t0\t1\n')).status,
      401,
    );
    assert.equal((await send(run.url, 'GET', '/iclock/cdata?SN=A1&options=all&pushcommkey=s3cret')).status, 200);
    assert.equal(
      (await send(run.url, 'POST', '/iclock/cdata?SN=A1&table=ATTLOG', '1\t2026-04-01 08:00:00\t0\t1\n')).status,
      200,
      'later requests ride on the start-up proof',
    );
    assert.equal(
      (await send(run.url, 'POST', '/iclock/cdata?SN=A1&table=ATTLOG&token=wrong', '1\t2026-04-01 08:00:01\t0\t1\n'))
        .status,
      401,
      'a wrong token is always refused',
    );
    await until(() => run!.seen.entries.length === 1);
    assert.equal(run.seen.entries.length, 1);
    assert.ok(run.seen.rejected.some((r) => r.status === 403 && r.deviceSn === 'ZZ9'));
    assert.ok(run.seen.rejected.some((r) => r.status === 401 && r.deviceSn === 'A1'));
    // A refused simulated device keeps its data and does not get ready.
    let refusals = 0;
    const dev = new PushDevice({
      url: run.url,
      serial: 'ZZ9',
      records: 5,
      errorDelayMs: 30,
      onTrouble: (t) => void (t.kind === 'refused' && refusals++),
    });
    dev.start();
    await until(() => refusals >= 3, 5000, 'three refusals of ZZ9');
    assert.equal(dev.acked, 0);
    assert.ok(dev.stats.handshakes === 0);
    await dev.stop();
  });

  it('unknown serials accepted and reported when configured, with the default zone', async () => {
    run = await startPush({ unknownDevices: 'accept', defaultTz: 'Europe/Berlin', defaultSite: 'HQ' });
    const r = await send(run.url, 'POST', '/iclock/cdata?SN=NEW1&table=ATTLOG', '5\t2026-01-10 09:00:00\t0\t1\n');
    assert.equal(r.status, 200);
    await until(() => run!.seen.entries.length === 1);
    const rec = run.seen.entries[0].records[0];
    assert.deepEqual([rec.tz, rec.site, rec.timestamp], ['Europe/Berlin', 'HQ', '2026-01-10T08:00:00.000Z']);
    assert.equal(run.server.devices.status('NEW1').push.listed, false);
  });

  it('limits: 10 MB and wrong content types get 4xx, random bytes are bad lines; the server keeps serving other devices meanwhile', async () => {
    run = await startPush({ devices: devices('A1', 'B1'), maxBodyBytes: 1024 * 1024 });
    const big = Buffer.alloc(10 * 1024 * 1024, 0x31);
    const binary = crypto.randomBytes(64 * 1024);
    const good = (i: number) =>
      send(
        run!.url,
        'POST',
        '/iclock/cdata?SN=B1&table=ATTLOG',
        `7\t2026-04-01 09:00:${String(i).padStart(2, '0')}\t0\t1\n`,
      );
    const [tooBig, chunkedBig, bin, json, multipart, ...goods] = await Promise.all([
      send(run.url, 'POST', '/iclock/cdata?SN=A1&table=ATTLOG', big),
      // Without Content-Length the cap applies while reading.
      new Promise<number>((resolve, reject) => {
        const req = http.request(
          `${run!.url}/iclock/cdata?SN=A1&table=ATTLOG`,
          { method: 'POST', headers: { 'Content-Type': 'text/plain', 'Transfer-Encoding': 'chunked' }, agent: false },
          (res) => {
            res.resume();
            resolve(res.statusCode ?? 0);
          },
        );
        req.on('error', reject);
        let sent = 0;
        const pump = (): void => {
          while (sent < 10 * 1024 * 1024) {
            sent += 64 * 1024;
            if (!req.write(Buffer.alloc(64 * 1024, 0x32))) return void req.once('drain', pump);
          }
          req.end();
        };
        pump();
      }),
      send(run.url, 'POST', '/iclock/cdata?SN=A1&table=ATTLOG', binary),
      send(run.url, 'POST', '/iclock/cdata?SN=A1&table=ATTLOG', '{"pin":1}', { 'Content-Type': 'application/json' }),
      send(run.url, 'POST', '/iclock/devicecmd?SN=A1', 'ID=1&Return=0', {
        'Content-Type': 'multipart/form-data; boundary=x',
      }),
      ...Array.from({ length: 20 }, (_, i) => good(i)),
    ]);
    assert.equal(tooBig.status, 413);
    assert.equal(chunkedBig, 413);
    // Random bytes are bad lines like any other: reported, never a refusal the device would repeat forever.
    assert.equal(bin.status, 200);
    assert.equal(json.status, 415);
    assert.equal(multipart.status, 415);
    assert.ok(goods.every((g) => g.status === 200 && g.body === 'OK'));
    await until(() => run!.seen.entries.length === 20);
    assert.ok(run.seen.entries.every((e) => e.deviceSn === 'B1'));
    assert.ok(run.seen.rejected.some((r) => r.status === 413));
    // Random garbage on every endpoint: never a 5xx, never a crash.
    for (let i = 0; i < 200; i++) {
      const ep = [
        'cdata?SN=A1&table=ATTLOG',
        'cdata?SN=A1&table=OPERLOG',
        'devicecmd?SN=A1',
        'getrequest?SN=A1',
        'registry?SN=A1',
      ][i % 5];
      const r = await send(run.url, 'POST', `/iclock/${ep}`, crypto.randomBytes((i * 37) % 5000));
      assert.ok(r.status < 500, `${ep}: ${r.status}`);
    }
    assert.equal(run.seen.errors.length, 0);
    assert.equal((await good(59)).status, 200);
  });
});
