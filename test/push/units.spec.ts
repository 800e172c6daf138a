import { strict as assert } from 'assert';
import { timeZoneValue, handshakeReply, DEFAULT_HANDSHAKE } from '../../lib/push/options';
import { MAX_BAD_LINES_LISTED, parseAttlogBytes, parseAttlogLine } from '../../lib/push/attlog';
import { checkCommand, isDestructive, parseCommandResults } from '../../lib/push/command-text';
import { parseAllowList } from '../../lib/push/allow-list';
import { parseInfoParam, parseRegistryBody } from '../../lib/push/devices';
import { normaliseBasePath } from '../../lib/push/settings';
import { Prng } from '../../lib/sim/prng';

const ctx = { deviceSn: 'SN1', tz: 'Asia/Kolkata', source: 'push' as const, receivedAt: '2026-04-01T00:00:00.000Z' };

describe('push: pure parts', () => {
  it('TimeZone: whole hours as hours, otherwise minutes, from the zone at that instant (DST)', () => {
    const jan = Date.UTC(2026, 0, 15);
    const jul = Date.UTC(2026, 6, 15);
    assert.equal(timeZoneValue('Asia/Kolkata', jan), 330);
    assert.equal(timeZoneValue('Asia/Kathmandu', jan), 345);
    assert.equal(timeZoneValue('Europe/Berlin', jan), 1);
    assert.equal(timeZoneValue('Europe/Berlin', jul), 2);
    assert.equal(timeZoneValue('America/New_York', jan), -5);
    assert.equal(timeZoneValue('America/St_Johns', jan), -210);
    assert.equal(timeZoneValue('America/St_Johns', jul), -150);
    assert.equal(timeZoneValue('UTC', jan), 0);
  });

  it('handshake stamps never echo anything but digits or None', () => {
    const r = handshakeReply(
      'SN1',
      'UTC',
      { attlog: '12\nICLOCKSVRURL=evil', operlog: '9999', photo: null },
      DEFAULT_HANDSHAKE,
    );
    assert.match(r, /^ATTLOGStamp=None$/m);
    assert.doesNotMatch(r, /ICLOCKSVRURL/);
  });

  it('ATTLOG lines: positional, extra columns, missing work code, key=value, bad ones with a reason', () => {
    const ok = (l: string) => {
      const r = parseAttlogLine(l, ctx);
      if (!r.ok) throw new Error(`${JSON.stringify(l)}: ${r.reason}`);
      return r.record;
    };
    const a = ok('1001\t2026-04-01 08:00:00\t0\t1\t7\t0\t0');
    assert.deepEqual(
      [
        a.userId,
        a.localTime,
        a.timestamp,
        a.state,
        a.direction,
        a.verify,
        a.verifyMethod,
        a.workCode,
        a.source,
        a.deviceHost,
        a.uid,
      ],
      ['1001', '2026-04-01T08:00:00', '2026-04-01T02:30:00.000Z', 0, 'in', 1, 'fingerprint', 7, 'push', null, null],
    );
    assert.equal(a.id, 'SN1|1001|2026-04-01T08:00:00');
    assert.equal(ok('1001\t2026-04-01 08:00:00\t1\t15\t0\t0\t0\t255\t36.6\tmask=1').state, 1);
    assert.equal(ok('1001\t2026-04-01 08:00:00\t1\t15').workCode, 0);
    assert.equal(ok('1001\t2026-04-01 08:00:00').state, 0);
    const kv = ok('PIN=00042\tDateTime=2026-04-01 17:30:05\tVerified=2\tStatus=1\tWorkCode=3');
    assert.deepEqual(
      [kv.userId, kv.localTime, kv.verify, kv.state, kv.workCode],
      ['00042', '2026-04-01T17:30:05', 2, 1, 3],
    );
    const bad = (l: string, re: RegExp) => {
      const r = parseAttlogLine(l, ctx);
      assert.ok(!r.ok, `${JSON.stringify(l)} should be refused`);
      if (!r.ok) assert.match(r.reason, re);
    };
    bad('\t2026-04-01 08:00:00\t0\t1', /empty PIN/);
    bad('1'.repeat(25) + '\t2026-04-01 08:00:00\t0\t1', /longer than 24/);
    bad('1001\tyesterday\t0\t1', /no valid time/);
    bad('1001\t2026-02-31 08:00:00\t0\t1', /invalid-time/);
    bad('1001\t2000-01-01 08:00:00\t0\t1', /implausible-time/);
    bad('1001\t2026-04-01 08:00:00\tin\t1', /status/);
    bad('1001\t2026-04-01 08:00:00\t0\t-1', /verify/);
    bad('10\u000101\t2026-04-01 08:00:00\t0\t1', /control/);
  });

  it('ATTLOG body: lines split at LF, CRLF or CR as bytes; a post of many bad lines lists the first ones and counts the rest', async () => {
    const body = Buffer.concat([
      Buffer.from('1\t2026-04-01 08:00:00\r2\t2026-04-01 08:00:01\r\n'),
      Buffer.from([0xff, 0x0a]),
      Buffer.from('x\u0001\n'.repeat(MAX_BAD_LINES_LISTED + 99)),
    ]);
    const r = await parseAttlogBytes(body, ctx);
    assert.deepEqual(
      r.records.map((x) => x.userId),
      ['1', '2'],
    );
    assert.equal(r.bad.length, MAX_BAD_LINES_LISTED + 1);
    assert.deepEqual([r.bad[0].line, r.bad[0].raw, r.bad[1].line], [3, '\ufffd', 4]);
    assert.deepEqual(
      [r.bad.at(-1)!.line, r.bad.at(-1)!.reason],
      [MAX_BAD_LINES_LISTED + 3, `100 more bad lines from line ${MAX_BAD_LINES_LISTED + 3} on, not listed one by one`],
    );
  });

  it('ATTLOG line parser never throws on random input', () => {
    const rng = new Prng(42);
    const alphabet = '0123456789-: \t=PINDateTime\u0000\u00e9\u4e2d\r';
    for (let i = 0; i < 5000; i++) {
      let s = '';
      const n = rng.int(0, 60);
      for (let k = 0; k < n; k++) s += alphabet[rng.int(0, alphabet.length - 1)];
      const r = parseAttlogLine(s, ctx);
      assert.ok(r.ok === true || typeof r.reason === 'string');
    }
  });

  it('command text: destructive ones need the opt-in; line breaks are refused, tabs allowed', () => {
    assert.ok(checkCommand('CHECK', false).ok);
    assert.ok(checkCommand('DATA QUERY ATTLOG StartTime=2026-04-01 00:00:00\tEndTime=2026-04-02 00:00:00', false).ok);
    for (const c of [
      'CLEAR LOG',
      'clear data',
      'REBOOT',
      'DATA DELETE USERINFO PIN=1',
      'SET OPTION ICLOCKSVRURL=x',
      'Shell ls',
      'DATA UPDATE USERINFO PIN=1\tName=x',
    ]) {
      assert.ok(isDestructive(c), c);
      const r = checkCommand(c, false);
      assert.ok(!r.ok && /destructive/.test(r.reason), c);
      assert.ok(checkCommand(c, true).ok, c);
    }
    const r = checkCommand('INFO\nCLEAR LOG', true);
    assert.ok(!r.ok && /line break/.test(r.reason));
    assert.ok(!checkCommand('', true).ok);
    assert.ok(!checkCommand(42, true).ok);
  });

  it('devicecmd results: batched one-line form and the multi-line form', () => {
    const a = parseCommandResults('ID=1&Return=0&CMD=INFO\r\nID=2&Return=-1002&CMD=DATA\nID=x&Return=0&CMD=X\n');
    assert.deepEqual(
      a.map((r) => [r.id, r.returnCode, r.cmd]),
      [
        [1, 0, 'INFO'],
        [2, -1002, 'DATA'],
      ],
    );
    const b = parseCommandResults('ID=7\nReturn=0\nCMD=Shell\nContent=line one\n');
    assert.deepEqual(
      b.map((r) => [r.id, r.returnCode, r.cmd, r.fields.Content]),
      [[7, 0, 'Shell', 'line one']],
    );
    assert.deepEqual(parseCommandResults('garbage\n\u0000'), []);
    const c = parseCommandResults(
      'ID=3&Return=0&CMD=INFO\n~DeviceName=A&B\n__proto__=x\nconstructor=y\nUserCount=4\nID=4&Return=0&CMD=LOG\n',
    );
    assert.deepEqual(
      c.map((r) => [r.id, r.fields]),
      [
        [3, { ID: '3', Return: '0', CMD: 'INFO', DeviceName: 'A&B', UserCount: '4' }],
        [4, { ID: '4', Return: '0', CMD: 'LOG' }],
      ],
    );
    assert.equal(Object.getPrototypeOf(c[0].fields), Object.prototype);
  });

  it('allow-list, INFO and registry parameters, base path', () => {
    const m = parseAllowList('serial,name,site,tz\nA1,Front,Mumbai,Asia/Kolkata\n# comment\nB2\n');
    assert.deepEqual([...m.keys()], ['A1', 'B2']);
    assert.equal(m.get('A1')?.tz, 'Asia/Kolkata');
    assert.throws(() => parseAllowList('A1\nA1'), /line 2.*twice/);
    assert.throws(() => parseAllowList('A 1'), /line 1/);
    assert.throws(() => parseAllowList('A1,x,y,Mars/Base'), /IANA/);
    assert.deepEqual(parseInfoParam('Ver 8.0.4,12,5,3456,10.0.0.5'), {
      firmware: 'Ver 8.0.4',
      users: 12,
      records: 3456,
    });
    assert.deepEqual(parseRegistryBody('DeviceType=att,~DeviceName=SpeedFace,FirmVer=ZAM180,PushVersion=3.1.2'), {
      firmware: 'ZAM180',
      pushVersion: '3.1.2',
      name: 'SpeedFace',
    });
    assert.equal(normaliseBasePath('/iclock/'), '/iclock');
    assert.equal(normaliseBasePath('iclock'), '/iclock');
    assert.equal(normaliseBasePath('/'), '');
    assert.throws(() => normaliseBasePath('/ic lock'));
  });
});
