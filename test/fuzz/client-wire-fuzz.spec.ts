/**
 * Fuzz of the client's parser over real loopback sockets: a hostile "device" answers every request
 * with a storm of random and mutated frames (wrong reply ids, events with random bodies, garbage payloads
 * under the right reply id, broken framing, short datagrams). Every client call must settle with data or
 * a ZkError; nothing may escape (mocha fails the test on any uncaught exception or unhandled rejection).
 */
import { strict as assert } from 'assert';
import * as net from 'net';
import * as dgram from 'dgram';
import { ZkClient } from '../../lib/client';
import { ZkError } from '../../lib/errors';
import {
  Cmd,
  Reply,
  TcpFrameSplitter,
  decodePacket,
  encodePacket,
  frameTcp,
  encodeAttEventBody,
  encodeFreeSizes,
  encodeBufferStat,
  encodePrepareData,
  DecodedPacket,
} from '../../lib/protocol';
import { Rng } from '../support/prng';
import { checkNoLeaks } from '../support/handles';

const HOST = '127.0.0.1';
const SEED = Number(process.env.ZK_FUZZ_SEED ?? 20261122);
const FRAMES = Number(process.env.ZK_FUZZ_FRAMES ?? 100000);
const SESSION = 0x1234;

/** A plausible reply for a request, so that the client gets far enough to meet the noise. */
function plausibleReply(rng: Rng, req: DecodedPacket): Buffer[] {
  const r = (command: number, payload: Buffer = Buffer.alloc(0)) =>
    encodePacket({ command, session: SESSION, replyId: req.replyId, payload });
  switch (req.command) {
    case Cmd.GET_FREE_SIZES:
      return [
        r(
          Reply.ACK_OK,
          encodeFreeSizes(
            {
              users: 1,
              fingers: 0,
              records: rng.int(3),
              opLogs: 0,
              admins: 0,
              passwords: 0,
              fingersCapacity: 1,
              usersCapacity: 1,
              recordsCapacity: 10,
              fingersAvailable: 0,
              usersAvailable: 0,
              recordsAvailable: 0,
            },
            true,
          ),
        ),
      ];
    case Cmd.PREPARE_BUFFER:
      return rng.bool()
        ? [r(Cmd.DATA, rng.bytes(rng.int(90)))]
        : [r(Reply.ACK_OK, encodeBufferStat(rng.range(4, 300)))];
    case Cmd.READ_BUFFER: {
      const size = req.payload.length >= 8 ? req.payload.readUInt32LE(4) : 0;
      return [
        r(Cmd.PREPARE_DATA, encodePrepareData(size, 1008)),
        r(Cmd.DATA, rng.bytes(rng.int(size + 3))),
        r(Reply.ACK_OK),
      ];
    }
    case Cmd.GET_TIME:
      return [r(Reply.ACK_OK, rng.bytes(rng.pick([0, 2, 4, 4, 4, 8])))];
    default:
      return [
        r(
          rng.pick([Reply.ACK_OK, Reply.ACK_OK, Reply.ACK_ERROR, Reply.ACK_UNAUTH, Reply.ACK_UNKNOWN]),
          rng.bytes(rng.int(6)),
        ),
      ];
  }
}

/** One noise packet: random header fields (sometimes the pending reply id), events, garbage payloads. */
function noisePacket(rng: Rng, replyId: number): Buffer {
  const kind = rng.int(5);
  if (kind === 0) {
    const len = rng.pick([0, 7, 10, 12, 14, 20, 32, 36, 37, 52, 104, 105, rng.int(300)]);
    const body = rng.bool()
      ? encodeAttEventBody(
          {
            userId: String(rng.int(99999)),
            verify: rng.int(256),
            state: rng.int(256),
            time: {
              year: 2000 + rng.int(120),
              month: rng.int(14),
              day: rng.int(33),
              hour: rng.int(26),
              minute: rng.int(62),
              second: rng.int(62),
            },
          },
          len,
        )
      : rng.bytes(len);
    return encodePacket({
      command: Cmd.REG_EVENT,
      session: rng.pick([1, 2, 4, 512, rng.int(65536)]),
      replyId: rng.int(3),
      payload: body,
    });
  }
  const command = rng.pick([
    Reply.ACK_OK,
    Reply.ACK_ERROR,
    Reply.ACK_UNAUTH,
    Cmd.DATA,
    Cmd.PREPARE_DATA,
    Reply.ACK_UNKNOWN,
    rng.int(65536),
  ]);
  const pkt = encodePacket({
    command,
    session: rng.int(65536),
    replyId: kind === 1 ? replyId : rng.int(65536),
    payload: rng.bytes(rng.pick([0, 1, 3, 4, 8, 13, 80, 92, rng.int(2000)])),
  });
  if (rng.bool(0.1)) pkt[rng.int(pkt.length)] ^= 1 << rng.int(8); // a broken checksum or header bit
  return pkt;
}

class HostileDevice {
  framesSent = 0;
  private readonly rng: Rng;
  private server: net.Server | null = null;
  private udp: dgram.Socket | null = null;
  private readonly sockets = new Set<net.Socket>();
  constructor(
    seed: number,
    private readonly noisePerReply: number,
  ) {
    this.rng = new Rng(seed);
  }

