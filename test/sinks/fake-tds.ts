/**
 * An in-process fake SQL Server (docs/targets.md §4.6) on 127.0.0.1: just enough TDS 7.4 for mssql/tedious to log in
 * without TLS, run SQL batches and sp_executesql RPCs, and begin/commit/rollback transactions. Every request is
 * decoded (UCS-2 SQL text, parameter names, wire types and values) and handed to a test-supplied handler, which
 * answers with a row count, a result set or an error token.
 *
 * Packet framing and the PRELOGIN payload are written here rather than deep-required from tedious/lib (the
 * first prototype did that): the framing is a few lines, and it keeps the test independent of tedious internals.
 * Transactions follow the TDS and SQL Server documentation: BEGIN/COMMIT/ROLLBACK answer with the transaction
 * ENVCHANGE tokens (types 8, 9, 10); an error SQL Server documents as ending the transaction (a deadlock victim,
 * 1205; conversion errors such as 241/242/245, which abort the batch and roll back even with XACT_ABORT OFF)
 * sends the rollback ENVCHANGE after the error token; COMMIT or ROLLBACK with no transaction open gets
 * 3902/3903. `nocount` models a server whose user options turn NOCOUNT on: DONE tokens carry no row count
 * until the connection runs SET NOCOUNT OFF.
 * What it does not do: TLS, T-SQL semantics (handlers simulate what they need), bulk load, MARS, attention
 * handling beyond a DONE reply.
 */
import * as net from 'node:net';

export type TdsValue = string | number | bigint | boolean | null;

export interface TdsParam {
  name: string;
  /** 'nvarchar' | 'varchar' | 'intn' | 'bitn' (the TDS wire type). */
  wireType: string;
  /** For (n)varchar: the declared maximum in bytes (0xFFFF = MAX); for intn: the size. */
  maxLength: number;
  value: TdsValue;
}

export interface TdsRequest {
  connectionId: number;
  kind: 'batch' | 'rpc';
  /** The batch text, or sp_executesql's @statement. */
  sql: string;
  /** sp_executesql's @params declaration list ('' for batches). */
  declarations: string;
  /** The statement's own parameters (not @statement/@params). */
  params: TdsParam[];
}

export type TdsColumnType = 'nvarchar' | 'int';
export interface TdsResultSet {
  columns: { name: string; type: TdsColumnType }[];
  rows: (string | number | null)[][];
}

/** What one statement of a request produced. */
export interface TdsStatementResult {
  rowsAffected?: number;
  resultSet?: TdsResultSet;
}

export interface TdsReply {
  rowsAffected?: number;
  resultSet?: TdsResultSet;
  /** Several statements' results, in order (e.g. a trigger's INSERT, then the statement's own count). */
  results?: TdsStatementResult[];
  error?: { number: number; message: string; state?: number; class?: number };
  /** Override whether the error ends the open transaction (default: by number, see TX_ENDING_ERRORS). */
  endsTransaction?: boolean;
  /** Destroy the socket instead of answering (a network failure mid-request). */
  destroy?: boolean;
}

export type TdsHandler = (req: TdsRequest) => TdsReply | Promise<TdsReply>;
/** 'rollback' with byServer: the server ended the transaction itself (an error that dooms it). */
export type TxEvent = {
  connectionId: number;
  op: 'begin' | 'commit' | 'rollback' | 'other';
  byServer?: boolean;
  noTransaction?: boolean;
};

export interface FakeTdsOptions {
  /** Server-wide NOCOUNT (the 'user options' bit 512): no row counts until SET NOCOUNT OFF on the connection. */
  nocount?: boolean;
}

/** Errors after which SQL Server has rolled the transaction back: deadlock victim, and batch-aborting conversions. */
export const TX_ENDING_ERRORS: ReadonlySet<number> = new Set([1205, 241, 242, 245]);

// TDS packet types.
const PT_SQL_BATCH = 0x01;
const PT_RPC = 0x03;
const PT_REPLY = 0x04;
const PT_ATTENTION = 0x06;
const PT_TXN = 0x0e;
const PT_LOGIN7 = 0x10;
const PT_PRELOGIN = 0x12;

