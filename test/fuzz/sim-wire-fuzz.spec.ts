/**
 * Fuzz of the simulator's parser over real loopback sockets: ≥100,000 random and mutated request frames
 * over TCP (split at random points, on authenticated and unauthenticated connections, some ending in
 * broken framing) and UDP (runts, random datagrams). Afterwards the simulator must still serve a normal
 * client with exact data: nothing thrown, nothing wedged.
 */
import { strict as assert } from 'assert';
import * as net from 'net';
import * as dgram from 'dgram';
import { ZkSimulator } from '../../lib/sim';
import { ZkClient } from '../../lib/client';
import {
  Cmd,
  Reply,
  encodePacket,
  frameTcp,
  encodePrepareBuffer,
  encodeReadBuffer,
  ATTLOG_SELECTOR,
  USERS_SELECTOR,
  makeCommKey,
} from '../../lib/protocol';
import { Rng } from '../support/prng';
import { checkNoLeaks } from '../support/handles';
import { assertSameAttendance } from '../support/expect-data';
import { sleep } from '../../support/wait';

const HOST = '127.0.0.1';
const SEED = Number(process.env.ZK_FUZZ_SEED ?? 7177);
const FRAMES = Number(process.env.ZK_FUZZ_FRAMES ?? 100000);

/** Valid-looking request payloads for the commands a device parses, to mutate from. */
function requestTemplate(rng: Rng): { command: number; payload: Buffer } {
  const t = rng.int(12);
  switch (t) {
    case 0:
      return {
        command: Cmd.PREPARE_BUFFER,
        payload: encodePrepareBuffer(rng.bool() ? ATTLOG_SELECTOR : USERS_SELECTOR),
      };
    case 1:
      return {
        command: Cmd.READ_BUFFER,
        payload: encodeReadBuffer({ start: rng.int(5000), size: rng.pick([0, 1, 100, 4004, 65472, rng.u32()]) }),
      };
    case 2:
      return {
        command: Cmd.OPTIONS_RRQ,
        payload: Buffer.from(rng.pick(['~SerialNumber', '~DeviceName\0', 'MAC\0', 'x', '']), 'latin1'),
      };
    case 3:
      return { command: Cmd.REG_EVENT, payload: rng.bytes(rng.pick([0, 2, 4])) };
    case 4:
      return { command: Cmd.AUTH, payload: rng.bytes(rng.pick([0, 3, 4])) };
    case 5:
      return { command: Cmd.GET_FREE_SIZES, payload: Buffer.alloc(0) };
    case 6:
      return { command: Cmd.GET_TIME, payload: Buffer.alloc(0) };
    case 7:
      return { command: Cmd.GET_PINWIDTH, payload: Buffer.from([0x20, 0x50]) };
    case 8:
      return { command: Cmd.DISABLEDEVICE, payload: rng.bytes(rng.pick([0, 4])) };
    case 9:
      return { command: Reply.ACK_OK, payload: Buffer.alloc(0) };
    case 10:
      return { command: Cmd.FREE_DATA, payload: Buffer.alloc(0) };
    default:
      return { command: rng.int(65536), payload: rng.bytes(rng.int(120)) };
  }
}

function fuzzFrame(rng: Rng, session: number, replyId: number): Buffer {
  const { command, payload } = requestTemplate(rng);
  let pkt = encodePacket({ command, session: rng.bool(0.9) ? session : rng.int(65536), replyId, payload });
  const m = rng.int(6);
  if (m === 0) pkt[rng.int(pkt.length)] ^= 1 << rng.int(8);
  else if (m === 1 && pkt.length > 8) pkt = pkt.subarray(0, 8 + rng.int(pkt.length - 8));
  else if (m === 2) pkt = Buffer.concat([pkt, rng.bytes(rng.int(40))]);
  return pkt;
}

async function tcpBatch(port: number, rng: Rng, frames: number, authKey: number | null): Promise<number> {
  const s = net.connect(port, HOST);
  s.on('error', () => undefined);
  await new Promise<void>((resolve, reject) => {
    s.once('connect', () => resolve());
    s.once('error', reject);
  });
  let session = 0;
  if (authKey !== null) {
    // A real session first, so most frames reach the command handlers rather than ACK_UNAUTH.
    const got = new Promise<Buffer>((resolve) => s.once('data', resolve));
    s.write(frameTcp(encodePacket({ command: Cmd.CONNECT, session: 0, replyId: 0, payload: Buffer.alloc(0) })));
    const reply = await got;
    session = reply.readUInt16LE(12);
    if (authKey > 0)
      s.write(
        frameTcp(encodePacket({ command: Cmd.AUTH, session, replyId: 1, payload: makeCommKey(authKey, session) })),
      );
  }
  s.on('data', () => undefined); // read and discard the answers
  const parts: Buffer[] = [];
  for (let i = 0; i < frames; i++) parts.push(frameTcp(fuzzFrame(rng, session, (i + 2) % 65535)));
  if (rng.bool(0.3))
    parts.push(rng.bool() ? rng.bytes(rng.int(30)) : Buffer.from([0x50, 0x50, 0x82, 0x7d, 0xff, 0xff, 0xff, 0xff]));
  const wire = Buffer.concat(parts);
  for (let off = 0; off < wire.length;) {
    const len = 1 + rng.int(3000);
    s.write(wire.subarray(off, off + len));
    off += len;
  }
  await sleep(5);
  s.destroy();
  return frames;
}

describe('fuzz: the simulator parser against hostile clients', function () {
  this.timeout(120000);
  checkNoLeaks();

  it(`takes ${FRAMES.toLocaleString('en')} random and mutated frames over TCP and UDP, then serves exact data`, async () => {
    const commKey = 4242;
    const sim = new ZkSimulator({ host: HOST, port: 0, seed: 9, users: 20, records: 500, commKey });
    const { port } = await sim.start();
    const rng = new Rng(SEED);
    let sent = 0;
    try {
      const tcpShare = Math.floor(FRAMES * 0.8);
      while (sent < tcpShare) {
        const authKey = rng.pick([commKey, commKey, 1, null]);
        sent += await tcpBatch(port, rng, Math.min(2000, tcpShare - sent), authKey);
      }
      const u = dgram.createSocket('udp4');
      await new Promise<void>((r) => u.bind(0, HOST, () => r()));
      u.on('message', () => undefined);
      while (sent < FRAMES) {
        const d = rng.bool(0.1) ? rng.bytes(rng.int(8)) : fuzzFrame(rng, rng.int(65536), rng.int(65535));
        await new Promise<void>((r) => u.send(d, port, HOST, () => r()));
        sent++;
      }
      await new Promise<void>((r) => u.close(() => r()));

      // Still a working device: a clean client reads everything it holds now.
      const c = new ZkClient({ host: HOST, port, commKey, timeoutMs: 3000 });
      await c.connect();
      try {
        const att = await c.attendance();
        assertSameAttendance(att.records, sim.records);
      } finally {
        await c.close();
      }
      assert.ok(sent >= FRAMES);
      const seen = Object.values(sim.counters.commandsSeen).reduce((a, b) => a + b, 0);
      assert.ok(seen > FRAMES / 2, `the simulator parsed only ${seen} commands`);
    } finally {
      await sim.stop();
    }
  });
});
