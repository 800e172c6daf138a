/**
 * Seeded fuzz of the codec: valid frames of every kind, mutated (bit flips, truncation, extension,
 * overwrites, random bytes, broken TCP prefixes), fed through every decoder and the TCP splitter.
 *
 * Contract checked: decoders that document an error throw only that ZkError (splitter in strict mode,
 * layout detection, decodeFreeSizes); all others never throw; strings never exceed their field; counts add up.
 * Reproduce a failure with ZK_FUZZ_SEED=<seed> (printed in every failure message).
 */
import { strict as assert } from 'assert';
import {
  ATTLOG_SELECTOR,
  USERS_SELECTOR,
  Cmd,
  Reply,
  EventFlag,
  AttendanceRecordSize,
  UserRecordSize,
  NameEncoding,
  TcpFrameSplitter,
  decodeAttendanceRecords,
  decodeBufferStat,
  decodeEvent,
  decodeFreeSizes,
  decodePacket,
  decodePrepareBuffer,
  decodePrepareData,
  decodeReadBuffer,
  decodeTime,
  decodeUserRecords,
  encodeAttEventBody,
  encodeAttendanceRecord,
  encodeBufferStat,
  encodeFreeSizes,
  encodePacket,
  encodePrepareBuffer,
  encodePrepareData,
  encodeReadBuffer,
  encodeTime,
  encodeUserRecord,
  frameTcp,
  isValidWallClock,
  makeCommKey,
  verifyCommKey,
  zkChecksum,
  ZkEvent,
} from '../../lib/protocol';
import { ZkError, ZkErrorCode } from '../../lib/errors';
import { Rng, hex } from '../support/prng';

const SEED = Number(process.env.ZK_FUZZ_SEED ?? 0x2f1a7c3);
const FRAMES = 100_000;
const STREAM_BATCH = 8;

type Kind = 'cmd' | 'auth' | 'time' | 'event' | 'att' | 'users' | 'free' | 'prepare' | 'stat' | 'read' | 'prepData';
const KINDS: Kind[] = ['cmd', 'auth', 'time', 'event', 'att', 'users', 'free', 'prepare', 'stat', 'read', 'prepData'];
const EVENT_LENGTHS = [10, 12, 14, 32, 36, 37, 52, 104];
const EVENT_CODES = [0, ...Object.values(EventFlag), 3, 0xffff];
const ALL_CODES = [...Object.values(Cmd), ...Object.values(Reply)];

interface Sample {
  kind: Kind;
  packet: Buffer;
  /** The record count a device would report (att/users), used as a layout hint. */
  count: number;
}

let ctx = '';
function fail(msg: string, input: Buffer, err?: unknown): never {
  const why = err instanceof Error ? `${err.name}: ${err.message}` : String(err ?? '');
  assert.fail(`${msg} [seed ${SEED}, ${ctx}] ${why}\n  input (${input.length} bytes): ${hex(input.subarray(0, 160))}`);
}

/** Runs fn; an exception is allowed only if it is a ZkError with one of `codes` (none when empty). */
function guarded<T>(
  what: string,
  input: Buffer,
  codes: ZkErrorCode[],
  fn: () => T,
): { ok: true; value: T } | { ok: false; error: ZkError } {
  try {
    return { ok: true, value: fn() };
  } catch (e) {
    if (e instanceof ZkError && codes.includes(e.code)) return { ok: false, error: e };
    fail(`${what} threw unexpectedly`, input, e);
  }
}

const wallClock = (rng: Rng) => ({
  year: rng.range(2000, 2099),
  month: rng.range(1, 12),
  day: rng.range(1, 28),
  hour: rng.int(24),
  minute: rng.int(60),
  second: rng.int(60),
});

function userId(rng: Rng, numeric: boolean): string {
  if (numeric) return String(rng.int(rng.bool() ? 100_000 : 0xffffffff));
  const alphabet = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ-_.';
  let s = '';
  for (let i = rng.range(1, 24); i > 0; i--) s += alphabet[rng.int(alphabet.length)];
  return s;
}

function packet(rng: Rng, command: number, payload: Buffer): Buffer {
  return encodePacket({ command, session: rng.int(0x10000), replyId: rng.int(65535), payload });
}

