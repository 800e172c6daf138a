/**
 * zk-dedupe runtime: passes on records whose id it has not seen (output 1) and sends the rest to output 2
 * for audit. One record in → one record out; an array in → an array out; empty arrays are not sent. The
 * seen ids persist in the user directory (lib/dedupe/store.ts).
 */
import * as path from 'path';
import type { Node, NodeAPI, NodeDef, NodeMessage } from 'node-red';
import { DedupeStore, RepeatRule } from '../../lib/dedupe';
import { readSetting, SETTING_RULES } from '../shared/setting-rules';
import { fmtCount, ThrottledStatus } from '../shared/status';
import { stateDir, tellKeptState } from '../shared/runtime';

interface ZkDedupeDef extends NodeDef {
  maxKeys?: number | string;
  retentionDays?: number | string;
  repeatSeconds?: number | string;
  repeatMode?: 'drop' | 'mark';
}

interface Keyed {
  id: string;
  deviceSn?: unknown;
  userId?: unknown;
  timestamp?: unknown;
  repeat?: boolean;
}

const isKeyed = (v: unknown): v is Keyed =>
  v !== null &&
  typeof v === 'object' &&
  typeof (v as { id?: unknown }).id === 'string' &&
  (v as { id: string }).id.length > 0;

export = (RED: NodeAPI): void => {
  function ZkDedupe(this: Node, def: ZkDedupeDef): void {
    RED.nodes.createNode(this, def);
    const node = this;
    const dir = stateDir(RED.settings, node, 'dedupe');
    const status = new ThrottledStatus(node);
    let store: DedupeStore | null = null;
    let passed = 0;
    let dropped = 0;
    let repeat: RepeatRule | null = null;
    let repeatMode: 'drop' | 'mark' = 'drop';

    const ready: Promise<void> = (async () => {
      const R = SETTING_RULES['zk-dedupe'];
      const maxKeys = readSetting(R.maxKeys, def.maxKeys);
      const retentionMs = readSetting(R.retentionDays, def.retentionDays) * 86_400_000;
      const repeatSec = readSetting(R.repeatSeconds, def.repeatSeconds);
      repeatMode = def.repeatMode === 'mark' ? 'mark' : 'drop';
      if (repeatSec > 0) repeat = new RepeatRule(repeatSec * 1000);
      const s = await DedupeStore.open({ dir, name: node.id, maxKeys, retentionMs });
      store = s;
      status.set({ fill: 'green', shape: 'dot', text: `${fmtCount(s.set.size)} ids known` }, true);
    })();
    ready.catch((err: Error) => {
      node.error(`zk-dedupe: ${err.message}`);
      status.set({ fill: 'red', shape: 'ring', text: err.message.slice(0, 40) }, true);
    });

    /** Decides one record: true = pass (possibly marked), false = duplicate/repeat. */
    const decide = (s: DedupeStore, r: Keyed): boolean => {
      if (!s.add(r.id)) return false;
      if (
        repeat &&
        typeof r.deviceSn === 'string' &&
        typeof r.userId === 'string' &&
        typeof r.timestamp === 'string' &&
        repeat.isRepeat(r.deviceSn, r.userId, r.timestamp)
      ) {
        if (repeatMode === 'drop') return false;
        r.repeat = true;
      }
      return true;
    };

    node.on('input', (msg: NodeMessage, send, done) => {
      ready.then(
        () => {
          const s = store as DedupeStore;
          const payload = (msg as { payload?: unknown }).payload;
          const isArray = Array.isArray(payload);
          const items: unknown[] = isArray ? (payload as unknown[]) : [payload];
          const pass: unknown[] = [];
          const dup: unknown[] = [];
          const bad: string[] = [];
          items.forEach((item, i) => {
            if (!isKeyed(item)) {
              bad.push(isArray ? `payload[${i}].id` : 'payload.id');
              return;
            }
            (decide(s, item) ? pass : dup).push(item);
          });
          passed += pass.length;
          dropped += dup.length;
          const out1 = pass.length === 0 ? null : { ...msg, payload: isArray ? pass : pass[0] };
          const out2 = dup.length === 0 ? null : { ...msg, payload: isArray ? dup : dup[0] };
          if (out1 || out2) send([out1, out2]);
          status.set({ fill: 'green', shape: 'dot', text: `${fmtCount(passed)} new · ${fmtCount(dropped)} dup` });
          if (bad.length > 0) {
            done(
              new Error(
                `zk-dedupe: ${bad.slice(0, 3).join(', ')}${bad.length > 3 ? ` and ${bad.length - 3} more` : ''}: must be a non-empty string (record not passed on)`,
              ),
            );
          } else done();
        },
        (err: Error) => done(err),
      );
    });

    node.on('close', (removed: boolean, done: () => void) => {
      status.close();
      // The seen ids are kept (in one folder shared by every zk-dedupe, one file per node).
      tellKeptState(node, removed, [
        {
          dir: path.join(dir, `${node.id.replace(/[^A-Za-z0-9._-]/g, '_')}.log`),
          what: 'seen ids',
          why: 'so a node restored with the same id still drops repeats',
        },
      ]);
      ready
        .catch(() => undefined)
        .then(() => store?.close())
        .then(
          () => done(),
          (err: Error) => {
            node.warn(`zk-dedupe: saving seen ids: ${err.message}`);
            done();
          },
        );
    });
  }

  RED.nodes.registerType('zk-dedupe', ZkDedupe);
};
