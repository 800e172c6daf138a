import { strict as assert } from 'assert';
import { Reply } from '../../lib/protocol';
import { startSimulators } from '../../lib/sim';
import { RawTcp } from './raw-client';

describe('sim: startSimulators', () => {
  it('starts several devices with distinct ports, seeds and serials, all reachable', async () => {
    const sims = await startSimulators({ devices: 3, host: '127.0.0.1', seed: 100, users: 3, records: 5 });
    try {
      assert.equal(new Set(sims.map((s) => s.port)).size, 3);
      assert.equal(new Set(sims.map((s) => s.serial)).size, 3);
      for (const s of sims) {
        const c = await RawTcp.connectTo(s.port);
        assert.equal((await c.connect()).command, Reply.ACK_OK);
        await c.close();
      }
    } finally {
      await Promise.all(sims.map((s) => s.stop()));
    }
  });
});