/** A valid packet of the given kind, as a device or a client would send it. */
function makeSample(rng: Rng, kind: Kind): Sample {
  switch (kind) {
    case 'cmd':
      return {
        kind,
        packet: packet(rng, rng.pick(ALL_CODES), rng.bytes(rng.int(4) === 0 ? rng.int(40) : 0)),
        count: 0,
      };
    case 'auth':
      return {
        kind,
        packet: packet(rng, Cmd.AUTH, makeCommKey(rng.int(1_000_000), rng.int(0x10000), rng.int(256))),
        count: 0,
      };
    case 'time': {
      const b = Buffer.alloc(4);
      b.writeUInt32LE(encodeTime(wallClock(rng)), 0);
      return { kind, packet: packet(rng, Reply.ACK_OK, b), count: 0 };
    }
    case 'event': {
      const len = rng.pick(EVENT_LENGTHS);
      const e = {
        userId: userId(rng, len === 12),
        userNumber: rng.int(0x10000),
        verify: rng.int(256),
        state: rng.int(16),
        time: wallClock(rng),
      };
      const body =
        len === 104
          ? Buffer.concat([encodeAttEventBody(e, 52), encodeAttEventBody(e, 52)])
          : encodeAttEventBody(e, len);
      const code = rng.bool(0.8) ? EventFlag.ATTLOG : rng.pick(EVENT_CODES);
      return {
        kind,
        packet: encodePacket({ command: Cmd.REG_EVENT, session: code, replyId: 0, payload: body }),
        count: 0,
      };
    }
    case 'att': {
      const size = rng.pick<AttendanceRecordSize>([40, 49, 16, 8]);
      const k = rng.int(13);
      const recs: Buffer[] = [];
      for (let i = 0; i < k; i++) {
        recs.push(
          encodeAttendanceRecord(
            {
              uid: rng.int(0x10000),
              userId: userId(rng, size === 16),
              verify: rng.int(256),
              state: rng.int(256),
              time: wallClock(rng),
              workCode: size === 16 ? rng.u32() : 0,
            },
            size,
          ),
        );
      }
      const total = Buffer.alloc(4);
      total.writeUInt32LE(k * size, 0);
      return { kind, packet: packet(rng, Cmd.DATA, Buffer.concat([total, ...recs])), count: k };
    }
    case 'users': {
      const size = rng.pick<UserRecordSize>([72, 28]);
      const k = rng.int(9);
      const recs: Buffer[] = [];
      for (let i = 0; i < k; i++) {
        recs.push(
          encodeUserRecord(
            {
              uid: rng.range(1, 0xffff),
              userId: userId(rng, size === 28),
              name: size === 72 ? 'Zoë Ω' : 'Ann',
              privilege: rng.int(16),
              password: String(rng.int(10_000)),
              cardNo: rng.u32(),
              group: rng.int(256),
            },
            size,
          ),
        );
      }
      const total = Buffer.alloc(4);
      total.writeUInt32LE(k * size, 0);
      return { kind, packet: packet(rng, Cmd.DATA, Buffer.concat([total, ...recs])), count: k };
    }
    case 'free': {
      const v = () => rng.int(100_000);
      const p = encodeFreeSizes(
        {
          users: v(),
          fingers: v(),
          records: v(),
          opLogs: v(),
          admins: v(),
          passwords: v(),
          fingersCapacity: v(),
          usersCapacity: v(),
          recordsCapacity: v(),
          fingersAvailable: v(),
          usersAvailable: v(),
          recordsAvailable: v(),
          faces: v(),
          facesCapacity: v(),
        },
        rng.bool(),
      );
      return { kind, packet: packet(rng, Reply.ACK_OK, p), count: 0 };
    }
    case 'prepare':
      return {
        kind,
        packet: packet(rng, Cmd.PREPARE_BUFFER, encodePrepareBuffer(rng.bool() ? ATTLOG_SELECTOR : USERS_SELECTOR)),
        count: 0,
      };
    case 'stat':
      return { kind, packet: packet(rng, Reply.ACK_OK, encodeBufferStat(rng.u32())), count: 0 };
    case 'read':
      return {
        kind,
        packet: packet(rng, Cmd.READ_BUFFER, encodeReadBuffer({ start: rng.u32(), size: rng.u32() })),
        count: 0,
      };
    case 'prepData':
      return {
        kind,
        packet: packet(rng, Cmd.PREPARE_DATA, encodePrepareData(rng.u32(), rng.pick([1008, 1024, 65536]))),
        count: 0,
      };
  }
}

