/**
 * The MQTT target: hands records to a broker for the sink instances behind it (docs/architecture.md, "Several
 * instances"). A batch counts as written only when the broker acknowledged every message of it (QoS 1
 * PUBACK), so the outbox keeps the records until then. One message per device and batch, on a topic per
 * device; the payload is a JSON array of canonical records, each carrying its id, so the consumer (and the
 * database behind it) stays idempotent when a batch is published twice after a crash.
 */
import type { IClientOptions, MqttClient } from 'mqtt';
import type { AttendanceRecord } from '../record';
import { Sink, SinkError, SinkLogger, SinkWriteResult } from './types';

export const DEFAULT_RECORD_TOPIC = 'punchflow/records/{site}/{serial}';

/** MQTT 5 PUBACK reason: the broker took the message but no subscription matched, so nobody gets it. */
const NO_MATCHING_SUBSCRIBERS = 16;

export interface MqttTlsOptions {
  ca?: string | string[];
  cert?: string;
  key?: string;
  rejectUnauthorized?: boolean;
  servername?: string;
}

export interface MqttSinkOptions {
  /** mqtt://host:1883, mqtts://host:8883, ws:// or wss://. */
  url: string;
  /** Topic template: `{site}` and `{serial}` are replaced per device. Default punchflow/records/{site}/{serial}. */
  topic?: string;
  /** Default punchflow-sink-<random>: a publisher needs no persistent session. */
  clientId?: string;
  username?: string;
  password?: string;
  tls?: MqttTlsOptions;
  /** How long one batch may wait for its acknowledgements. Default 30 s. */
  ackTimeoutMs?: number;
  /** How long open() waits for the broker. Default 10 s. */
  connectTimeoutMs?: number;
  /** Records per message; larger device groups are split. Default 500. */
  maxRecordsPerMessage?: number;
}

/**
 * A topic level from a free-text value: MQTT wildcards and the level separator would change what a
 * subscriber matches, so they become `_`; an empty value is `_` (an empty level is legal but easy to miss).
 */
