import { strict as assert } from 'assert';
import {
  userWriteProblem,
  mergeUserWrite,
  encodeUserWrite,
  decodeUserRecord,
  userFieldDiff,
  encodeDeviceText,
  readTextField,
  encodeTemplateEntry,
  decodeTemplateEntries,
  encodeTemplateWrite,
  decodeTemplateWrite,
  encodeDeleteFinger,
  decodeDeleteFinger,
  templateProblem,
  MAX_TEMPLATE_BYTES,
} from '../../lib/protocol';
import type { DeviceUser, UserWrite } from '../../lib/protocol';

describe('protocol: user writes and templates', () => {
  it('userWriteProblem names the field and the limit of each layout', () => {
    const cases: [UserWrite, 72 | 28, RegExp | null][] = [
      [{ userId: 'ABC-24' }, 72, null],
      [{ userId: 'ABC-24' }, 28, /numeric PINs only/],
      [{ userId: '4294967295' }, 28, null],
      [{ userId: '4294967296' }, 28, /numeric PINs only/],
      [{ userId: '0' }, 28, /numeric PINs only/],
      [{ userId: '' }, 72, /non-empty/],
      [{ userId: ' 12' }, 72, /leading or trailing spaces/],
      [{ userId: 'Ä1' }, 72, /printable ASCII/],
      [{ userId: '1', name: 'x'.repeat(23) }, 72, null],
      [{ userId: '1', name: 'x'.repeat(24) }, 72, /24 bytes in utf8; this device's layout holds 23/],
      [{ userId: '1', name: 'ééééééé' }, 72, null],
      [{ userId: '1', name: 'éééé' }, 28, /8 bytes in utf8; this device's layout holds 7/],
      [{ userId: '1', password: '123456789' }, 72, /holds 8/],
      [{ userId: '1', password: '123456' }, 28, /holds 5/],
      [{ userId: '1', cardNo: -1 }, 72, /card number -1/],
      [{ userId: '1', cardNo: 1.5 }, 72, /card number 1.5/],
      [{ userId: '1', group: 256 }, 72, /group 256/],
      [{ userId: '1', privilege: 1 }, 72, /privilege 1 must be/],
      [{ userId: '1', enabled: 'yes' as unknown as boolean }, 72, /enabled must be true or false/],
    ];
    for (const [u, layout, want] of cases) {
      const got = userWriteProblem(u, layout, 'utf8');
      if (want === null) assert.equal(got, null, JSON.stringify(u));
      else assert.match(got ?? '', want, JSON.stringify(u));
    }
  });

  it('mergeUserWrite: defaults for a new user, the device value for a field left out, the disabled bit', () => {
    assert.deepEqual(mergeUserWrite(7, { userId: 'N' }, undefined), {
      uid: 7,
      userId: 'N',
      name: '',
      privilege: 0,
      enabled: true,
      password: '',
      cardNo: 0,
      group: 1,
    });
    const current: DeviceUser = {
      uid: 3,
      userId: 'C',
      name: 'Cur',
      privilege: 7,
      enabled: false,
      password: '9',
      cardNo: 5,
      group: 4,
    };
    assert.deepEqual(mergeUserWrite(3, { userId: 'C', name: 'New' }, current), { ...current, name: 'New' });
    assert.deepEqual(mergeUserWrite(3, { userId: 'C', enabled: true }, current), {
      ...current,
      privilege: 6,
      enabled: true,
    });
    assert.deepEqual(mergeUserWrite(3, { userId: 'C', privilege: 2 }, current), { ...current, privilege: 3 });
    assert.deepEqual(userFieldDiff(mergeUserWrite(3, { userId: 'C', cardNo: 6, group: 4 }, current), current), [
      'cardNo',
    ]);
  });

  it('encodeUserWrite round-trips in both layouts and keeps unknown bytes of the current record', () => {
    const u: DeviceUser = {
      uid: 300,
      userId: '4000000001',
      name: 'Zoë',
      privilege: 15,
      enabled: false,
      password: '12345',
      cardNo: 0xfffffffe,
      group: 9,
    };
    for (const layout of [72, 28] as const) {
      const got = decodeUserRecord(encodeUserWrite(u, layout, 'utf8'), 0, layout, 'utf8');
      assert.deepEqual(got, u, `layout ${layout}`);
    }
    const raw = Buffer.alloc(72, 0xee);
    const out = encodeUserWrite(u, 72, 'utf8', raw);
    assert.equal(out.readUInt32LE(40), 0xeeeeeeee, 'time-zone bytes kept');
    assert.equal(out[11 + Buffer.byteLength('Zoë')], 0, 'the old name does not show through');
    assert.deepEqual(decodeUserRecord(out, 0, 72, 'utf8'), u);
  });

  it('encodeDeviceText writes what the reader decodes back, and refuses what the code page lacks', () => {
    for (const [enc, text] of [
      ['latin1', 'Jürgen Çelik'],
      ['cp1252', 'Renée'],
      ['gbk', '张伟 Li'],
      ['utf8', 'Ωmega ✓'],
    ] as const) {
      const b = encodeDeviceText(text, enc);
      assert.equal(readTextField(b, 0, b.length, enc), text, enc);
    }
    assert.deepEqual([...encodeDeviceText('张', 'gbk')], [0xd5, 0xc5]);
    assert.throws(() => encodeDeviceText('张', 'latin1'), /"张" is not in the latin1 code page/);
    assert.throws(() => encodeDeviceText('Ω', 'cp1252'), /"Ω" is not in the cp1252 code page/);
    assert.throws(() => encodeDeviceText('😀', 'gbk'), /not in the gbk code page/);
  });

  it('template entries, TMP_WRITE and DEL_FPTMP payloads round-trip; the limits are named', () => {
    const entries = [
      { uid: 1, finger: 0, flag: 1, data: Buffer.from([1, 2, 3]) },
      { uid: 65535, finger: 9, flag: 3, data: Buffer.alloc(1500, 0xab) },
    ];
    const body = Buffer.concat(entries.map(encodeTemplateEntry));
    assert.equal(body.readUInt16LE(0), 9, 'size counts the 6-byte header');
    assert.deepEqual(decodeTemplateEntries(body), entries);
    assert.deepEqual(decodeTemplateEntries(Buffer.alloc(0)), []);
    assert.deepEqual(decodeTemplateWrite(encodeTemplateWrite({ uid: 513, finger: 4, flag: 3, size: 1234 })), {
      uid: 513,
      finger: 4,
      flag: 3,
      size: 1234,
    });
    assert.deepEqual([...encodeTemplateWrite({ uid: 0x0201, finger: 4, flag: 1, size: 0x0403 })], [1, 2, 4, 1, 3, 4]);
    assert.deepEqual(decodeDeleteFinger(encodeDeleteFinger('ABCDEFGHIJKLMNOPQRSTUVWX', 7)), {
      userId: 'ABCDEFGHIJKLMNOPQRSTUVWX',
      finger: 7,
    });
    assert.equal(encodeDeleteFinger('12', 3).length, 25);
    assert.equal(templateProblem({ finger: 0, flag: 1, data: Buffer.alloc(MAX_TEMPLATE_BYTES) }), null);
    assert.match(
      templateProblem({ finger: 0, flag: 1, data: Buffer.alloc(MAX_TEMPLATE_BYTES + 1) }) ?? '',
      /at most 65529 fit/,
    );
  });
});