type Mutation = 'none' | 'flip' | 'truncate' | 'extend' | 'overwrite' | 'random' | 'splice';
const MUTATIONS: Mutation[] = ['none', 'flip', 'flip', 'truncate', 'extend', 'overwrite', 'random', 'splice'];

function mutate(rng: Rng, p: Buffer, m: Mutation, other: Buffer): Buffer {
  const b = Buffer.from(p);
  switch (m) {
    case 'none':
      return b;
    case 'flip':
      for (let i = rng.range(1, 8); i > 0 && b.length > 0; i--) b[rng.int(b.length)] ^= 1 << rng.int(8);
      return b;
    case 'truncate':
      return b.subarray(0, rng.int(b.length + 1));
    case 'extend':
      return Buffer.concat([b, rng.bytes(rng.range(1, 120))]);
    case 'overwrite':
      for (let i = rng.range(1, 16); i > 0 && b.length > 0; i--)
        b[rng.int(b.length)] = rng.pick([0, 0xff, 0x20, 0x7f, rng.int(256)]);
      return b;
    case 'random':
      return rng.bytes(rng.int(4) === 0 ? rng.int(8) : rng.int(300));
    case 'splice': {
      const cut = rng.int(b.length + 1);
      return Buffer.concat([b.subarray(0, cut), other.subarray(rng.int(other.length + 1))]);
    }
  }
}

// ---- per-decoder contracts -------------------------------------------------------------------------

function checkPacket(input: Buffer): Buffer {
  const r = guarded('decodePacket', input, [], () => decodePacket(input));
  if (!r.ok) throw new Error('unreachable');
  const p = r.value;
  if (input.length < 8) {
    if (p !== null) fail('decodePacket returned a packet for < 8 bytes', input);
    return input;
  }
  if (!p) return fail('decodePacket returned null for ≥ 8 bytes', input);
  if (p.payload.length !== input.length - 8) fail('payload length', input);
  if (p.command !== input.readUInt16LE(0) || p.session !== input.readUInt16LE(4) || p.replyId !== input.readUInt16LE(6))
    fail('header fields', input);
  if (p.checksumOk !== (p.checksum === zkChecksum(input))) fail('checksumOk inconsistent', input);
  return p.payload;
}

function checkEvents(code: number, body: Buffer): void {
  const r = guarded('decodeEvent', body, [], () => decodeEvent(code, body));
  if (!r.ok) return;
  const events: ZkEvent[] = r.value;
  const n = body.length;
  const known = [10, 12, 14, 32, 36, 37].includes(n) || n >= 52;
  if (code !== EventFlag.ATTLOG || !known) {
    if (events.length !== 1 || events[0].kind !== 'raw' || events[0].code !== code || !events[0].body.equals(body))
      fail(`raw event expected (code ${code}, ${n} bytes)`, body);
    return;
  }
  // One event per 52-byte slice, except all-zero slices after the first (padding).
  let expected = 1;
  if (n >= 52 && n % 52 === 0) {
    for (let off = 52; off < n; off += 52) if (body.subarray(off, off + 52).some((b) => b !== 0)) expected++;
  }
  if (events.length !== expected) fail(`event count ${events.length}, expected ${expected}`, body);
  for (const e of events) {
    if (e.kind !== 'attendance') return fail('attendance event expected', body);
    const maxUser = n === 10 || n === 14 ? 5 : n === 12 ? 10 : 24;
    if (e.userId.length > maxUser) fail(`userId "${e.userId}" longer than its field`, body);
    if (e.userNumber !== null && (e.userNumber < 0 || e.userNumber > 0xffff)) fail('userNumber out of u16', body);
    if (e.bodyLength > n || e.extra.length > e.bodyLength) fail('extra/bodyLength beyond the body', body);
    if (e.verify > 255 || e.state > 255 || e.stateByte > 255) fail('byte field out of range', body);
    if ((n === 10 || n === 14) && e.state > 15) fail('state of a 10/14-byte body is a nibble', body);
    if (e.timeValid !== isValidWallClock(e.time)) fail('timeValid inconsistent', body);
  }
}

