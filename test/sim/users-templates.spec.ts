/**
 * The simulator's user and template commands as a device answers them, driven packet by packet with the raw
 * client (TCP and UDP): what is refused, what is kept, and the fault knobs.
 */
import { strict as assert } from 'assert';
import {
  Cmd,
  Reply,
  Fct,
  encodeUserRecord,
  encodeTemplateWrite,
  encodeDeleteFinger,
  encodeUploadSize,
  uploadChecksum,
  encodePrepareBuffer,
  TEMPLATES_SELECTOR,
  decodeTemplateEntries,
  decodeFreeSizes,
} from '../../lib/protocol';
import { RawTcp, RawUdp } from './raw-client';
import { withSim } from './support';

type Raw = RawTcp | RawUdp;

async function upload(c: Raw, data: Buffer, chunk = 1024): Promise<number[]> {
  const codes = [(await c.request(Cmd.PREPARE_DATA, encodeUploadSize(data.length))).command];
  for (let off = 0; off < data.length; off += chunk)
    codes.push((await c.request(Cmd.DATA, data.subarray(off, off + chunk))).command);
  return codes;
}

for (const transport of ['tcp', 'udp'] as const) {
  describe(`sim: users and templates (${transport.toUpperCase()})`, () => {
    async function connected(port: number): Promise<Raw> {
      const c = transport === 'tcp' ? await RawTcp.connectTo(port) : await RawUdp.open(port);
      await c.connect();
      return c;
    }

    it('USER_WRQ upserts by uid, DELETE_USER deletes the user and their templates; uid 0 is refused', async () => {
      await withSim({ users: 0, records: 0 }, async (sim, port) => {
        const c = await connected(port);
        try {
          const ok = await c.request(
            Cmd.USER_WRQ,
            encodeUserRecord({ uid: 4, userId: 'W4', name: 'Four', cardNo: 9 }, 72),
          );
          assert.equal(ok.command, Reply.ACK_OK);
          assert.equal(
            (await c.request(Cmd.USER_WRQ, encodeUserRecord({ uid: 0, userId: 'W0' }, 72))).command,
            Reply.ACK_ERROR,
          );
          assert.equal((await c.request(Cmd.USER_WRQ, Buffer.alloc(10))).command, Reply.ACK_ERROR);
          assert.deepEqual(
            sim.users.map((u) => [u.uid, u.userId, u.cardNo]),
            [[4, 'W4', 9]],
          );
          sim.addTemplate({ userId: 'W4', finger: 2, data: Buffer.from([1, 2, 3]) });
          const del = Buffer.alloc(2);
          del.writeUInt16LE(4, 0);
          assert.equal((await c.request(Cmd.DELETE_USER, del)).command, Reply.ACK_OK);
          assert.equal(sim.users.length, 0);
          assert.equal(sim.templates.length, 0, "the firmware deletes a user's fingerprints with the user");
        } finally {
          await c.close();
        }
      });
    });

    it('the upload sequence stores a template; each step out of order is refused', async () => {
      // A direct DATA reply for the template table, whatever its size, keeps the raw read to one packet.
      await withSim({ users: 2, records: 0, faults: { directReplyMaxBytes: 65536 } }, async (sim, port) => {
        const c = await connected(port);
        try {
          const u = sim.users[1];
          const data = Buffer.from(Array.from({ length: 2100 }, (_, i) => (i * 7) & 0xff));
          // TMP_WRITE and CHECKSUM_BUFFER with no upload, DATA without PREPARE_DATA.
          assert.equal(
            (await c.request(Cmd.TMP_WRITE, encodeTemplateWrite({ uid: u.uid, finger: 1, flag: 1, size: 3 }))).command,
            Reply.ACK_ERROR,
          );
          assert.equal((await c.request(Cmd.CHECKSUM_BUFFER)).command, Reply.ACK_ERROR);
          assert.equal((await c.request(Cmd.DATA, Buffer.from([1]))).command, Reply.ACK_ERROR);
          assert.deepEqual(await upload(c, data), [Reply.ACK_OK, Reply.ACK_OK, Reply.ACK_OK, Reply.ACK_OK]);
          assert.equal((await c.request(Cmd.DATA, Buffer.from([1]))).command, Reply.ACK_ERROR, 'more than announced');
          const sum = await c.request(Cmd.CHECKSUM_BUFFER);
          assert.equal(sum.payload.readUInt32LE(0), uploadChecksum(data));
          // No such user; finger 10; size larger than the upload.
          assert.equal(
            (await c.request(Cmd.TMP_WRITE, encodeTemplateWrite({ uid: 999, finger: 1, flag: 1, size: data.length })))
              .command,
            Reply.ACK_ERROR,
          );
          assert.equal(
            (
              await c.request(
                Cmd.TMP_WRITE,
                encodeTemplateWrite({ uid: u.uid, finger: 10, flag: 1, size: data.length }),
              )
            ).command,
            Reply.ACK_ERROR,
          );
          assert.equal(
            (
              await c.request(
                Cmd.TMP_WRITE,
                encodeTemplateWrite({ uid: u.uid, finger: 1, flag: 1, size: data.length + 1 }),
              )
            ).command,
            Reply.ACK_ERROR,
          );
          assert.equal(
            (await c.request(Cmd.TMP_WRITE, encodeTemplateWrite({ uid: u.uid, finger: 1, flag: 3, size: data.length })))
              .command,
            Reply.ACK_OK,
          );
          assert.equal((await c.request(Cmd.FREE_DATA)).command, Reply.ACK_OK);
          assert.equal(
            (await c.request(Cmd.TMP_WRITE, encodeTemplateWrite({ uid: u.uid, finger: 2, flag: 1, size: 1 }))).command,
            Reply.ACK_ERROR,
            'FREE_DATA dropped the upload',
          );
          assert.deepEqual(
            sim.templates.map((t) => [t.userId, t.finger, t.flag, t.data.equals(data)]),
            [[u.userId, 1, 3, true]],
          );

          const sizes = decodeFreeSizes((await c.request(Cmd.GET_FREE_SIZES)).payload);
          assert.equal(sizes.fingers, 1);
          // The template table through the buffered read.
          const table = await c.request(Cmd.PREPARE_BUFFER, encodePrepareBuffer(TEMPLATES_SELECTOR));
          assert.equal(table.command, Cmd.DATA);
          const entries = decodeTemplateEntries(table.payload.subarray(4));
          assert.deepEqual(
            entries.map((e) => [e.uid, e.finger, e.flag, e.data.length]),
            [[u.uid, 1, 3, 2100]],
          );
          await c.request(Cmd.FREE_DATA);

          assert.equal(
            (await c.request(Cmd.DEL_FPTMP, encodeDeleteFinger(u.userId, 2))).command,
            Reply.ACK_ERROR,
            'no finger 2',
          );
          assert.equal((await c.request(Cmd.DEL_FPTMP, encodeDeleteFinger('nobody', 1))).command, Reply.ACK_ERROR);
          assert.equal((await c.request(Cmd.DEL_FPTMP, encodeDeleteFinger(u.userId, 1))).command, Reply.ACK_OK);
          assert.equal(sim.templates.length, 0);
          sim.addTemplate({ userId: u.userId, finger: 0, data: Buffer.from([5]) });
          sim.addTemplate({ userId: u.userId, finger: 9, data: Buffer.from([6]) });
          const all = Buffer.alloc(3);
          all.writeUInt16LE(u.uid, 0);
          assert.equal((await c.request(Cmd.DELETE_USERTEMP, all)).command, Reply.ACK_OK);
          assert.equal(sim.templates.length, 0);
          sim.addTemplate({ userId: u.userId, finger: 0, data: Buffer.from([5]) });
          assert.equal((await c.request(Cmd.CLEAR_DATA, Buffer.from([Fct.FINGERTMP]))).command, Reply.ACK_OK);
          assert.equal(sim.templates.length, 0);
          assert.equal(sim.users.length, 2, 'clearing templates keeps the users');
        } finally {
          await c.close();
        }
      });
    });

    it('fault knobs: dropUserWrites (per PIN), errorReplyFor, stallUploadAfterBytes', async () => {
      await withSim(
        { users: 2, records: 0, faults: { dropUserWrites: ['D1'], errorReplyFor: [Cmd.DELETE_USER] } },
        async (sim, port) => {
          const c = await connected(port);
          try {
            assert.equal(
              (await c.request(Cmd.USER_WRQ, encodeUserRecord({ uid: 50, userId: 'D1' }, 72))).command,
              Reply.ACK_OK,
            );
            assert.equal(
              (await c.request(Cmd.USER_WRQ, encodeUserRecord({ uid: 51, userId: 'D2' }, 72))).command,
              Reply.ACK_OK,
            );
            assert.deepEqual(sim.users.map((u) => u.userId).slice(2), ['D2'], 'D1 acknowledged but not kept');
            const del = Buffer.alloc(2);
            del.writeUInt16LE(51, 0);
            assert.equal((await c.request(Cmd.DELETE_USER, del)).command, Reply.ACK_ERROR);
            assert.equal(sim.users.length, 3);
            await sim.setFaults({ errorReplyFor: undefined, stallUploadAfterBytes: 1500 });
            assert.deepEqual((await upload(c, Buffer.alloc(1000, 1), 1000)).length, 2, 'below the threshold: answered');
            await c.request(Cmd.FREE_DATA);
            await c.request(Cmd.PREPARE_DATA, encodeUploadSize(3000));
            assert.equal((await c.request(Cmd.DATA, Buffer.alloc(1024))).command, Reply.ACK_OK);
            c.replyId++;
            c.sendPacket(Cmd.DATA, Buffer.alloc(1024));
            await assert.rejects(c.next(300), /no packet/, 'silent once 1,500 bytes arrived');
            c.replyId++;
            c.sendPacket(Cmd.GET_TIME);
            await assert.rejects(c.next(300), /no packet/, 'and stays silent on this connection');
          } finally {
            await c.close();
          }
          const fresh = await connected(port);
          try {
            assert.equal((await fresh.request(Cmd.GET_TIME)).command, Reply.ACK_OK, 'a new connection is answered');
          } finally {
            await fresh.close();
          }
        },
      );
    });
  });
}
