import assert from 'node:assert/strict';
import { UsageError, parseCli, parseHostPort, parseTimeBound, helpText } from '../../lib/cli/args';
import { csvField, csvHeader, csvRecordRow } from '../../lib/record/csv';
import { infoSummary, InfoLike, ndjsonLine, printableUser, textTable, usersTable } from '../../lib/cli/format';
import { describeError, exitCodeFor } from '../../lib/cli/errors';
import { ATTENDANCE_RECORD_FIELDS, AttendanceRecord } from '../../lib/record/canonical';
import { ZkAuthError, ZkConnectionError, ZkTimeoutError } from '../../lib/errors';
import { DeviceUser } from '../../lib/protocol/users';

const usage = (argv: string[], re: RegExp) =>
  assert.throws(
    () => parseCli(argv),
    (e: unknown) => e instanceof UsageError && re.test(e.message),
  );

describe('cli/args', () => {
  it('parses zk sim with defaults and every option', () => {
    const d = parseCli(['sim']);
    assert.equal(d.command, 'sim');
    if (d.command !== 'sim') return;
    assert.equal(d.port, 4370);
    assert.equal(d.host, '127.0.0.1');
    assert.equal(d.devices, 1);
    assert.equal(d.profile, 'tft');
    assert.equal(d.udp, false);
    // A live punch every 5 s by default, so `zk live` against a plain `zk sim` shows punches; 0 turns it off.
    assert.equal(d.liveEveryMs, 5000);
    assert.equal(d.userIds, 'plain');
    assert.equal(d.seed, undefined);
    const none = parseCli(['sim', '--live-every', '0']);
    assert.ok(none.command === 'sim' && none.liveEveryMs === 0);
    const o = parseCli([
      'sim',
      '--port',
      '0',
      '--records',
      '50000',
      '--users',
      '30',
      '--comm-key',
      '1234',
      '--udp',
      '--profile',
      'zk6',
      '--live-every',
      '2.5',
      '--seed',
      '7',
      '--devices',
      '3',
      '--tz',
      'Asia/Kolkata',
      '--user-ids',
      'edge',
    ]);
    assert.deepEqual(o, {
      command: 'sim',
      host: '127.0.0.1',
      port: 0,
      records: 50000,
      users: 30,
      commKey: 1234,
      udp: true,
      profile: 'zk6',
      liveEveryMs: 2500,
      seed: 7,
      userIds: 'edge',
      devices: 3,
      tz: 'Asia/Kolkata',
    });
    usage(['sim', '--user-ids', 'odd'], /--user-ids must be plain or edge/);
  });

  it('parses device commands with HOST[:PORT] and device options', () => {
    const f = parseCli([
      'fetch',
      '10.0.0.5:4371',
      '--comm-key',
      '99',
      '--udp',
      '--timeout',
      '800',
      '--tz',
      'UTC',
      '--format',
      'csv',
      '--out',
      'x.csv',
      '--since',
      '2024-03-01',
      '--until',
      '2024-03-31',
    ]);
    assert.deepEqual(f, {
      command: 'fetch',
      host: '10.0.0.5',
      port: 4371,
      commKey: 99,
      udp: true,
      timeoutMs: 800,
      json: false,
      since: '2024-03-01T00:00:00',
      until: '2024-03-31T23:59:59',
      tz: 'UTC',
      format: 'csv',
      out: 'x.csv',
    });
    const i = parseCli(['info', 'clock.local', '--json', '--tz', 'UTC']);
    assert.deepEqual(i, {
      command: 'info',
      host: 'clock.local',
      port: 4370,
      commKey: 0,
      udp: false,
      timeoutMs: 5000,
      json: true,
      tz: 'UTC',
    });
    const l = parseCli(['live', '127.0.0.1:5000', '--count', '2', '--tz', 'Europe/Berlin']);
    assert.ok(l.command === 'live' && l.count === 2 && l.port === 5000 && l.tz === 'Europe/Berlin');
    const u = parseCli(['users', '[::1]:4370']);
    assert.ok(u.command === 'users' && u.host === '::1' && u.port === 4370);
  });

  it('help', () => {
    assert.deepEqual(parseCli(['--help']), { command: 'help', topic: null });
    assert.deepEqual(parseCli(['fetch', '--help']), { command: 'help', topic: 'fetch' });
    assert.match(helpText(), /zk fetch HOST\[:PORT\]/);
  });

  it('rejects bad usage with a UsageError (exit 2)', () => {
    usage([], /no command/);
    usage(['frobnicate'], /unknown command "frobnicate"/);
    usage(['--bogus'], /unknown option --bogus/);
    usage(['fetch', '1.2.3.4', '--bogus'], /unknown option --bogus for zk fetch/);
    usage(['fetch'], /needs a device/);
    usage(['fetch', 'a', 'b'], /unexpected argument "b"/);
    usage(['fetch', 'host:99999'], /port must be a number/);
    usage(['fetch', 'host', '--format', 'xml'], /--format must be ndjson or csv/);
    usage(['fetch', 'host', '--since', '2024-02-30'], /--since must be a valid date/);
    usage(['fetch', 'host', '--since', '2024-03-02', '--until', '2024-03-01'], /after --until/);
    usage(['fetch', 'host', '--tz', 'Mars/Base'], /--tz "Mars\/Base"/);
    usage(['info', 'host', '--comm-key=-1'], /--comm-key must be a whole number/);
    usage(['info', 'host', '--comm-key', '-1'], /--comm-key=VALUE/);
    usage(['info', 'host', '--comm-key'], /--comm-key needs a value/);
    usage(['info', 'host', '--comm-key', 'abc'], /--comm-key/);
    usage(['info', 'host', '--timeout', '0'], /--timeout/);
    usage(['live', 'host', '--count', '0'], /--count/);
    usage(['sim', '--profile', 'x'], /--profile must be one of tft, zk6, compact8, tft49/);
    usage(['sim', '--port', '65535', '--devices', '2'], /past port 65535/);
    usage(['sim', 'extra'], /unexpected argument/);
    assert.equal(exitCodeFor(new UsageError('x')), 2);
    assert.equal(exitCodeFor(new Error('x')), 1);
  });

  it('parseHostPort and parseTimeBound', () => {
    assert.deepEqual(parseHostPort('192.168.1.201'), { host: '192.168.1.201', port: 4370 });
    assert.deepEqual(parseHostPort('192.168.1.201:4371'), { host: '192.168.1.201', port: 4371 });
    assert.deepEqual(parseHostPort('fe80::1'), { host: 'fe80::1', port: 4370 });
    assert.deepEqual(parseHostPort('[fe80::1]:1'), { host: 'fe80::1', port: 1 });
    assert.throws(() => parseHostPort(':4370'), UsageError);
    assert.equal(parseTimeBound('since', '2024-03-15T08:30'), '2024-03-15T08:30:00');
    assert.equal(parseTimeBound('until', '2024-03-15T08:30'), '2024-03-15T08:30:59');
    assert.equal(parseTimeBound('until', '2024-03-15T08:30:10'), '2024-03-15T08:30:10');
    assert.equal(parseTimeBound('until', '2024-03-15'), '2024-03-15T23:59:59');
    assert.equal(parseTimeBound('since', undefined), null);
  });
});

