/**
 * The master list check and the sync planner (pure): every refusal names the entry and the field; the plan
 * adds, updates, disables or deletes exactly what differs, and plans nothing for an equal table.
 */
import { strict as assert } from 'assert';
import { UserListError, parseMasterList, planSync } from '../../lib/users';
import type { DeviceUser } from '../../lib/users';

const dev = (userId: string, o: Partial<DeviceUser> = {}): DeviceUser => ({
  uid: Number(userId) || 1,
  userId,
  name: `U${userId}`,
  privilege: 0,
  enabled: true,
  password: '',
  cardNo: 0,
  group: 1,
  ...o,
});

function refused(list: unknown): UserListError {
  try {
    parseMasterList(list);
  } catch (err) {
    assert.ok(err instanceof UserListError, String(err));
    return err;
  }
  throw new Error('the list was accepted');
}

describe('users: master list', () => {
  it('normalises what HR tables give: numeric ids, numeric card strings, privilege names, 0/1 booleans', () => {
    const l = parseMasterList([
      { userId: 1001, name: ' Ana ', card: '123456', privilege: 'admin', enabled: 1 },
      { userId: '007', card: null, privilege: 14, enabled: 'false' },
      { userId: 'A-9' },
    ]);
    assert.deepEqual(l, [
      { userId: '1001', name: 'Ana', cardNo: 123456, privilege: 6, enabled: true },
      { userId: '007', cardNo: 0, privilege: 14, enabled: false },
      { userId: 'A-9', enabled: true },
    ]);
  });

  it('refuses duplicates, naming both entries', () => {
    const e = refused([{ userId: '5' }, { userId: '6' }, { userId: 5 }]);
    assert.equal(e.problems.length, 1);
    assert.match(e.message, /msg\.payload\[2\] \(userId 5\): userId is a duplicate of entry 0/);
  });

  it('lists every bad field with its entry', () => {
    const e = refused([
      { userId: '' },
      { userId: '1', card: -1 },
      { userId: '2', privilege: 'boss' },
      { userId: '3', name: 'a\tb' },
      { userId: '4', enabled: 'maybe' },
      { userId: '5', dept: 'HR' },
      { userId: '6', name: 'x'.repeat(25) },
      'seven',
    ]);
    const where = e.problems.map((p) => `${p.index}:${p.field}`);
    assert.deepEqual(where, ['0:userId', '1:card', '2:privilege', '3:name', '4:enabled', '5:dept', '6:name', '7:null']);
    assert.match(e.message, /nothing was written/);
    assert.match(e.message, /\[1\] \(userId 1\): card must be a card number from 0 to 4294967295/);
    assert.match(e.message, /and 3 more/);
  });

  it('refuses what is not an array, and PINs a device cannot hold', () => {
    assert.match(refused({ userId: '1' }).message, /msg\.payload must be an array of users/);
    assert.equal(refused([{ userId: 'x'.repeat(25) }]).problems[0].field, 'userId');
    assert.equal(refused([{ userId: 'a b' }]).problems[0].field, 'userId');
  });
});

describe('users: sync plan', () => {
  const device = [dev('1'), dev('2', { cardNo: 77 }), dev('3'), dev('4', { privilege: 1, enabled: false })];

  it('adds, updates (naming the fields) and disables users missing from the list', () => {
    const master = parseMasterList([
      { userId: '1', name: 'U1' },
      { userId: '2', name: 'New', card: 0, privilege: 'admin' },
      { userId: '9', name: 'Nine' },
    ]);
    const p = planSync(master, device, 'disable');
    assert.deepEqual(p.changes, [
      { userId: '2', action: 'update', fields: ['name', 'cardNo', 'privilege'] },
      { userId: '9', action: 'add', fields: [] },
      { userId: '3', action: 'disable', fields: ['enabled'] },
    ]);
    // 4 is already disabled: nothing to do.
    assert.deepEqual(p.unchanged, ['1', '4']);
    assert.deepEqual(p.writes, [
      { userId: '2', enabled: true, name: 'New', cardNo: 0, privilege: 6 },
      { userId: '9', enabled: true, name: 'Nine' },
      { userId: '3', enabled: false },
    ]);
    assert.deepEqual(p.deletes, []);
  });

  it('deletes only with the delete policy; leave touches nothing outside the list', () => {
    const master = parseMasterList([{ userId: '1' }]);
    const del = planSync(master, device, 'delete');
    assert.deepEqual(del.deletes, ['2', '3', '4']);
    assert.deepEqual(del.writes, []);
    const leave = planSync(master, device, 'leave');
    assert.deepEqual(leave.changes, []);
    assert.deepEqual(leave.unchanged, ['1', '2', '3', '4']);
  });

  it('compares the level without the disabled bit, and re-enables a listed user', () => {
    const master = parseMasterList([
      { userId: '4', privilege: 0, enabled: true },
      { userId: '1', privilege: 'user', enabled: true },
    ]);
    const p = planSync(master, [dev('4', { privilege: 1, enabled: false }), dev('1', { privilege: 0 })], 'leave');
    assert.deepEqual(p.changes, [{ userId: '4', action: 'update', fields: ['enabled'] }]);
  });

  it('plans nothing when the table already equals the list', () => {
    const master = parseMasterList([
      { userId: '1', name: 'U1', card: 0, privilege: 'user', enabled: true, password: '', group: 1 },
    ]);
    const p = planSync(master, [dev('1')], 'delete');
    assert.deepEqual([p.writes, p.deletes, p.changes, p.unchanged], [[], [], [], ['1']]);
  });
});
