/**
 * zk-sink runtime: validation at the door, the durable outbox (append + fsync before done()), and the
 * delivery loop to the configured target. Output 1: `{target, inserted, duplicates, rejected, batch}` after
 * each commit. Output 2: invalid records and permanent rejections, each naming the field or reason.
 */
import type { Node, NodeAPI, NodeMessage } from 'node-red';
import type { AttendanceRecord } from '../../lib/record';
import { createSink, DeliveryLoop, Outbox } from '../../lib/sinks';
import type { RejectedRecord, Sink } from '../../lib/sinks/types';
import { checkPayload, DoorError } from './door';
import { statusFor } from './sink-status';
import { fmtCount, ThrottledStatus } from '../shared/status';
import { nodeLogger, stateDir, tellKeptState, userDirOf } from '../shared/runtime';
import { deliverySettings, sinkConfigFromDef, TlsFiller, ZkSinkCredentials, ZkSinkDef } from './sink-node-config';

type ZkSinkNode = Node<ZkSinkCredentials>;
export = (RED: NodeAPI): void => {
  function ZkSink(this: ZkSinkNode, def: ZkSinkDef): void {
    RED.nodes.createNode(this, def);
    const node = this;
    const userDir = userDirOf(RED.settings, node);
    const outboxDir = stateDir({ userDir }, node, 'outbox', node.id);
    let sink: Sink | null = null;
    let outbox: Outbox<AttendanceRecord> | null = null;
    let loop: DeliveryLoop | null = null;
    let sent = 0;
    let closing = false;

    const status = new ThrottledStatus(node);

    const sendErrors = (
      errors: DoorError[],
      msg: NodeMessage | null,
      send: (m: (NodeMessage | null)[]) => void,
    ): void => {
      for (const e of errors) {
        send([
          null,
          {
            ...(msg ?? {}),
            topic: 'invalid',
            payload: e,
            error: { message: e.reason, source: { id: node.id, type: 'zk-sink' } },
          } as NodeMessage,
        ]);
      }
    };
    const sendRejected = (rejected: RejectedRecord[]): void => {
      for (const r of rejected) {
        node.send([
          null,
          {
            topic: 'rejected',
            payload: { field: null, reason: r.reason, record: r.record },
            error: { message: r.reason },
          } as NodeMessage,
        ]);
      }
    };

    const ready: Promise<void> = (async () => {
      const settings = deliverySettings(def);
      const tlsNode = def.tls ? (RED.nodes.getNode(def.tls) as (Node & { addTLSOptions?: TlsFiller }) | null) : null;
      const config = sinkConfigFromDef(def, node.credentials ?? {}, userDir, tlsNode?.addTLSOptions?.bind(tlsNode));
      const s = createSink(config, nodeLogger(node));
      sink = s;
      const box = await Outbox.open<AttendanceRecord>(outboxDir, {
        onCorrupt: (c) =>
          node.warn(`outbox ${outboxDir}: skipped an unreadable line (${c.bytes} bytes in segment ${c.seg})`),
      });
      if (closing) {
        await box.close();
        return;
      }
      outbox = box;
      if (box.pending > 0) node.log(`replaying ${fmtCount(box.pending)} records from the outbox`);
      loop = new DeliveryLoop({
        sink: s,
        outbox: box,
        ...settings,
        onCommit: (report) => {
          sent += report.inserted + report.duplicates;
          node.send([{ topic: report.target, payload: report }, null]);
        },
        onRejected: sendRejected,
        onState: (st) => status.set(statusFor(st, sent, s.held?.() ?? 0), st.state === 'retry'),
        onTransientError: (err, attempt) => {
          if (attempt === 0) node.warn(`${config.target}: ${err.message} (records kept, retrying)`);
        },
      });
      loop.start();
      status.set(
        statusFor({ state: box.pending ? 'sending' : 'idle', pending: box.pending }, sent, s.held?.() ?? 0),
        true,
      );
    })();
    ready.catch((err: Error) => {
      node.error(`zk-sink: ${err.message}`);
      status.set({ fill: 'red', shape: 'ring', text: err.message.slice(0, 40) }, true);
    });

    node.on('input', (msg: NodeMessage, send, done) => {
      const { valid, invalid } = checkPayload((msg as { payload?: unknown }).payload);
      if (invalid.length > 0) sendErrors(invalid, msg, send);
      if (valid.length === 0) return done();
      ready
        .then(() => {
          if (!outbox) throw new Error('zk-sink is closing');
          // done() only once the records are fsynced: from here on, nothing can lose them.
          return outbox.append(valid);
        })
        .then(
          () => {
            if (outbox && loop)
              status.set(statusFor({ state: 'sending', pending: outbox.pending }, sent, sink?.held?.() ?? 0));
            done();
          },
          (err: Error) => done(new Error(`zk-sink: records not queued: ${err.message}`)),
        );
    });

    node.on('close', (removed: boolean, done: () => void) => {
      closing = true;
      status.close();
      // Records stay in the outbox even when the node is removed: deleting them would lose punches.
      tellKeptState(node, removed, [
        { dir: outboxDir, what: 'queued records', why: 'so records not yet written to the target are not lost' },
        {
          dir: stateDir({ userDir }, node, 'parked', `${node.id}.json`),
          what: 'parked Access punches',
          why: 'until ZKTime has their users',
        },
        {
          dir: stateDir({ userDir }, node, 'http-acked', node.id),
          what: 'acknowledged HTTP ids',
          why: 'so a resent batch is not counted twice',
        },
      ]);
      const finish = async (): Promise<void> => {
        await ready.catch(() => undefined);
        await loop?.stop();
        await sink?.close().catch((err: Error) => node.warn(`zk-sink: closing the target: ${err.message}`));
        await outbox?.close();
        outbox = null;
      };
      finish().then(done, (err: Error) => {
        node.warn(`zk-sink: close: ${err.message}`);
        done();
      });
    });
  }

  RED.nodes.registerType<ZkSinkNode, ZkSinkDef, Record<string, never>, ZkSinkCredentials>('zk-sink', ZkSink, {
    credentials: { password: { type: 'password' }, authValue: { type: 'password' }, mqttUser: { type: 'text' } },
  });
};