describe('cli/format', () => {
  const rec: AttendanceRecord = {
    id: 'SN1|1001|2024-03-15T13:45:07',
    deviceSn: 'SN1',
    deviceName: 'Door, "main"',
    site: null,
    deviceHost: '127.0.0.1:4370',
    userId: '1001',
    uid: 3,
    localTime: '2024-03-15T13:45:07',
    timestamp: '2024-03-15T12:45:07.000Z',
    tz: 'Europe/Berlin',
    state: 0,
    direction: 'in',
    verify: 1,
    verifyMethod: 'fingerprint',
    workCode: 0,
    source: 'poll',
    receivedAt: '2024-03-15T12:46:00.000Z',
  };

  it('ndjson: one JSON object per line', () => {
    const line = ndjsonLine(rec);
    assert.ok(line.endsWith('\n') && !line.slice(0, -1).includes('\n'));
    assert.deepEqual(JSON.parse(line), rec);
  });

  it('csv: RFC 4180 quoting, nulls empty, CRLF, header in field order', () => {
    assert.equal(csvField('plain'), 'plain');
    assert.equal(csvField('a,b'), '"a,b"');
    assert.equal(csvField('say "hi"'), '"say ""hi"""');
    assert.equal(csvField('two\nlines'), '"two\nlines"');
    assert.equal(csvField(' padded'), '" padded"');
    assert.equal(csvField(null), '');
    assert.equal(csvField(0), '0');
    assert.equal(csvHeader(), ATTENDANCE_RECORD_FIELDS.join(',') + '\r\n');
    assert.equal(
      csvRecordRow(rec),
      'SN1|1001|2024-03-15T13:45:07,SN1,"Door, ""main""",,127.0.0.1:4370,1001,3,2024-03-15T13:45:07,' +
        '2024-03-15T12:45:07.000Z,Europe/Berlin,0,in,1,fingerprint,0,poll,2024-03-15T12:46:00.000Z\r\n',
    );
  });

  it('users: table and JSON without the password', () => {
    const users: DeviceUser[] = [
      { uid: 1, userId: '1', name: 'Ada', privilege: 14, enabled: true, password: '9876', cardNo: 0, group: 1 },
      {
        uid: 2,
        userId: 'A23456789012345678901234',
        name: 'Bob\u0007',
        privilege: 1,
        enabled: false,
        password: '',
        cardNo: 555,
        group: 1,
      },
    ];
    const t = usersTable(users);
    const lines = t.trimEnd().split('\n');
    assert.equal(lines.length, 3);
    assert.match(lines[0], /^UID\s+USER ID\s+NAME\s+ROLE\s+ENABLED\s+CARD\s+GROUP\s+PASSWORD$/);
    assert.match(lines[1], /^1\s+1\s+Ada\s+admin\s+yes\s+1\s+set$/);
    assert.match(lines[2], /A23456789012345678901234\s+Bob\?\s+user\s+no\s+555/);
    assert.ok(!t.includes('9876'), 'no password in the table');
    const p = printableUser(users[0]);
    assert.equal(p.hasPassword, true);
    assert.ok(!('password' in p));
    assert.equal(textTable(['A', 'B'], [['xx', 'y']]), 'A   B\nxx  y\n');
  });

  it('info summary', () => {
    const info: InfoLike = {
      host: '127.0.0.1:4370',
      transport: 'tcp',
      serial: 'SIM0000000001',
      deviceName: 'F22',
      platform: 'ZLM60_TFT',
      firmware: 'Ver 6.60',
      mac: null,
      vendor: 'ZKTeco',
      counts: { users: 20, records: 1000, fingers: 0, faces: null },
      capacity: { users: 3000, records: 100000, fingers: 3000, faces: null },
      deviceTime: '2024-03-15T13:45:07',
      clockDriftSec: -3,
      tz: 'Europe/Berlin',
    };
    const s = infoSummary(info);
    assert.match(s, /^Device: +127\.0\.0\.1:4370 over TCP$/m);
    assert.match(s, /^Serial: +SIM0000000001$/m);
    assert.match(s, /^MAC: +-$/m);
    assert.match(s, /^Records: +1000 of 100000 \(1%\)$/m);
    assert.match(s, /^Clock drift: +3 s behind this computer$/m);
    assert.ok(!/Faces/.test(s));
  });
});

