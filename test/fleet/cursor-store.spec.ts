import { strict as assert } from 'assert';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { spawn } from 'child_process';
import { CursorStore, DeviceCursor, cursorFileName } from '../../lib/fleet';

const cursor = (n: number): DeviceCursor => ({
  count: n,
  lastLocalTime: '2024-05-01T08:00:00',
  idsAtLast: [`SN|${n}|2024-05-01T08:00:00`],
  updatedAt: new Date(0).toISOString(),
});

describe('fleet: CursorStore', () => {
  let dir: string;
  beforeEach(() => (dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pf-cursors-'))));
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('saves, reloads in a new store, keeps keys apart, file names safe', async () => {
    const a = new CursorStore(path.join(dir, 'sub'));
    assert.equal(a.get('SN1'), null);
    await a.set('SN1', cursor(1));
    await a.set('[::1]:4370', cursor(2));
    const b = new CursorStore(path.join(dir, 'sub'));
    assert.deepEqual(b.get('SN1'), cursor(1));
    assert.deepEqual(b.get('[::1]:4370'), cursor(2));
    assert.match(cursorFileName('[::1]:4370'), /^[A-Za-z0-9._%-]+$/);
    assert.deepEqual(
      fs.readdirSync(path.join(dir, 'sub')).filter((f) => f.endsWith('.tmp')),
      [],
    );
  });

  it('a lagging save syncs the file but not the directory: one fsync instead of two', async () => {
    const store = new CursorStore(dir);
    await store.set('SN1', cursor(1)); // creates the directory entry
    const h = await fs.promises.open(path.join(dir, 'SN1.json'), 'r');
    const proto = Object.getPrototypeOf(h) as { sync: () => Promise<void> };
    await h.close();
    const sync = proto.sync;
    let syncs = 0;
    proto.sync = function (this: unknown) {
      syncs++;
      return sync.call(this);
    };
    try {
      await store.set('SN1', cursor(2), true);
      assert.equal(syncs, 1, 'lagging save');
      assert.deepEqual(new CursorStore(dir).get('SN1'), cursor(2));
      syncs = 0;
      await store.set('SN1', cursor(3));
      assert.equal(syncs, 2, 'durable save: file and directory');
      assert.deepEqual(new CursorStore(dir).get('SN1'), cursor(3));
    } finally {
      proto.sync = sync;
    }
  });

  it('the last of several quick saves wins', async () => {
    const s = new CursorStore(dir);
    await Promise.all([1, 2, 3, 4, 5].map((n) => s.set('SN', cursor(n))));
    assert.equal(new CursorStore(dir).get('SN')?.count, 5);
  });

  it('a damaged file is moved aside, reported, and the device starts fresh', () => {
    fs.writeFileSync(path.join(dir, cursorFileName('SN')), '{"version":1,"key":"SN","cursor":{"count":');
    const warnings: string[] = [];
    const s = new CursorStore(dir, (_l, m) => warnings.push(m));
    assert.equal(s.get('SN'), null);
    assert.equal(warnings.length, 1);
    assert.match(warnings[0], /damaged/);
    assert.equal(fs.readdirSync(dir).filter((f) => f.includes('.corrupt-')).length, 1);
  });

  it('crash safety: a process killed while saving in a loop leaves a valid old or new cursor', async function () {
    this.timeout(20000);
    const script = `
      const { CursorStore } = require(${JSON.stringify(path.resolve(__dirname, '../../lib/fleet/cursor-store.ts'))});
      const s = new CursorStore(${JSON.stringify(dir)});
      let n = 0;
      (async () => { for (;;) { n++; await s.set('SN', { count: n, lastLocalTime: null, idsAtLast: ['x'.repeat(n % 5000)], updatedAt: '' }); if (n === 20) process.stdout.write('go\\n'); } })();
    `;
    for (let round = 0; round < 3; round++) {
      // SIGKILL at a random moment after saving started: no chance to clean up, like a power cut to the process.
      const child = spawn(process.execPath, ['-r', 'ts-node/register/transpile-only', '-e', script], {
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      await new Promise<void>((resolve, reject) => {
        child.stdout.once('data', () => setTimeout(() => child.kill('SIGKILL'), 5 + round * 37));
        child.once('exit', () => resolve());
        child.once('error', reject);
      });
      const c = new CursorStore(dir, () => assert.fail('no damaged file expected')).get('SN');
      assert.ok(c && c.count >= 20, `round ${round}: a valid cursor`);
      assert.equal(c.idsAtLast[0].length, c.count % 5000);
    }
  });
});
