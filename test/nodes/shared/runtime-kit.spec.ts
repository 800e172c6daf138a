/** The runtime kit every node uses: state directory, node logger, removal notice, status throttle. */
import { strict as assert } from 'assert';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { nodeLogger, stateDir, tellKeptState, userDirOf } from '../../../nodes/shared/runtime';
import { NodeStatus, ThrottledStatus } from '../../../nodes/shared/status';
import { LiveStatusView } from '../../../nodes/zk-live/live-status';
import { ProgressStatus } from '../../../nodes/zk-poll/progress-status';

/** A node's log calls, by level. */
function recorder() {
  const said = { log: [] as string[], warn: [] as string[], debug: [] as string[] };
  return {
    said,
    node: {
      id: 'n1',
      type: 'zk-test',
      name: 'Front door',
      log: (m: string) => said.log.push(m),
      warn: (m: string) => said.warn.push(m),
      debug: (m: string) => said.debug.push(m),
    },
  };
}

/** Status updates as they are shown; `next(n)` resolves once n have been shown. */
function statusRecorder() {
  const shown: NodeStatus[] = [];
  let waiter: { n: number; resolve: () => void } | null = null;
  return {
    shown,
    status(s: NodeStatus) {
      shown.push(s);
      if (waiter && shown.length >= waiter.n) waiter.resolve();
    },
    next(n: number): Promise<void> {
      if (shown.length >= n) return Promise.resolve();
      return new Promise((resolve) => (waiter = { n, resolve }));
    },
  };
}

describe('nodes/shared runtime kit', () => {
  describe('stateDir', () => {
    it('is <userDir>/punchflow/<parts> without a warning when Node-RED has a user directory', () => {
      const r = recorder();
      assert.equal(
        stateDir({ userDir: '/srv/nr' }, r.node, 'cursors', 'n1'),
        path.join('/srv/nr', 'punchflow', 'cursors', 'n1'),
      );
      assert.deepEqual(r.said.warn, []);
    });

    it('falls back to ~/.node-red (never the temporary directory) with one warning naming it', () => {
      for (const userDir of [undefined, '', 42]) {
        const r = recorder();
        const dir = stateDir({ userDir }, r.node, 'outbox', 'n1');
        assert.equal(dir, path.join(os.homedir(), '.node-red', 'punchflow', 'outbox', 'n1'));
        assert.equal(r.said.warn.length, 1);
        assert.match(r.said.warn[0], /no user directory/);
        assert.ok(r.said.warn[0].includes(path.join(os.homedir(), '.node-red')), r.said.warn[0]);
      }
      assert.equal(userDirOf({ userDir: '/x' }, recorder().node), '/x');
    });
  });

  describe('nodeLogger', () => {
    it('shows a warning once, repeats of the same text as debug until the quiet period is over', () => {
      const r = recorder();
      let t = 0;
      const log = nodeLogger(r.node, 1000, () => t);
      log('warn', 'read on 10.0.0.5:4370 failed: timeout');
      log('error', 'read on 10.0.0.5:4370 failed: timeout');
      log('warn', 'read on 10.0.0.6:4370 failed: timeout');
      assert.deepEqual(r.said.warn, ['read on 10.0.0.5:4370 failed: timeout', 'read on 10.0.0.6:4370 failed: timeout']);
      assert.deepEqual(r.said.debug, ['read on 10.0.0.5:4370 failed: timeout']);
      t = 1000;
      log('warn', 'read on 10.0.0.5:4370 failed: timeout');
      assert.equal(r.said.warn.length, 3, 'said again after the quiet period');
    });

    it('sends info and debug to debug, never to the warning log', () => {
      const r = recorder();
      const log = nodeLogger(r.node);
      log('info', 'Access: 12 badges');
      log('debug', 'dropped a late reply');
      assert.deepEqual(r.said.debug, ['Access: 12 badges', 'dropped a late reply']);
      assert.deepEqual(r.said.warn, []);
    });
  });

  describe('tellKeptState', () => {
    let dir: string;
    beforeEach(() => (dir = fs.mkdtempSync(path.join(os.tmpdir(), 'punchflow-kit-'))));
    afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

    it('on removal names each folder that exists, what it holds and why it stays', () => {
      const r = recorder();
      const kept = [
        { dir, what: 'cursors', why: 'so a node restored with the same id resumes' },
        { dir: path.join(dir, 'never-written'), what: 'queued records', why: 'so nothing is lost' },
      ];
      const said = tellKeptState(r.node, true, kept);
      assert.equal(said.length, 1);
      assert.deepEqual(r.said.log, said);
      assert.ok(said[0].includes(dir) && said[0].includes('cursors') && said[0].includes('Front door'), said[0]);
      assert.match(said[0], /was removed/);
    });

    it('says nothing on a redeploy or restart (removed false)', () => {
      const r = recorder();
      assert.deepEqual(tellKeptState(r.node, false, [{ dir, what: 'cursors', why: 'x' }]), []);
      assert.deepEqual(r.said.log, []);
    });
  });

  describe('ThrottledStatus', () => {
    it('shows the first update at once, then the last of a burst once the gap has passed', async () => {
      const rec = statusRecorder();
      const st = new ThrottledStatus(rec, 30);
      for (let i = 1; i <= 50; i++) st.set({ fill: 'blue', shape: 'dot', text: `${i}` });
      assert.deepEqual(
        rec.shown.map((s) => s.text),
        ['1'],
      );
      await rec.next(2);
      assert.deepEqual(
        rec.shown.map((s) => s.text),
        ['1', '50'],
      );
      st.close();
    });

    it('forced updates go out at once; a function is computed when shown', () => {
      const rec = statusRecorder();
      let t = 0;
      const st = new ThrottledStatus(rec, 500, () => t);
      let computed = 0;
      st.set({ fill: 'blue', shape: 'dot', text: 'a' });
      st.set(() => {
        computed++;
        return { fill: 'green', shape: 'dot', text: 'b' };
      });
      assert.equal(computed, 0, 'not computed while held back');
      st.set({ fill: 'red', shape: 'ring', text: 'error' }, true);
      assert.deepEqual(
        rec.shown.map((s) => s.text),
        ['a', 'error'],
      );
      assert.equal(computed, 0);
      t = 1000;
      st.set(() => ({ fill: 'green', shape: 'dot', text: `at ${t}` }));
      assert.deepEqual(
        rec.shown.map((s) => s.text),
        ['a', 'error', 'at 1000'],
      );
      st.close();
      st.set({ fill: 'green', shape: 'dot', text: 'after close' }, true);
      assert.equal(rec.shown.length, 3, 'nothing after close');
    });

    it('zk-live and zk-poll status views go through it: an error is shown at once over held-back progress', () => {
      const rec = statusRecorder();
      let t = 0;
      const view = new LiveStatusView(rec, 500, () => t);
      view.add('a');
      view.punch();
      view.error('bad comm key');
      assert.deepEqual(
        rec.shown.map((s) => s.text),
        ['connecting', 'bad comm key'],
      );
      view.close();

      const rec2 = statusRecorder();
      const progress = new ProgressStatus(rec2, 500, () => t);
      progress.devices(1, 3);
      progress.devices(2, 3);
      progress.summary(3, 0, 12, false, false);
      assert.deepEqual(
        rec2.shown.map((s) => s.text),
        ['1/3 devices', '3 ok · 12 new'],
      );
      t = 10;
      progress.devices(1, 3);
      assert.equal(rec2.shown.length, 2, 'a progress update right after the summary waits its turn');
      progress.close();
    });
  });
});
