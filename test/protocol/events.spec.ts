import { strict as assert } from 'assert';
import {
  AttendanceEvent,
  AttEventInput,
  EventFlag,
  WallClock,
  decodeEvent,
  decodePacket,
  encodeAttEventBody,
  encodePacket,
  frameTcp,
  TcpFrameSplitter,
} from '../../lib/protocol';
import { hex, normHex, unhex } from '../support/prng';

const T: WallClock = { year: 2024, month: 3, day: 15, hour: 13, minute: 45, second: 7 };

function single(events: ReturnType<typeof decodeEvent>): AttendanceEvent {
  assert.equal(events.length, 1);
  assert.equal(events[0].kind, 'attendance');
  return events[0] as AttendanceEvent;
}

describe('protocol/events: realtime event bodies (§9)', () => {
  describe('§9.2 computed examples', () => {
    const tcpWire = `50 50 82 7D 28 00 00 00 F4 01 54 85 01 00 00 00 31 30 30 31 00 00 00 00 00 00 00 00 00 00 00 00
      00 00 00 00 00 00 00 00 01 00 18 03 0F 0D 2D 07`;
    const udpWire = 'F4 01 AE E5 01 00 00 00 07 00 01 01 18 03 0F 0D 2D 07';

    it('TCP, EF_ATTLOG, 32-byte body: encode', () => {
      const body = encodeAttEventBody({ userId: '1001', verify: 1, state: 0, time: T }, 32);
      const frame = frameTcp(encodePacket({ command: 500, session: EventFlag.ATTLOG, replyId: 0, payload: body }));
      assert.equal(hex(frame), normHex(tcpWire));
    });

    it('TCP, EF_ATTLOG, 32-byte body: decode (through the splitter)', () => {
      const [packet] = new TcpFrameSplitter().push(unhex(tcpWire));
      const p = decodePacket(packet);
      assert.ok(p);
      assert.deepEqual([p.command, p.session, p.replyId, p.checksumOk], [500, 1, 0, true]);
      const e = single(decodeEvent(p.session, p.payload));
      assert.deepEqual(
        {
          code: e.code,
          userId: e.userId,
          userNumber: e.userNumber,
          userResolved: e.userResolved,
          verify: e.verify,
          state: e.state,
          stateByte: e.stateByte,
          time: e.time,
          timeValid: e.timeValid,
          bodyLength: e.bodyLength,
          extra: e.extra.length,
        },
        {
          code: 1,
          userId: '1001',
          userNumber: null,
          userResolved: true,
          verify: 1,
          state: 0,
          stateByte: 0,
          time: T,
          timeValid: true,
          bodyLength: 32,
          extra: 0,
        },
      );
    });

    it('UDP, EF_ATTLOG, 10-byte body: encode', () => {
      const body = encodeAttEventBody({ userId: '7', userNumber: 7, verify: 1, state: 1, time: T }, 10);
      assert.equal(hex(encodePacket({ command: 500, session: 1, replyId: 0, payload: body })), normHex(udpWire));
    });

    it('UDP, EF_ATTLOG, 10-byte body: decode (u16 user not resolved yet)', () => {
      const p = decodePacket(unhex(udpWire));
      assert.ok(p);
      assert.equal(p.checksumOk, true);
      const e = single(decodeEvent(p.session, p.payload));
      assert.deepEqual(
        {
          userId: e.userId,
          userNumber: e.userNumber,
          userResolved: e.userResolved,
          verify: e.verify,
          state: e.state,
          stateByte: e.stateByte,
          time: e.time,
          bodyLength: e.bodyLength,
        },
        { userId: '7', userNumber: 7, userResolved: false, verify: 1, state: 1, stateByte: 1, time: T, bodyLength: 10 },
      );
    });
  });

  describe('round trips by body length (§9.3)', () => {
    const input: AttEventInput = { userId: '4242', verify: 15, state: 3, time: T };

    for (const len of [10, 14]) {
      it(`${len} bytes: u16 user, verify, state, time${len === 14 ? ', 4 unknown bytes kept raw' : ''}`, () => {
        const body = encodeAttEventBody({ ...input, userNumber: 65535 }, len);
        assert.equal(body.length, len);
        const e = single(decodeEvent(1, body));
        assert.deepEqual(
          [e.userId, e.userNumber, e.userResolved, e.verify, e.state, e.time, e.extra.length],
          ['65535', 65535, false, 15, 3, T, len - 10],
        );
      });
    }

    it('10/14 bytes: the state byte packs valid << 4 | state; state is the low nibble, the raw byte is kept', () => {
      for (const len of [10, 14]) {
        const body = encodeAttEventBody(input, len);
        body[3] = 0x15;
        const e = single(decodeEvent(1, body));
        assert.equal(e.state, 5);
        assert.equal(e.stateByte, 0x15);
      }
    });

    it('12 bytes: u32 userId number', () => {
      const body = encodeAttEventBody({ ...input, userId: '4294967295' }, 12);
      assert.equal(body.length, 12);
      assert.equal(hex(body), normHex('FF FF FF FF 0F 03 18 03 0F 0D 2D 07'));
      const e = single(decodeEvent(1, body));
      assert.deepEqual(
        [e.userId, e.userNumber, e.userResolved, e.verify, e.state, e.stateByte, e.time],
        ['4294967295', null, true, 15, 3, 3, T],
      );
    });

    for (const len of [32, 36, 37, 52]) {
      it(`${len} bytes: string userId (24 characters kept whole), ${len - 32} trailing bytes kept raw`, () => {
        const body = encodeAttEventBody({ ...input, userId: 'ABCDEFGHIJKLMNOPQRSTUVWX' }, len);
        assert.equal(body.length, len);
        for (let i = 32; i < len; i++) body[i] = i;
        const e = single(decodeEvent(1, body));
        assert.deepEqual(
          [e.userId, e.userResolved, e.verify, e.state, e.time, e.timeValid, e.bodyLength],
          ['ABCDEFGHIJKLMNOPQRSTUVWX', true, 15, 3, T, true, len],
        );
        assert.deepEqual([...e.extra], [...body.subarray(32)]);
      });
    }

    it('104 bytes: two 52-byte events', () => {
      const a = encodeAttEventBody({ userId: '000001', verify: 1, state: 0, time: T }, 52);
      const b = encodeAttEventBody({ userId: '2', verify: 2, state: 1, time: { ...T, second: 8 } }, 52);
      const events = decodeEvent(1, Buffer.concat([a, b])) as AttendanceEvent[];
      assert.equal(events.length, 2);
      assert.deepEqual(
        events.map((e) => [e.kind, e.userId, e.verify, e.state, e.time.second, e.bodyLength]),
        [
          ['attendance', '000001', 1, 0, 7, 52],
          ['attendance', '2', 2, 1, 8, 52],
        ],
      );
    });

    it('104 bytes whose second slice is all zero: one event (the zeros are padding)', () => {
      const a = encodeAttEventBody({ userId: '7', verify: 1, state: 0, time: T }, 52);
      const events = decodeEvent(1, Buffer.concat([a, Buffer.alloc(52)])) as AttendanceEvent[];
      assert.equal(events.length, 1);
      assert.equal(events[0].userId, '7');
    });

    it('≥ 52 bytes but not a multiple of 52: one event from the first 32 bytes, the rest raw', () => {
      const body = encodeAttEventBody(input, 60);
      const e = single(decodeEvent(1, body));
      assert.equal(e.userId, '4242');
      assert.equal(e.extra.length, 28);
      assert.equal(e.bodyLength, 60);
    });

    it('encodeAttEventBody below 32 bytes gives a truncated 32-byte layout (fault injection)', () => {
      const full = encodeAttEventBody(input, 32);
      assert.ok(encodeAttEventBody(input, 20).equals(full.subarray(0, 20)));
    });
  });

  describe('never throws; unknown shapes are raw', () => {
    it('unknown body lengths come back raw with a copy of the body', () => {
      for (const len of [0, 1, 9, 11, 13, 15, 31, 33, 35, 38, 51]) {
        const body = Buffer.alloc(len, 0x31);
        const events = decodeEvent(1, body);
        assert.equal(events.length, 1);
        const ev = events[0];
        assert.equal(ev.kind, 'raw', `length ${len}`);
        if (ev.kind !== 'raw') continue;
        assert.equal(ev.code, 1);
        assert.ok(ev.body.equals(body));
        body.fill(0);
        if (len > 0) assert.equal(ev.body[0], 0x31, 'copied, not a view');
      }
    });

    it('other event codes come back raw whatever the length', () => {
      for (const code of [EventFlag.FINGER, EventFlag.ENROLLUSER, EventFlag.ALARM, 0, 0xffff]) {
        for (const len of [0, 4, 10, 32, 52]) {
          const events = decodeEvent(code, Buffer.alloc(len, 7));
          assert.deepEqual(
            events.map((e) => [e.kind, e.code]),
            [['raw', code]],
          );
        }
      }
    });

    it('impossible times are flagged, not fixed', () => {
      const body = encodeAttEventBody({ userId: '1', verify: 1, state: 0, time: { ...T, month: 2, day: 31 } }, 32);
      const e = single(decodeEvent(1, body));
      assert.equal(e.timeValid, false);
      assert.deepEqual([e.time.month, e.time.day], [2, 31]);
    });

    it('a userId field with no NUL is read to the end of its 24 bytes, never into verify/state', () => {
      const body = Buffer.alloc(32, 0x39);
      const e = single(decodeEvent(1, body));
      assert.equal(e.userId, '9'.repeat(24));
      assert.equal(e.verify, 0x39);
    });
  });
});