describe('cli/errors', () => {
  it('one line per failure, naming the device and what to check', () => {
    const refused = new ZkConnectionError('cannot talk to 127.0.0.1:1 over TCP: connection refused — …', {
      host: '127.0.0.1:1',
      errno: 'ECONNREFUSED',
    });
    assert.equal(
      describeError(refused, { target: '127.0.0.1:1', transport: 'tcp' }),
      'cannot reach 127.0.0.1:1 over TCP: connection refused — check the host, port and that the device is on',
    );
    assert.equal(
      describeError(new ZkAuthError('x'), { target: 'h:1', commKey: 5 }),
      'device h:1 rejected the comm key — check --comm-key',
    );
    assert.equal(
      describeError(new ZkAuthError('x'), { target: 'h:1', commKey: 0 }),
      'device h:1 requires a comm key — pass it with --comm-key',
    );
    assert.match(
      describeError(new ZkTimeoutError('h:1 did not answer\nCONNECT'), { target: 'h:1' }),
      /^h:1 did not answer CONNECT .*--udp/,
    );
    const enoent = Object.assign(new Error("ENOENT: no such file or directory, open '/x/y'"), { code: 'ENOENT' });
    assert.equal(describeError(enoent), "ENOENT: no such file or directory, open '/x/y'");
  });
});