function checkAttendance(data: Buffer, hint: number | null): void {
  const r = guarded('decodeAttendanceRecords', data, ['UNKNOWN_RECORD_SIZE'], () =>
    decodeAttendanceRecords(data, hint),
  );
  if (!r.ok) {
    if (data.length === 0) fail('empty data must decode to no records', data, r.error);
    return;
  }
  const { layout, records } = r.value;
  const { size, count, padding } = layout;
  if (![40, 49, 16, 8].includes(size)) fail(`size ${size}`, data);
  if (count * size + padding !== data.length || padding < 0 || padding >= size || records.length !== count) {
    fail(`counts do not add up: ${count} × ${size} + ${padding} ≠ ${data.length}`, data);
  }
  for (const rec of records) {
    if (size === 40 || size === 49) {
      if (
        rec.userId.length > 24 ||
        (rec.extra !== undefined && rec.extra.length !== size - 32) ||
        (size === 49 && rec.extra === undefined)
      )
        fail('40/49-byte record fields', data);
    } else if (!/^\d{1,10}$/.test(rec.userId) || (size === 8 && String(rec.uid) !== rec.userId)) {
      fail(`numeric userId "${rec.userId}"`, data);
    }
    if (encodeTime(decodeTime(rec.rawTime)) !== rec.rawTime && rec.rawTime <= 0xbf92f7ff)
      fail('time decode not exact', data);
  }
}

function checkUsers(data: Buffer, hint: number | null, enc: NameEncoding): void {
  const r = guarded('decodeUserRecords', data, ['UNKNOWN_USER_SIZE'], () => decodeUserRecords(data, hint, enc));
  if (!r.ok) {
    if (data.length === 0) fail('empty data must decode to no users', data, r.error);
    return;
  }
  const { size, users } = r.value;
  if (users.length * size !== data.length) fail(`${users.length} × ${size} ≠ ${data.length}`, data);
  const [pw, name] = size === 72 ? [8, 24] : [5, 8];
  for (const u of users) {
    if (u.password.length > pw || u.name.length > name) fail('password/name longer than its field', data);
    if (size === 72 ? u.userId.length > 24 : !/^\d{1,10}$/.test(u.userId)) fail(`userId "${u.userId}"`, data);
    if (u.uid < 0 || u.uid > 0xffff || u.enabled !== ((u.privilege & 1) === 0)) fail('uid/privilege', data);
  }
}

function checkFreeSizes(p: Buffer): void {
  const r = guarded('decodeFreeSizes', p, ['PROTOCOL'], () => decodeFreeSizes(p));
  if (r.ok !== p.length >= 80) fail(`decodeFreeSizes ${r.ok ? 'accepted' : 'rejected'} ${p.length} bytes`, p);
  if (r.ok && (r.value.faces === null) !== p.length < 92) fail('faces present iff ≥ 92 bytes', p);
  if (r.ok && !Number.isInteger(r.value.records)) fail('records not an integer', p);
}

function checkBuffered(p: Buffer): void {
  const stat = guarded('decodeBufferStat', p, [], () => decodeBufferStat(p));
  const read = guarded('decodeReadBuffer', p, [], () => decodeReadBuffer(p));
  const prep = guarded('decodePrepareData', p, [], () => decodePrepareData(p));
  const sel = guarded('decodePrepareBuffer', p, [], () => decodePrepareBuffer(p));
  if (!stat.ok || !read.ok || !prep.ok || !sel.ok) return;
  if ((stat.value === null) !== p.length < 5) fail('decodeBufferStat null iff < 5 bytes', p);
  if ((read.value === null) !== p.length < 8) fail('decodeReadBuffer null iff < 8 bytes', p);
  if ((prep.value === null) !== p.length < 4) fail('decodePrepareData null iff < 4 bytes', p);
  if ((sel.value === null) !== p.length < 3) fail('decodePrepareBuffer null iff < 3 bytes', p);
}

const ENCODINGS: NameEncoding[] = ['utf8', 'latin1', 'gbk'];

