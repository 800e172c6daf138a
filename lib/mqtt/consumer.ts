/**
 * Acknowledged consumption from an MQTT broker: a persistent session (fixed client id, clean=false) on a
 * QoS 1 subscription, usually shared (`$share/<group>/<topic>`) so several sink instances split the load.
 * Each message is acknowledged (PUBACK) only after the handler resolved, i.e. after the caller made the
 * records safe; a handler that fails leaves the message unacknowledged and drops the connection, so the
 * broker delivers it again after the reconnect (docs/architecture.md, "Several instances").
 *
 * The mqtt client handles one incoming packet at a time and waits for our acknowledgement before the next,
 * so a slow handler slows consumption (the broker holds the rest) instead of filling memory.
 */
import * as os from 'os';
import type { IClientOptions, MqttClient } from 'mqtt';

export interface MqttConsumerOptions {
  url: string;
  /** Must stay the same across restarts of this instance (its session lives at the broker under it). */
  clientId: string;
  /** Topic filter, e.g. punchflow/records/#. */
  topic: string;
  /** Shared-subscription group; empty: a plain subscription (every instance gets every message). */
  group?: string;
  username?: string;
  password?: string;
  tls?: { ca?: string | string[]; cert?: string; key?: string; rejectUnauthorized?: boolean; servername?: string };
  /** Seconds the broker keeps this instance's session while it is away; default: never expires. */
  sessionExpirySec?: number;
  /** Seconds; default 30. */
  keepalive?: number;
  /** Delay before reconnecting after a failed handler: doubles from baseMs up to maxMs. Default 1 s → 60 s. */
  backoff?: { baseMs: number; maxMs: number };
}

export interface ConsumedMessage {
  topic: string;
  payload: Buffer;
  /** The broker marked it as sent before (it was not acknowledged then). */
  redelivered: boolean;
}

export type ConsumerState = 'connecting' | 'connected' | 'disconnected' | 'waiting';

export interface ConsumerEvents {
  onState?: (state: ConsumerState, detail?: string) => void;
  /** The acknowledgement of a handled message went to the broker. */
  onAcked?: (message: ConsumedMessage) => void;
  /** A handler failure: the message stays with the broker and comes again. */
  onHandlerError?: (err: Error, message: ConsumedMessage) => void;
}

type MqttModule = { connect: (url: string, opts: IClientOptions) => MqttClient };

/**
 * The configured client id, or one from the host name and `key` (the node id): the same across restarts of
 * this instance, different on another host. A `${VAR}` Node-RED left unresolved counts as unset.
 */
export function stableClientId(configured: string | undefined, key: string, host = os.hostname()): string {
  const c = (configured ?? '').trim();
  if (c && !/^\$\{[^}]*\}$/.test(c)) return c;
  return `punchflow-${host.replace(/[^A-Za-z0-9_-]/g, '_')}-${key}`.slice(0, 128);
}

export function subscriptionFilter(topic: string, group?: string): string {
  return group ? `$share/${group}/${topic}` : topic;
}

