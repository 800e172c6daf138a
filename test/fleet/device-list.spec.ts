import { strict as assert } from 'assert';
import {
  DeviceListError,
  MAX_RANGE_HOSTS,
  devicesFromArray,
  devicesFromRange,
  parseCsvDevices,
  parseFleetText,
  parseJsonDevices,
  rangeBounds,
} from '../../lib/fleet';

const defaults = { port: 4370, tz: 'Europe/Berlin', timeoutMs: 3000, transport: 'tcp' as const, commKey: 1234 };

describe('fleet: device lists', () => {
  it('CSV with columns in any order, quoted fields, comments and blank lines; shared defaults fill gaps', () => {
    const csv = [
      'name,host,site,tz,port,commKey',
      '# branches',
      '"Front door, north",10.1.0.5,"Mumbai ""Central""",Asia/Kolkata,4371,99',
      '',
      'Back,10.1.0.6,,,,',
    ].join('\r\n');
    const list = parseCsvDevices(csv, defaults);
    assert.equal(list.length, 2);
    assert.deepEqual(
      [list[0].name, list[0].host, list[0].site, list[0].tz, list[0].port, list[0].commKey],
      ['Front door, north', '10.1.0.5', 'Mumbai "Central"', 'Asia/Kolkata', 4371, 99],
    );
    assert.deepEqual(
      [list[1].site, list[1].tz, list[1].port, list[1].commKey, list[1].timeoutMs],
      [null, 'Europe/Berlin', 4370, 1234, 3000],
    );
  });

  it('semicolon CSV (spreadsheet export) and a newline inside quotes', () => {
    const list = parseCsvDevices('host;name\n10.0.0.1;"two\nlines"\n10.0.0.2;x', defaults);
    assert.deepEqual(
      list.map((d) => d.name),
      ['two\nlines', 'x'],
    );
  });

  it('CSV errors name the line and the field', () => {
    assert.throws(
      () => parseCsvDevices('host,port\n10.0.0.1,4370\n10.0.0.2,99999', defaults),
      (e: DeviceListError) => e.where === 'line 3' && e.field === 'port' && /line 3/.test(e.message),
    );
    assert.throws(() => parseCsvDevices('host,tz\n10.0.0.1,Mars/Base', defaults), /line 2: .*Mars\/Base/);
    assert.throws(() => parseCsvDevices('hots,port\n10.0.0.1,1', defaults), /line 1: unknown column "hots"/);
    assert.throws(() => parseCsvDevices('10.0.0.1,4370', defaults), /header row/);
    assert.throws(
      () => parseCsvDevices('host\n10.0.0.1\n10.0.0.1', defaults),
      /line 3: 10\.0\.0\.1:4370 is already listed \(line 2\)/,
    );
    assert.throws(() => parseCsvDevices('host,name\n10.0.0.1,"open', defaults), /not closed/);
  });

  it('JSON text and msg.devices arrays (objects or "host:port" strings)', () => {
    const j = parseJsonDevices(
      '[{"host":"10.0.0.1","site":"A"},{"host":"10.0.0.2","port":4400,"commKey":"5"}]',
      defaults,
    );
    assert.deepEqual(
      j.map((d) => [d.host, d.port, d.site, d.commKey]),
      [
        ['10.0.0.1', 4370, 'A', 1234],
        ['10.0.0.2', 4400, null, 5],
      ],
    );
    const a = devicesFromArray(['10.0.0.3', '10.0.0.4:4401'], defaults);
    assert.deepEqual(
      a.map((d) => [d.host, d.port]),
      [
        ['10.0.0.3', 4370],
        ['10.0.0.4', 4401],
      ],
    );
    assert.throws(
      () => devicesFromArray([{ host: '10.0.0.1' }, { hots: 'x' }], defaults),
      /msg\.devices\[1\]: unknown field "hots"/,
    );
    assert.throws(() => devicesFromArray({}, defaults), /must be an array/);
    assert.throws(() => parseJsonDevices('[{"host": ]', defaults), /device list JSON/);
    assert.equal(parseFleetText('  ', defaults).length, 0);
    assert.equal(parseFleetText('[{"host":"h1"}]', defaults)[0].host, 'h1');
    assert.equal(parseFleetText('host\nh2', defaults)[0].host, 'h2');
  });

  it('address ranges: CIDR skips network and broadcast, spans inclusive, short form, cap', () => {
    const cidr = devicesFromRange('10.1.0.0/24', defaults);
    assert.equal(cidr.length, 254);
    assert.deepEqual([cidr[0].host, cidr[253].host, cidr[0].port], ['10.1.0.1', '10.1.0.254', 4370]);
    assert.deepEqual(
      devicesFromRange('10.1.0.10-10.1.0.12', defaults).map((d) => d.host),
      ['10.1.0.10', '10.1.0.11', '10.1.0.12'],
    );
    assert.deepEqual(
      devicesFromRange('10.1.0.250-10.1.1.1', { port: 5000 }).map((d) => `${d.host}:${d.port}`),
      [
        '10.1.0.250:5000',
        '10.1.0.251:5000',
        '10.1.0.252:5000',
        '10.1.0.253:5000',
        '10.1.0.254:5000',
        '10.1.0.255:5000',
        '10.1.1.0:5000',
        '10.1.1.1:5000',
      ],
    );
    assert.equal(devicesFromRange('10.1.0.10-200', defaults).length, 191);
    assert.deepEqual(rangeBounds('10.0.0.7/32'), rangeBounds('10.0.0.7-10.0.0.7'));
    assert.equal(devicesFromRange('10.0.0.0/20', defaults).length, 4094);
    assert.throws(
      () => devicesFromRange('10.0.0.0/16', defaults),
      new RegExp(`65534 addresses; at most ${MAX_RANGE_HOSTS}`),
    );
    assert.throws(() => devicesFromRange('10.0.0.9-10.0.0.1', defaults), /before the start/);
    assert.throws(() => devicesFromRange('10.0.0.300/24', defaults), /not an IPv4 address/);
    assert.throws(() => devicesFromRange('everything', defaults), /expected CIDR/);
  });
});