/** Feeds a payload to the decoder its kind belongs to. */
function checkPayload(rng: Rng, kind: Kind, payload: Buffer, count: number, session: number): void {
  switch (kind) {
    case 'event':
      return checkEvents(rng.bool(0.9) ? session : rng.pick(EVENT_CODES), payload);
    case 'att':
      return checkAttendance(
        rng.bool(0.8) ? payload.subarray(4) : payload,
        rng.pick([null, 0, count, count - 1, count + 1, rng.int(50)]),
      );
    case 'users':
      return checkUsers(
        rng.bool(0.8) ? payload.subarray(4) : payload,
        rng.pick([null, 0, count, count - 1, count + 1]),
        rng.pick(ENCODINGS),
      );
    case 'free':
      return checkFreeSizes(payload);
    case 'auth': {
      const v = guarded('verifyCommKey', payload, [], () =>
        verifyCommKey(payload, rng.int(1_000_000), rng.int(0x10000)),
      );
      if (v.ok && typeof v.value !== 'boolean') fail('verifyCommKey result', payload);
      return;
    }
    case 'time': {
      if (payload.length >= 4) {
        const w = decodeTime(payload.readUInt32LE(0));
        if (w.year < 2000 || w.year > 2133 || w.month < 1 || w.month > 12 || w.day < 1 || w.day > 31)
          fail('decodeTime fields out of range', payload);
      }
      return;
    }
    default:
      return checkBuffered(payload);
  }
}

// ---- stream checks ---------------------------------------------------------------------------------

function pushInPieces(rng: Rng, s: TcpFrameSplitter, stream: Buffer, onPacket: (p: Buffer) => void): void {
  for (let off = 0; off < stream.length;) {
    const n = rng.pick([1, 2, 7, 8, 9, 536, 1460, rng.range(1, 2000)]);
    for (const p of s.push(stream.subarray(off, off + n))) onPacket(p);
    off += n;
  }
}

/** Breaks the TCP framing of a stream: bad magic, bad length, garbage between frames. */
function corruptFraming(rng: Rng, frames: Buffer[]): Buffer {
  const out: Buffer[] = frames.map((f) => Buffer.from(f));
  const i = rng.int(out.length);
  switch (rng.int(4)) {
    case 0:
      out[i][rng.int(4)] ^= 1 << rng.int(8);
      break;
    case 1:
      out[i].writeUInt32LE(rng.pick([0, 1, 7, 0x7fffffff, 0xffffffff, rng.u32()]), 4);
      break;
    case 2:
      out[i].writeUInt32LE(Math.max(0, out[i].readUInt32LE(4) + rng.range(-8, 8)), 4);
      break;
    default:
      out.splice(i, 0, rng.bytes(rng.range(1, 30)));
      break;
  }
  return Buffer.concat(out);
}

function checkStream(rng: Rng, packets: Buffer[]): void {
  const valid = packets.filter((p) => p.length >= 8);
  const frames = valid.map(frameTcp);
  const clean = Buffer.concat(frames);
  ctx = ctx.replace(/ stream.*$/, '') + ' stream';

  // Intact framing: strict mode returns exactly the packets, whatever the split points.
  const strict = new TcpFrameSplitter();
  const got: Buffer[] = [];
  const r = guarded('TcpFrameSplitter.push (valid stream)', clean, [], () =>
    pushInPieces(rng, strict, clean, (p) => got.push(p)),
  );
  if (r.ok && (got.length !== valid.length || got.some((p, i) => !p.equals(valid[i])) || strict.buffered !== 0)) {
    fail(`splitter returned ${got.length} packets for ${valid.length}`, clean);
  }

  // Broken framing: strict mode may only throw BAD_FRAME; lenient mode never throws and loses no byte count.
  const broken = rng.bool(0.3)
    ? rng.bytes(rng.range(0, 200))
    : corruptFraming(rng, frames.length ? frames : [rng.bytes(16)]);
  const max = rng.pick([64, 1024, 1024 * 1024]);
  const s2 = new TcpFrameSplitter({ maxFrameBytes: max });
  guarded('TcpFrameSplitter.push (strict)', broken, ['BAD_FRAME'], () =>
    pushInPieces(rng, s2, broken, (p) => {
      if (p.length < 8 || p.length > max) fail(`strict splitter emitted ${p.length} bytes`, broken);
    }),
  );

  const lenient = new TcpFrameSplitter({ lenient: true, maxFrameBytes: max });
  let accounted = 0;
  guarded('TcpFrameSplitter.push (lenient)', broken, [], () =>
    pushInPieces(rng, lenient, broken, (p) => {
      if (p.length < 8 || p.length > max) fail(`lenient splitter emitted ${p.length} bytes`, broken);
      accounted += 8 + p.length;
      checkPacket(p);
    }),
  );
  if (accounted + lenient.skippedBytes + lenient.buffered !== broken.length)
    fail('lenient splitter lost track of bytes', broken);
}

