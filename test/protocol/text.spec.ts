import { strict as assert } from 'assert';
import { readAsciiField, readTextField, writeTextField, isCleanAsciiField } from '../../lib/protocol';
import { unhex } from '../support/prng';

describe('protocol/text: fixed-size fields (§8.7)', () => {
  it('readAsciiField stops at the first NUL and ignores bytes after it', () => {
    const b = Buffer.from('xx123\0garbage', 'latin1');
    assert.equal(readAsciiField(b, 2, 10), '123');
  });

  it('readAsciiField never reads past the field (full field, no NUL)', () => {
    const b = Buffer.from('ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'latin1');
    assert.equal(readAsciiField(b, 0, 24), 'ABCDEFGHIJKLMNOPQRSTUVWX');
    assert.equal(readAsciiField(b, 20, 24), 'UVWXYZ', 'nor past the buffer');
  });

  it('readAsciiField keeps high bytes as latin1 instead of dropping them', () => {
    assert.equal(readAsciiField(unhex('41 E9 FF 00'), 0, 4), 'A\u00e9\u00ff');
  });

  it('readTextField decodes UTF-8 and GBK names', () => {
    assert.equal(readTextField(Buffer.from('Zoë Ångström\0\0\0', 'utf8'), 0, 16), 'Zoë Ångström');
    // 张三 in GBK.
    assert.equal(readTextField(unhex('D5 C5 C8 FD 00 00'), 0, 6, 'gbk'), '张三');
    assert.equal(readTextField(unhex('4A FC 72 67 00'), 0, 5, 'latin1'), 'Jürg');
  });

  it('readTextField replaces invalid UTF-8 instead of throwing', () => {
    assert.equal(readTextField(unhex('41 FF 42 00'), 0, 4), 'A\ufffdB');
  });

  it('writeTextField pads with NULs over old content and refuses text that does not fit', () => {
    const b = Buffer.alloc(10, 0xee);
    writeTextField(b, 1, 8, 'abc');
    assert.deepEqual([...b], [0xee, 0x61, 0x62, 0x63, 0, 0, 0, 0, 0, 0xee]);
    writeTextField(b, 1, 8, '12345678');
    assert.equal(b.subarray(1, 9).toString('latin1'), '12345678');
    assert.throws(() => writeTextField(b, 1, 8, '123456789'), RangeError);
    assert.throws(() => writeTextField(b, 1, 8, 'ééééé', 'utf8'), /10 bytes; the field holds 8/);
  });

  it('isCleanAsciiField: printable ASCII followed only by NULs', () => {
    assert.equal(isCleanAsciiField(Buffer.from('ABC\0\0\0', 'latin1'), 0, 6), true);
    assert.equal(isCleanAsciiField(Buffer.alloc(6), 0, 6), true);
    assert.equal(isCleanAsciiField(Buffer.from('AB\0C\0\0', 'latin1'), 0, 6), false);
    assert.equal(isCleanAsciiField(Buffer.from('AB\tC\0\0', 'latin1'), 0, 6), false);
    assert.equal(isCleanAsciiField(unhex('41 80 00'), 0, 3), false);
  });
});