/** SQL_Latin1_General_CP1_CI_AS: tedious refuses VarChar parameters until the server names a collation. */
const COLLATION = Buffer.from([0x09, 0x04, 0xd0, 0x00, 0x34]);
const PACKET_DATA = 4096 - 8;

function ucs2(s: string): Buffer {
  return Buffer.from(s, 'utf16le');
}
function bVarchar(s: string): Buffer {
  return Buffer.concat([Buffer.from([s.length]), ucs2(s)]);
}
function usVarchar(s: string): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16LE(s.length);
  return Buffer.concat([b, ucs2(s)]);
}
function token(type: number, body: Buffer): Buffer {
  const h = Buffer.alloc(3);
  h.writeUInt8(type, 0);
  h.writeUInt16LE(body.length, 1);
  return Buffer.concat([h, body]);
}

const DONE_MORE = 0x01;
const DONE_ERROR = 0x02;
const DONE_COUNT = 0x10;
const DONE_ATTN = 0x20;
function done(type: 0xfd | 0xfe | 0xff, status: number, count: number): Buffer {
  const b = Buffer.alloc(13);
  b.writeUInt8(type, 0);
  b.writeUInt16LE(status, 1);
  b.writeUInt16LE(0xc1, 3); // current command: SELECT/INSERT is not checked by tedious
  b.writeBigUInt64LE(BigInt(count), 5);
  return b;
}

function loginAck(): Buffer {
  const version = Buffer.from([0x74, 0x00, 0x00, 0x04]); // TDS 7.4, big-endian on the wire
  const body = Buffer.concat([
    Buffer.from([0x01]),
    version,
    bVarchar('PunchFlow fake TDS'),
    Buffer.from([16, 0, 0, 1]),
  ]);
  return token(0xad, body);
}
function envCollation(): Buffer {
  return token(0xe3, Buffer.concat([Buffer.from([7, COLLATION.length]), COLLATION, Buffer.from([0])]));
}
/** ENVCHANGE for a transaction (8 begin, 9 commit, 10 rollback): B_VARBYTE new value, B_VARBYTE old value. */
function envTransaction(type: 8 | 9 | 10, newValue: Buffer, oldValue: Buffer): Buffer {
  return token(
    0xe3,
    Buffer.concat([Buffer.from([type, newValue.length]), newValue, Buffer.from([oldValue.length]), oldValue]),
  );
}
function errorToken(e: NonNullable<TdsReply['error']>): Buffer {
  const head = Buffer.alloc(6);
  head.writeInt32LE(e.number, 0);
  head.writeUInt8(e.state ?? 1, 4);
  head.writeUInt8(e.class ?? 14, 5);
  const line = Buffer.alloc(4);
  line.writeInt32LE(1);
  return token(0xaa, Buffer.concat([head, usVarchar(e.message), bVarchar('fake-tds'), bVarchar(''), line]));
}

function resultSetTokens(rs: TdsResultSet): Buffer {
  const parts: Buffer[] = [];
  const cm = Buffer.alloc(3);
  cm.writeUInt8(0x81, 0);
  cm.writeUInt16LE(rs.columns.length, 1);
  parts.push(cm);
  for (const c of rs.columns) {
    const head = Buffer.alloc(6); // UserType u32, Flags u16 (nullable)
    head.writeUInt16LE(0x0001, 4);
    const ti = c.type === 'int' ? Buffer.from([0x26, 4]) : Buffer.concat([Buffer.from([0xe7, 0x40, 0x1f]), COLLATION]);
    parts.push(head, ti, bVarchar(c.name));
  }
  for (const row of rs.rows) {
    parts.push(Buffer.from([0xd1]));
    rs.columns.forEach((c, i) => {
      const v = row[i];
      if (c.type === 'int') {
        if (v === null || v === undefined) parts.push(Buffer.from([0]));
        else {
          const b = Buffer.alloc(5);
          b.writeUInt8(4, 0);
          b.writeInt32LE(Number(v), 1);
          parts.push(b);
        }
      } else if (v === null || v === undefined) {
        parts.push(Buffer.from([0xff, 0xff]));
      } else {
        const data = ucs2(String(v));
        const l = Buffer.alloc(2);
        l.writeUInt16LE(data.length);
        parts.push(l, data);
      }
    });
  }
  return Buffer.concat(parts);
}