describe('fuzz: codec (seeded)', function () {
  this.timeout(60_000);

  it(`${FRAMES.toLocaleString('en')} mutated frames through decodePacket, the payload decoders and the TCP splitter`, () => {
    const rng = new Rng(SEED);
    const samples = KINDS.map((k) => makeSample(rng, k));
    const stats = { frames: 0, nullPackets: 0, badChecksum: 0, streams: 0 };
    let batch: Buffer[] = [];
    for (let i = 0; i < FRAMES; i++) {
      const kind = KINDS[i % KINDS.length];
      // Fresh valid samples most of the time, so every encoder path and size is mutated.
      const sample = rng.bool(0.7) ? makeSample(rng, kind) : samples[KINDS.indexOf(kind)];
      const m = rng.pick(MUTATIONS);
      const input = mutate(rng, sample.packet, m, rng.pick(samples).packet);
      ctx = `frame ${i}, ${kind}, ${m}`;
      const payload = checkPacket(input);
      const p = decodePacket(input);
      if (!p) stats.nullPackets++;
      else if (!p.checksumOk) stats.badChecksum++;
      if (m === 'none' && !p?.checksumOk) fail('an unmutated packet must decode with a valid checksum', input);
      checkPayload(rng, kind, payload, sample.count, p ? p.session : 0);
      // Cross-feed: the same bytes to a decoder of another kind.
      checkPayload(rng, rng.pick(KINDS), payload, sample.count, p ? p.session : 0);
      stats.frames++;
      batch.push(input);
      if (batch.length === STREAM_BATCH) {
        checkStream(rng, batch);
        stats.streams++;
        batch = [];
      }
    }
    assert.equal(stats.frames, FRAMES);
    // The mutations really produced both short and corrupted packets.
    assert.ok(stats.nullPackets > FRAMES / 100, `null packets: ${stats.nullPackets}`);
    assert.ok(stats.badChecksum > FRAMES / 10, `bad checksums: ${stats.badChecksum}`);
    assert.ok(stats.streams >= FRAMES / STREAM_BATCH - 1);
  });

  it('decodeEvent: every event code × every body length 0…200, random and derived bodies', () => {
    const rng = new Rng(SEED ^ 0x500);
    let calls = 0;
    for (const code of EVENT_CODES) {
      for (let len = 0; len <= 200; len++) {
        ctx = `event code ${code}, length ${len}`;
        const valid = encodeAttEventBody({ userId: userId(rng, false), verify: 1, state: 0, time: wallClock(rng) }, 52);
        const derived = Buffer.concat([valid, valid, valid, valid]).subarray(0, len);
        for (const body of [rng.bytes(len), Buffer.alloc(len), Buffer.alloc(len, 0xff), derived]) {
          checkEvents(code, body);
          calls++;
        }
      }
    }
    assert.equal(calls, EVENT_CODES.length * 201 * 4);
  });

  it('layout detection on structured look-alikes: valid records with a few corrupted bytes', () => {
    const rng = new Rng(SEED ^ 0x8);
    for (let i = 0; i < 5000; i++) {
      ctx = `look-alike ${i}`;
      const sample = makeSample(rng, rng.bool() ? 'att' : 'users');
      const data = Buffer.from(sample.packet.subarray(12));
      for (let j = rng.int(3); j > 0 && data.length > 0; j--) data[rng.int(data.length)] = rng.int(256);
      if (sample.kind === 'att') checkAttendance(data, rng.pick([null, 0, sample.count, sample.count + 1]));
      else checkUsers(data, rng.pick([null, 0, sample.count, sample.count - 1]), 'utf8');
    }
  });
});