/** Checks the settings a person typed; the message names the setting. */
export function checkConsumerOptions(o: Pick<MqttConsumerOptions, 'url' | 'clientId' | 'topic' | 'group'>): void {
  let url: URL;
  try {
    url = new URL(o.url);
  } catch {
    throw new TypeError('broker: not a URL (expected e.g. mqtt://127.0.0.1:1883)');
  }
  if (!['mqtt:', 'mqtts:', 'ws:', 'wss:'].includes(url.protocol))
    throw new TypeError('broker: must start with mqtt://, mqtts://, ws:// or wss://');
  if (!o.clientId)
    throw new TypeError('client id: required, and it must stay the same across restarts of this instance');
  if (o.clientId.length > 128) throw new TypeError('client id: at most 128 characters');
  if (!o.topic) throw new TypeError('topic: required (e.g. punchflow/records/#)');
  if (o.topic.startsWith('$share/'))
    throw new TypeError('topic: give the plain topic and the group separately (the $share/ prefix is added for you)');
  if (o.group && /[/+#]/.test(o.group)) throw new TypeError('group: may not hold /, + or #');
}

export class MqttConsumer {
  private client: MqttClient | null = null;
  private stopped = false;
  private failures = 0;
  private retryTimer: NodeJS.Timeout | null = null;

  constructor(
    private readonly opts: MqttConsumerOptions,
    private readonly handler: (m: ConsumedMessage) => Promise<void>,
    private readonly events: ConsumerEvents = {},
  ) {
    checkConsumerOptions(opts);
  }

  start(): void {
    this.stopped = false;
    this.connect();
  }

  private connect(): void {
    if (this.stopped) return;
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const mqtt = require('mqtt') as MqttModule;
    const tls = this.opts.tls ?? {};
    this.events.onState?.('connecting');
    const client = mqtt.connect(this.opts.url, {
      clientId: this.opts.clientId,
      clean: false,
      username: this.opts.username || undefined,
      password: this.opts.password || undefined,
      // MQTT 5: the client can hold back an acknowledgement only there (and the session outlives the socket
      // only with a session expiry, which 3.1.1 has no word for).
      protocolVersion: 5,
      properties: { sessionExpiryInterval: this.opts.sessionExpirySec ?? 0xffffffff },
      keepalive: this.opts.keepalive ?? 30,
      reconnectPeriod: 1000,
      resubscribe: false, // done on every connect below
      ca: tls.ca,
      cert: tls.cert,
      key: tls.key,
      servername: tls.servername,
      rejectUnauthorized: tls.rejectUnauthorized !== false,
      customHandleAcks: (topic, payload, packet, ack) => {
        const m: ConsumedMessage = { topic, payload, redelivered: !!packet.dup };
        this.handler(m).then(
          () => {
            this.failures = 0;
            if (this.client !== client) return;
            ack(0);
            this.events.onAcked?.(m);
          },
          (err: Error) => {
            // No acknowledgement: the broker keeps the message for this session and sends it again.
            this.events.onHandlerError?.(err, m);
            if (this.client === client) this.dropAndRetry();
          },
        );
      },
    });
    this.client = client;
    client.on('connect', () => {
      this.events.onState?.('connected');
      // On every connect, even when the session is present: Mosquitto does not restore shared subscriptions
      // from its persistence file, so after a broker restart the session is back without them.
      client.subscribe(subscriptionFilter(this.opts.topic, this.opts.group), { qos: 1 }, (err) => {
        if (err) this.events.onState?.('disconnected', `subscribe failed: ${err.message}`);
      });
    });
    // QoS 0 messages (a publisher that did not ask for more) carry no acknowledgement to hold back.
    client.on('message', (topic, payload, packet) => {
      if (packet.qos === 0)
        void this.handler({ topic, payload, redelivered: false }).catch((err: Error) =>
          this.events.onHandlerError?.(err, { topic, payload, redelivered: false }),
        );
    });
    client.on('close', () => {
      if (!this.stopped && this.client === client) this.events.onState?.('disconnected');
    });
    client.on('error', (err) => this.events.onState?.('disconnected', err.message));
  }

  private dropAndRetry(): void {
    const c = this.client;
    this.client = null;
    this.failures++;
    const b = this.opts.backoff ?? { baseMs: 1000, maxMs: 60_000 };
    const delay = Math.min(b.maxMs, b.baseMs * 2 ** Math.min(20, this.failures - 1));
    this.events.onState?.('waiting', `retry in ${Math.round(delay / 1000)}s`);
    void c?.endAsync(true).catch(() => undefined);
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      this.connect();
    }, delay);
  }

  get connected(): boolean {
    return !!this.client?.connected;
  }

  /** Disconnects; a message being handled stays unacknowledged (the broker sends it again next time). */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = null;
    const c = this.client;
    this.client = null;
    if (!c) return;
    // Not forced: an acknowledgement just written still reaches the broker. A broker that does not answer
    // must not hold a redeploy, hence the cap.
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([c.endAsync(false), new Promise<void>((r) => (timer = setTimeout(r, 2000)))]).catch(
      () => undefined,
    );
    clearTimeout(timer);
    if (c.connected || !c.disconnected) await c.endAsync(true).catch(() => undefined);
  }
}