function preloginReply(): Buffer {
  // Options: VERSION(6) ENCRYPTION(1) INSTOPT(1) THREADID(4) MARS(1), then the terminator.
  const opts: [number, Buffer][] = [
    [0x00, Buffer.from([16, 0, 0x07, 0xd0, 0, 0])],
    [0x01, Buffer.from([0x02])], // ENCRYPT_NOT_SUP: the whole session, login included, stays plain
    [0x02, Buffer.from([0x00])],
    [0x03, Buffer.alloc(4)],
    [0x04, Buffer.from([0x00])],
  ];
  const headerLen = opts.length * 5 + 1;
  const heads: Buffer[] = [];
  const datas: Buffer[] = [];
  let offset = headerLen;
  for (const [t, d] of opts) {
    const h = Buffer.alloc(5);
    h.writeUInt8(t, 0);
    h.writeUInt16BE(offset, 1);
    h.writeUInt16BE(d.length, 3);
    heads.push(h);
    datas.push(d);
    offset += d.length;
  }
  return Buffer.concat([...heads, Buffer.from([0xff]), ...datas]);
}

/** Reads the parameter stream of an RPC request. */
class Reader {
  pos = 0;
  constructor(readonly buf: Buffer) {}
  u8(): number {
    return this.buf.readUInt8(this.pos++);
  }
  u16(): number {
    const v = this.buf.readUInt16LE(this.pos);
    this.pos += 2;
    return v;
  }
  u32(): number {
    const v = this.buf.readUInt32LE(this.pos);
    this.pos += 4;
    return v;
  }
  bytes(n: number): Buffer {
    const b = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return b;
  }
  get done(): boolean {
    return this.pos >= this.buf.length;
  }
}

function readTypedValue(r: Reader): { wireType: string; maxLength: number; value: TdsValue } {
  const type = r.u8();
  switch (type) {
    case 0xe7:
    case 0xa7: {
      const unicode = type === 0xe7;
      const maxLength = r.u16();
      r.bytes(5); // collation
      let data: Buffer | null;
      if (maxLength === 0xffff) {
        const lo = r.u32();
        const hi = r.u32();
        if (lo === 0xffffffff && hi === 0xffffffff) data = null;
        else {
          const chunks: Buffer[] = [];
          for (let n = r.u32(); n !== 0; n = r.u32()) chunks.push(r.bytes(n));
          data = Buffer.concat(chunks);
        }
      } else {
        const n = r.u16();
        data = n === 0xffff ? null : r.bytes(n);
      }
      // VarChar arrives in the collation's code page (1252); the tests send ASCII there.
      const value = data === null ? null : unicode ? data.toString('utf16le') : data.toString('latin1');
      return { wireType: unicode ? 'nvarchar' : 'varchar', maxLength, value };
    }
    case 0x26: {
      const size = r.u8();
      const n = r.u8();
      if (n === 0) return { wireType: 'intn', maxLength: size, value: null };
      const b = r.bytes(n);
      const value =
        n === 1 ? b.readUInt8(0) : n === 2 ? b.readInt16LE(0) : n === 4 ? b.readInt32LE(0) : b.readBigInt64LE(0);
      return {
        wireType: 'intn',
        maxLength: size,
        value:
          typeof value === 'bigint' &&
          value <= BigInt(Number.MAX_SAFE_INTEGER) &&
          value >= BigInt(Number.MIN_SAFE_INTEGER)
            ? Number(value)
            : value,
      };
    }
    case 0x68: {
      const size = r.u8();
      const n = r.u8();
      return { wireType: 'bitn', maxLength: size, value: n === 0 ? null : r.u8() === 1 };
    }
    default:
      throw new Error(`fake TDS: parameter wire type 0x${type.toString(16)} not decoded`);
  }
}