  async start(): Promise<number> {
    this.server = net.createServer((s) => this.onTcp(s));
    await new Promise<void>((r) => this.server?.listen(0, HOST, () => r()));
    const port = (this.server.address() as net.AddressInfo).port;
    this.udp = dgram.createSocket('udp4');
    this.udp.on('message', (msg, rinfo) => this.onUdp(msg, rinfo));
    await new Promise<void>((r) => this.udp?.bind(port, HOST, () => r()));
    return port;
  }

  async stop(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((r) => (this.server ? this.server.close(() => r()) : r()));
    await new Promise<void>((r) => (this.udp ? this.udp.close(() => r()) : r()));
  }

  private respond(req: DecodedPacket): Buffer[] {
    const rng = this.rng;
    if (req.command === Cmd.CONNECT)
      return [
        encodePacket({ command: Reply.ACK_OK, session: SESSION, replyId: req.replyId, payload: Buffer.alloc(0) }),
      ];
    if (req.command === Reply.ACK_OK) return []; // an event ACK
    const out: Buffer[] = [];
    const n = rng.int(this.noisePerReply * 2 + 1);
    for (let i = 0; i < n; i++) out.push(noisePacket(rng, req.replyId));
    const reply = plausibleReply(rng, req);
    // Sometimes no proper reply at all (the client must time out), sometimes noise after it.
    if (!rng.bool(0.05)) out.splice(rng.int(out.length + 1), 0, ...reply);
    return out;
  }

  private onTcp(s: net.Socket): void {
    this.sockets.add(s);
    s.on('close', () => this.sockets.delete(s));
    s.on('error', () => undefined);
    const splitter = new TcpFrameSplitter();
    s.on('data', (chunk: Buffer) => {
      let reqs: Buffer[];
      try {
        reqs = splitter.push(chunk);
      } catch {
        s.destroy();
        return;
      }
      for (const raw of reqs) {
        const req = decodePacket(raw);
        if (!req) continue;
        const frames = this.respond(req).map((p) => frameTcp(p));
        this.framesSent += frames.length;
        let wire = Buffer.concat(frames);
        // Rarely: a frame with a broken magic or an absurd length (the client must drop the connection).
        if (this.rng.bool(0.003))
          wire = Buffer.concat([
            wire,
            this.rng.bool() ? Buffer.from('GARBAGE!') : Buffer.from([0x50, 0x50, 0x82, 0x7d, 0xff, 0xff, 0xff, 0x7f]),
          ]);
        // Random segmentation, so frames are split and coalesced on the way.
        for (let off = 0; off < wire.length;) {
          const len = 1 + this.rng.int(1500);
          s.write(wire.subarray(off, off + len));
          off += len;
        }
      }
    });
  }

  private onUdp(msg: Buffer, rinfo: dgram.RemoteInfo): void {
    const req = decodePacket(msg);
    if (!req || !this.udp) return;
    for (const p of this.respond(req)) {
      this.framesSent++;
      const dg = this.rng.bool(0.02) ? p.subarray(0, this.rng.int(8)) : p; // runt datagrams too
      this.udp.send(dg, rinfo.port, rinfo.address);
    }
  }
}

describe('fuzz: the client parser against a hostile device', function () {
  this.timeout(120000);
  checkNoLeaks();

  for (const transport of ['tcp', 'udp'] as const) {
    it(`${transport.toUpperCase()}: every call settles with data or a ZkError (${FRAMES.toLocaleString('en')} frames)`, async () => {
      const target = FRAMES;
      const device = new HostileDevice(SEED + (transport === 'tcp' ? 0 : 1), 25);
      const port = await device.start();
      const rng = new Rng(SEED);
      const outcomes = { ok: 0, zkErrors: 0, byCode: {} as Record<string, number> };
      try {
        while (device.framesSent < target) {
          const c = new ZkClient({
            host: HOST,
            port,
            transport,
            timeoutMs: 40,
            chunkTimeoutMs: 40,
            ackGraceMs: 10,
            chunkRetries: 1,
            heartbeatMs: 200,
          });
          try {
            await c.connect();
            const live = await c.live().catch(() => null);
            for (let i = 0; i < 40 && c.connected && device.framesSent < target; i++) {
              const op = rng.pick(['time', 'sizes', 'att', 'users', 'info'] as const);
              try {
                if (op === 'time') await c.getTime();
                else if (op === 'sizes') await c.freeSizes();
                else if (op === 'att') await c.attendance();
                else if (op === 'users') await c.users();
                else await c.info();
                outcomes.ok++;
              } catch (err) {
                assert.ok(
                  err instanceof ZkError,
                  `a ${op} call failed with a non-ZkError: ${(err as Error)?.stack ?? String(err)}`,
                );
                outcomes.zkErrors++;
                outcomes.byCode[err.code] = (outcomes.byCode[err.code] ?? 0) + 1;
              }
            }
            await live?.stop();
          } catch (err) {
            assert.ok(err instanceof ZkError, `connect failed with a non-ZkError: ${String(err)}`);
            outcomes.zkErrors++;
          } finally {
            await c.close();
          }
        }
      } finally {
        await device.stop();
      }
      assert.ok(device.framesSent >= target);
      // The storm must exercise both paths: some calls succeed through the noise, many fail typed.
      assert.ok(outcomes.ok > 0, `no call succeeded: ${JSON.stringify(outcomes)}`);
      assert.ok(outcomes.zkErrors > 0, `no call failed: ${JSON.stringify(outcomes)}`);
    });
  }
});