export function topicLevel(value: string | null | undefined): string {
  // eslint-disable-next-line no-control-regex -- NUL is one of the characters a topic level may not hold
  const v = (value ?? '').replace(/[+#/\u0000]/g, '_');
  return v.length > 0 ? v : '_';
}

export function recordTopic(template: string, record: Pick<AttendanceRecord, 'site' | 'deviceSn'>): string {
  return template.replace(/\{site\}/g, topicLevel(record.site)).replace(/\{serial\}/g, topicLevel(record.deviceSn));
}

/** Checks a topic template once, at start: a publish topic may not hold wildcards. */
export function checkTopicTemplate(template: string): void {
  if (!template) throw new SinkError('mqtt target: the topic is empty', true, 'mqtt');
  if (/[+#]/.test(template))
    throw new SinkError(
      `mqtt target: the topic ${JSON.stringify(template)} holds a wildcard (+ or #); a publish topic cannot`,
      true,
      'mqtt',
    );
  if (template.startsWith('$'))
    throw new SinkError(
      `mqtt target: the topic ${JSON.stringify(template)} starts with $, which brokers keep for themselves`,
      true,
      'mqtt',
    );
}

/** Groups a batch by topic, in order of first appearance, split into messages of at most `per` records. */
export function messagesFor(
  batch: readonly AttendanceRecord[],
  template: string,
  per: number,
): { topic: string; records: AttendanceRecord[] }[] {
  const groups = new Map<string, AttendanceRecord[]>();
  for (const r of batch) {
    const t = recordTopic(template, r);
    let g = groups.get(t);
    if (!g) groups.set(t, (g = []));
    g.push(r);
  }
  const out: { topic: string; records: AttendanceRecord[] }[] = [];
  for (const [topic, records] of groups) {
    for (let i = 0; i < records.length; i += per) out.push({ topic, records: records.slice(i, i + per) });
  }
  return out;
}

type MqttModule = { connect: (url: string, opts: IClientOptions) => MqttClient };

export class MqttSink implements Sink {
  readonly target = 'mqtt' as const;
  private client: MqttClient | null = null;
  private readonly template: string;
  /** PUBACK reason codes by message id, read once the publish resolved. */
  private readonly pubackCodes = new Map<number, number>();

  constructor(
    private readonly opts: MqttSinkOptions,
    private readonly logger?: SinkLogger,
  ) {
    let url: URL;
    try {
      url = new URL(opts.url);
    } catch {
      throw new SinkError(`mqtt target: invalid broker URL (expected e.g. mqtt://127.0.0.1:1883)`, true, 'mqtt');
    }
    if (!['mqtt:', 'mqtts:', 'ws:', 'wss:', 'tcp:', 'ssl:', 'tls:'].includes(url.protocol)) {
      throw new SinkError(`mqtt target: broker URL must start with mqtt://, mqtts://, ws:// or wss://`, true, 'mqtt');
    }
    this.template = opts.topic || DEFAULT_RECORD_TOPIC;
    checkTopicTemplate(this.template);
  }

  async open(): Promise<void> {
    if (this.client) return;
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const mqtt = require('mqtt') as MqttModule;
    const tls = this.opts.tls ?? {};
    const client = mqtt.connect(this.opts.url, {
      clientId: this.opts.clientId || `punchflow-sink-${Math.random().toString(16).slice(2, 10)}`,
      username: this.opts.username || undefined,
      password: this.opts.password || undefined,
      // MQTT 5: its PUBACK says "no matching subscribers" (reason 16), so a message nobody will read is not
      // taken for delivered (after a broker restart, for one, shared subscriptions may not be back yet).
      protocolVersion: 5,
      clean: true,
      reconnectPeriod: 1000,
      connectTimeout: this.opts.connectTimeoutMs ?? 10_000,
      // Nothing is queued in memory while offline: write() fails and the outbox keeps the records.
      queueQoSZero: false,
      ca: tls.ca,
      cert: tls.cert,
      key: tls.key,
      servername: tls.servername,
      rejectUnauthorized: tls.rejectUnauthorized !== false,
    });
    client.on('error', (err) => this.logger?.('debug', `mqtt target: ${err.message}`));
    client.on('packetreceive', (packet) => {
      if (packet.cmd === 'puback' && typeof packet.messageId === 'number')
        this.pubackCodes.set(packet.messageId, packet.reasonCode ?? 0);
    });
    this.client = client;
    // Wait for the first connection a little, so the first batch does not fail only because it came early;
    // a broker that is down is not an error here: write() says so and the outbox keeps the records.
    await new Promise<void>((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        client.off('connect', done);
        resolve();
      };
      const timer = setTimeout(done, this.opts.connectTimeoutMs ?? 10_000);
      client.on('connect', done);
    });
  }

  async write(batch: AttendanceRecord[]): Promise<SinkWriteResult> {
    if (!this.client) await this.open();
    const client = this.client as MqttClient;
    if (!client.connected) {
      throw new SinkError(
        `mqtt target: not connected to ${redactUrl(this.opts.url)} (records kept; check the broker and its address)`,
        false,
        'mqtt',
        'outage',
      );
    }
    const messages = messagesFor(batch, this.template, Math.max(1, this.opts.maxRecordsPerMessage ?? 500));
    const timeoutMs = this.opts.ackTimeoutMs ?? 30_000;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () =>
          reject(
            new SinkError(
              `mqtt target: the broker did not acknowledge within ${timeoutMs} ms (records kept)`,
              false,
              'mqtt',
              'outage',
            ),
          ),
        timeoutMs,
      );
    });
    try {
      const sent = await Promise.race([
        Promise.all(messages.map((m) => client.publishAsync(m.topic, JSON.stringify(m.records), { qos: 1 }))),
        timeout,
      ]);
      const unread: string[] = [];
      sent.forEach((packet, i) => {
        const id = packet?.messageId;
        const code = typeof id === 'number' ? this.pubackCodes.get(id) : undefined;
        if (typeof id === 'number') this.pubackCodes.delete(id);
        if (code === NO_MATCHING_SUBSCRIBERS) unread.push(messages[i].topic);
      });
      if (unread.length > 0) {
        throw new SinkError(
          `mqtt target: no one is subscribed to ${unread[0]}${unread.length > 1 ? ` and ${unread.length - 1} more topics` : ''} (records kept; start a sink instance, or check its topic and group)`,
          false,
          'mqtt',
          'outage',
        );
      }
    } catch (err) {
      if (err instanceof SinkError) throw err;
      // The broker never looks into a record: whatever fails here is about the broker or the link.
      throw new SinkError(`mqtt target: ${(err as Error).message} (records kept)`, false, 'mqtt', 'outage');
    } finally {
      clearTimeout(timer);
    }
    // The broker took every message; whether the database behind the consumers already had a record is
    // not known here, so all count as inserted (handed on).
    return { inserted: batch.length, duplicates: 0, rejected: [] };
  }

  async close(): Promise<void> {
    const c = this.client;
    this.client = null;
    if (c) await c.endAsync(true).catch(() => undefined);
  }
}

/** The URL without user info, for messages. */
function redactUrl(text: string): string {
  try {
    const u = new URL(text);
    u.username = '';
    u.password = '';
    return u.toString();
  } catch {
    return 'the broker';
  }
}

export function createMqttSink(options: MqttSinkOptions, logger?: SinkLogger): Sink {
  return new MqttSink(options, logger);
}