function parseRpc(payload: Buffer, connectionId: number): TdsRequest {
  const r = new Reader(payload);
  r.pos = payload.readUInt32LE(0); // skip ALL_HEADERS
  const nameLen = r.u16();
  let proc: string | number;
  if (nameLen === 0xffff) proc = r.u16();
  else proc = r.bytes(nameLen * 2).toString('utf16le');
  r.u16(); // option flags
  const all: TdsParam[] = [];
  while (!r.done) {
    const n = r.u8();
    const name = r.bytes(n * 2).toString('utf16le');
    r.u8(); // status flags
    all.push({ name, ...readTypedValue(r) });
  }
  if (proc !== 10 && proc !== 'sp_executesql') throw new Error(`fake TDS: RPC ${String(proc)} not supported`);
  const [stmt, decl, ...params] = all;
  return { connectionId, kind: 'rpc', sql: String(stmt?.value ?? ''), declarations: String(decl?.value ?? ''), params };
}

export interface FakeTdsServer {
  port: number;
  requests: TdsRequest[];
  transactions: TxEvent[];
  /** Sockets accepted so far. */
  connections: number;
  setHandler(h: TdsHandler): void;
  close(): Promise<void>;
}

const defaultHandler: TdsHandler = () => ({ rowsAffected: 0 });

