/**
 * zk-mqtt-in: takes the records capture instances handed to an MQTT broker (zk-sink's mqtt target) and
 * acknowledges each message to the broker only once its records are safe downstream: every node the
 * message reached called done(), and zk-sink does that only after its outbox is synced. A crash before
 * that leaves the message unacknowledged in this instance's persistent session, and the broker sends it
 * again. Output 1: `{topic, payload: records[]}`; output 2: what is not a valid record, acknowledged so it
 * never comes back.
 */
import type { Node, NodeAPI, NodeDef, NodeMessage } from 'node-red';
import { ConsumedMessage, MqttConsumer, stableClientId } from '../../lib/mqtt/consumer';
import { checkPayload, DoorError } from '../zk-sink/door';
import { fmtCount, ThrottledStatus } from '../shared/status';
import { readSetting, SETTING_RULES } from '../shared/setting-rules';
import { DownstreamTracker, HookEvent, MARK } from './downstream';

interface ZkMqttInDef extends NodeDef {
  broker: string;
  topic?: string;
  group?: string;
  clientId?: string;
  maxMessageKiB?: number | string;
  ackTimeout?: number | string;
  tls?: string;
}

interface ZkMqttInCredentials {
  user?: string;
  password?: string;
}

type ZkMqttInNode = Node<ZkMqttInCredentials>;
type TlsNode = Node & { addTLSOptions?: (o: Record<string, unknown>) => void };

export = (RED: NodeAPI): void => {
  function ZkMqttIn(this: ZkMqttInNode, def: ZkMqttInDef): void {
    RED.nodes.createNode(this, def);
    const node = this;
    const status = new ThrottledStatus(node);
    const label = `zkmqttin${node.id.replace(/[^A-Za-z0-9]/g, '')}`;
    const tracker = new DownstreamTracker(node.id);
    let consumer: MqttConsumer | null = null;
    let received = 0;
    let invalid = 0;
    let connected = false;

    const show = (force = false): void => {
      status.set(
        connected
          ? {
              fill: 'green',
              shape: 'dot',
              text: `${fmtCount(received)} in${invalid ? ` · ${fmtCount(invalid)} bad` : ''}`,
            }
          : { fill: 'yellow', shape: 'ring', text: 'connecting' },
        force,
      );
    };

    const sendInvalid = (errors: DoorError[], mqttTopic: string): void => {
      invalid += errors.length;
      for (const e of errors) {
        node.send([
          null,
          {
            topic: 'invalid',
            mqttTopic,
            payload: e,
            error: { message: e.reason, source: { id: node.id, type: 'zk-mqtt-in' } },
          } as NodeMessage,
        ]);
      }
    };

    const badMessage = (mqttTopic: string, reason: string, bytes: number): void => {
      sendInvalid([{ field: 'payload', reason, errors: [reason], index: null, record: `[${bytes} bytes]` }], mqttTopic);
    };

    let maxBytes = 4 * 1024 * 1024;
    let ackTimeoutMs = 60_000;

    const handle = async (m: ConsumedMessage): Promise<void> => {
      if (m.payload.length > maxBytes) {
        badMessage(
          m.topic,
          `payload: ${fmtCount(m.payload.length)} bytes, over the limit of ${fmtCount(maxBytes)} (Max message); not records from zk-sink`,
          m.payload.length,
        );
        return show();
      }
      let parsed: unknown;
      try {
        parsed = JSON.parse(m.payload.toString('utf8'));
      } catch (err) {
        badMessage(
          m.topic,
          `payload: not JSON (${(err as Error).message}); expected an array of attendance records`,
          m.payload.length,
        );
        return show();
      }
      const { valid, invalid: bad } = checkPayload(parsed);
      if (bad.length > 0) sendInvalid(bad, m.topic);
      if (valid.length === 0) return show();
      const { mark, settled } = tracker.begin(ackTimeoutMs);
      node.send([{ topic: m.topic, payload: valid, redelivered: m.redelivered, [MARK]: mark } as NodeMessage, null]);
      tracker.sent(mark);
      await settled;
      // Counted once acknowledged (onAcked); messages are handled one at a time.
      handledRecords = valid.length;
    };
    let handledRecords = 0;

    // Every message in the runtime passes these hooks; they only look at ours.
    RED.hooks.add(`preDeliver.${label}`, (ev: unknown) => tracker.onDeliver(ev as HookEvent));
    RED.hooks.add(`onComplete.${label}`, (ev: unknown) => tracker.onComplete(ev as HookEvent));

    try {
      maxBytes = readSetting(SETTING_RULES['zk-mqtt-in'].maxMessageKiB, def.maxMessageKiB) * 1024;
      ackTimeoutMs = readSetting(SETTING_RULES['zk-mqtt-in'].ackTimeout, def.ackTimeout) * 1000;
      const tlsNode = def.tls ? (RED.nodes.getNode(def.tls) as TlsNode | null) : null;
      const tls: Record<string, unknown> = {};
      tlsNode?.addTLSOptions?.(tls);
      const creds = node.credentials ?? {};
      consumer = new MqttConsumer(
        {
          url: def.broker,
          clientId: stableClientId(def.clientId, node.id),
          topic: def.topic || 'punchflow/records/#',
          group: def.group ?? 'punchflow-sinks',
          username: creds.user || undefined,
          password: creds.password || undefined,
          tls,
        },
        handle,
        {
          onState: (st, detail) => {
            connected = st === 'connected';
            if (st === 'connected') show(true);
            else
              status.set(
                { fill: st === 'waiting' ? 'red' : 'yellow', shape: 'ring', text: detail ? detail.slice(0, 40) : st },
                true,
              );
          },
          onAcked: () => {
            received += handledRecords;
            handledRecords = 0;
            show();
          },
          onHandlerError: (err, m) =>
            node.warn(`zk-mqtt-in: a message on ${m.topic} was not acknowledged and will come again: ${err.message}`),
        },
      );
      consumer.start();
      show(true);
    } catch (err) {
      node.error(`zk-mqtt-in: ${(err as Error).message}`);
      status.set({ fill: 'red', shape: 'ring', text: (err as Error).message.slice(0, 40) }, true);
    }

    node.on('close', (_removed: boolean, done: () => void) => {
      status.close();
      RED.hooks.remove(`*.${label}`);
      tracker.abortAll('the node is closing');
      // Nothing is kept on disk here: unacknowledged messages wait in this instance's session at the broker.
      (consumer?.stop() ?? Promise.resolve()).then(done, () => done());
    });
  }

  RED.nodes.registerType<ZkMqttInNode, ZkMqttInDef, Record<string, never>, ZkMqttInCredentials>(
    'zk-mqtt-in',
    ZkMqttIn,
    {
      credentials: { user: { type: 'text' }, password: { type: 'password' } },
    },
  );
};