export async function startFakeTds(
  handler: TdsHandler = defaultHandler,
  options: FakeTdsOptions = {},
): Promise<FakeTdsServer> {
  let h = handler;
  let descriptors = 0;
  const sockets = new Set<net.Socket>();
  const state: FakeTdsServer = {
    port: 0,
    requests: [],
    transactions: [],
    connections: 0,
    setHandler: (x) => {
      h = x;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };

  const server = net.createServer((socket) => {
    const id = ++state.connections;
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    let pending = Buffer.alloc(0);
    let message: Buffer[] = [];
    let queue: Promise<void> = Promise.resolve();
    /** The open transaction's descriptor on this connection, or null. */
    let tx: Buffer | null = null;
    let nocount = !!options.nocount;

    const send = (type: number, payload: Buffer): void => {
      let offset = 0;
      let packetId = 1;
      do {
        const part = payload.subarray(offset, offset + PACKET_DATA);
        offset += part.length;
        const head = Buffer.alloc(8);
        head.writeUInt8(type, 0);
        head.writeUInt8(offset >= payload.length ? 0x01 : 0x00, 1);
        head.writeUInt16BE(part.length + 8, 2);
        head.writeUInt16BE(id, 4);
        head.writeUInt8(packetId++ & 0xff, 6);
        if (!socket.destroyed) socket.write(Buffer.concat([head, part]));
      } while (offset < payload.length);
    };

    const answer = async (type: number, payload: Buffer): Promise<void> => {
      switch (type) {
        case PT_PRELOGIN:
          return send(PT_REPLY, preloginReply());
        case PT_LOGIN7:
          return send(PT_REPLY, Buffer.concat([loginAck(), envCollation(), done(0xfd, DONE_COUNT, 0)]));
        case PT_ATTENTION:
          return send(PT_REPLY, done(0xfd, DONE_ATTN, 0));
        case PT_TXN: {
          const kind = payload.readUInt16LE(payload.readUInt32LE(0));
          const op = kind === 5 ? 'begin' : kind === 7 ? 'commit' : kind === 8 ? 'rollback' : 'other';
          if ((op === 'commit' || op === 'rollback') && !tx) {
            state.transactions.push({ connectionId: id, op, noTransaction: true });
            const number = op === 'commit' ? 3902 : 3903;
            const message = `The ${op.toUpperCase()} TRANSACTION request has no corresponding BEGIN TRANSACTION.`;
            return send(
              PT_REPLY,
              Buffer.concat([errorToken({ number, message, class: 16 }), done(0xfd, DONE_ERROR, 0)]),
            );
          }
          state.transactions.push({ connectionId: id, op });
          let env: Buffer = Buffer.alloc(0);
          if (op === 'begin') {
            tx = Buffer.alloc(8);
            tx.writeBigUInt64LE(BigInt(++descriptors));
            env = envTransaction(8, tx, Buffer.alloc(0));
          } else if (op === 'commit' || op === 'rollback') {
            env = envTransaction(op === 'commit' ? 9 : 10, Buffer.alloc(0), tx as Buffer);
            tx = null;
          }
          return send(PT_REPLY, Buffer.concat([env, done(0xfd, 0, 0)]));
        }
        case PT_SQL_BATCH:
        case PT_RPC: {
          const req: TdsRequest =
            type === PT_RPC
              ? parseRpc(payload, id)
              : {
                  connectionId: id,
                  kind: 'batch',
                  sql: payload.subarray(payload.readUInt32LE(0)).toString('utf16le'),
                  declarations: '',
                  params: [],
                };
          state.requests.push(req);
          const reply = await h(req);
          if (reply.destroy) {
            socket.destroy();
            return;
          }
          if (req.kind === 'batch') {
            const set = /\bSET\s+NOCOUNT\s+(ON|OFF)\b/i.exec(req.sql);
            if (set) nocount = set[1].toUpperCase() === 'ON';
          }
          const rpc = type === PT_RPC;
          const parts: Buffer[] = [];
          // Statements inside sp_executesql end with DONEINPROC (mssql counts rowsAffected from it), a batch's with DONE.
          const statementDone = (status: number, count: number): Buffer =>
            done(rpc ? 0xff : 0xfd, (nocount ? status & ~DONE_COUNT : status) | DONE_MORE, count);
          const results: TdsStatementResult[] =
            reply.results ?? (reply.error ? [] : [{ rowsAffected: reply.rowsAffected, resultSet: reply.resultSet }]);
          for (const r of results) {
            if (r.resultSet) {
              parts.push(resultSetTokens(r.resultSet));
              // Under NOCOUNT the rows still arrive; only the count is left out.
              parts.push(statementDone(DONE_COUNT, r.resultSet.rows.length));
            } else {
              parts.push(statementDone(DONE_COUNT, r.rowsAffected ?? 0));
            }
          }
          if (reply.error) {
            parts.push(errorToken(reply.error));
            const ends = reply.endsTransaction ?? TX_ENDING_ERRORS.has(reply.error.number);
            if (ends && tx) {
              parts.push(envTransaction(10, Buffer.alloc(0), tx));
              tx = null;
              state.transactions.push({ connectionId: id, op: 'rollback', byServer: true });
            }
            parts.push(statementDone(DONE_ERROR, 0));
          }
          if (parts.length === 0) parts.push(statementDone(DONE_COUNT, 0));
          if (rpc) {
            const rs = Buffer.alloc(5);
            rs.writeUInt8(0x79, 0); // RETURNSTATUS 0
            parts.push(rs, done(0xfe, reply.error ? DONE_ERROR : 0, 0));
          } else {
            // The batch's last DONE ends the reply (no DONE_MORE).
            const last = parts.pop() as Buffer;
            last.writeUInt16LE(last.readUInt16LE(1) & ~DONE_MORE, 1);
            parts.push(last);
          }
          return send(PT_REPLY, Buffer.concat(parts));
        }
        default:
          socket.destroy();
      }
    };

    socket.on('data', (chunk: Buffer) => {
      pending = Buffer.concat([pending, chunk]);
      while (pending.length >= 8) {
        const len = pending.readUInt16BE(2);
        if (pending.length < len) break;
        const type = pending.readUInt8(0);
        const eom = (pending.readUInt8(1) & 0x01) !== 0;
        message.push(pending.subarray(8, len));
        pending = pending.subarray(len);
        if (eom) {
          const payload = Buffer.concat(message);
          message = [];
          // Requests on one connection are answered in order.
          queue = queue
            .then(() => answer(type, payload))
            .catch(() => {
              socket.destroy();
            });
        }
      }
    });
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  state.port = (server.address() as net.AddressInfo).port;
  return state;
}
