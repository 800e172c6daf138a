/**
 * zk-live: keeps a realtime event connection to one zk-device or a fleet and emits one message per punch
 * (lib/live does the work; this file adapts it to Node-RED). Output 1: one canonical record per message;
 * output 2: device status events on state changes, the one alert of a failure streak, anomalies, and
 * (optionally) other device events.
 */
import type { NodeAPI, Node, NodeMessage, NodeMessageInFlow } from 'node-red';
import { DeviceConfig, DeviceSession, sessionRegistry } from '../../lib/device';
import { CursorStore, describeDevice, formatShard } from '../../lib/fleet';
import { LiveCapture } from '../../lib/live';
import type { ZkDeviceNode } from '../zk-device/zk-device-api';
import { LiveSettings, ZkLiveCredentials, ZkLiveDef, configuredFleet, fleetFromMsg, liveSettings } from './live-config';
import { LiveStatusView } from './live-status';
import { startErrorReporter } from '../shared/errors';
import { nodeLogger, stateDir, tellKeptState } from '../shared/runtime';

type ZkLiveNode = Node<ZkLiveCredentials>;

/** One device's capture and how to give its session back. */
interface Running {
  key: string;
  capture: LiveCapture;
  release: () => Promise<void>;
}

export = (RED: NodeAPI): void => {
  function ZkLive(this: ZkLiveNode, def: ZkLiveDef): void {
    RED.nodes.createNode(this, def);
    const node = this;
    const view = new LiveStatusView(node);
    const startErrors = startErrorReporter(RED, node);
    const running = new Map<string, Running>();
    let deviceNode: ZkDeviceNode | null = null;
    let closing = false;
    // Starting and stopping fleets (msg.devices, close) one after another, never interleaved.
    let chain: Promise<void> = Promise.resolve();

    let settings: LiveSettings;
    let configError: Error | null = null;
    let fleet: DeviceConfig[] = [];
    try {
      settings = liveSettings(def, node.credentials ?? {});
      fleet = configuredFleet(def, settings);
      if (settings.mode === 'device') {
        deviceNode = def.device ? (RED.nodes.getNode(def.device) as ZkDeviceNode | null) : null;
        if (!deviceNode)
          throw new Error('no zk-device selected (choose a device, or switch to a device list or range)');
      }
    } catch (err) {
      configError = err as Error;
      settings = liveSettings({}, {});
      startErrors.report(`zk-live ${def.name || node.id}: ${configError.message}`);
      view.error(configError.message);
    }

    // Cursors per node, in the same place and under the same keys as zk-poll's (serial, else host:port).
    const cursorDir = stateDir(RED.settings, node, 'cursors', node.id);
    const store = new CursorStore(cursorDir, (_lvl, m) => node.warn(m));
    const sessionLogger = nodeLogger(node);

    function start(session: DeviceSession, release: () => Promise<void>): void {
      const key = session.key;
      const capture = new LiveCapture(session, {
        cursors: store,
        firstStart: settings.firstStart,
        health: settings.health,
        emitRaw: settings.rawEvents,
        logger: sessionLogger,
      });
      const topic = () => session.serial ?? session.key;
      capture.on('record', (record) => {
        node.send([{ topic: topic(), payload: record, device: describeDevice(session) } as NodeMessage, null]);
        view.punch();
      });
      capture.on('anomaly', (a) => {
        node.send([null, { topic: 'anomaly', payload: [a], device: describeDevice(session) } as NodeMessage]);
      });
      capture.on('raw', (e) => {
        node.send([
          null,
          {
            topic: 'event',
            payload: { code: e.code, body: e.body.toString('hex') },
            device: describeDevice(session),
          } as NodeMessage,
        ]);
      });
      capture.on('status', (status) => {
        node.send([null, { topic: topic(), payload: status, device: describeDevice(session) } as NodeMessage]);
        view.state(key, status.state, status.lastError);
      });
      capture.on('connecting', () => view.connecting(key));
      capture.on('retry', (r) => {
        view.retry(key, r.delayMs, r.error ? r.error.message : null);
        if (!r.alert) return;
        // One alert per failure streak, on the status output and in the log (Catch nodes see node.error).
        const device = describeDevice(session);
        const alert = {
          topic: 'alert',
          alert: true,
          payload: { state: 'error', failures: r.failures, lastError: r.error?.message ?? null },
          device,
        };
        node.send([null, alert as NodeMessage]);
        node.error(
          `zk-live: ${session.label} failed ${r.failures} times in a row: ${r.error?.message ?? 'unknown error'} (check power, network and comm key)`,
          alert as NodeMessage,
        );
      });
      running.set(key, { key, capture, release });
      view.add(key);
      capture.start();
    }

    function startFleet(list: DeviceConfig[]): void {
      for (const cfg of list) {
        const session = sessionRegistry.acquire(cfg, { logger: sessionLogger });
        start(session, () => sessionRegistry.release(session));
      }
    }

    /** Stops every capture, then gives the sessions back (the last user out closes the connection). */
    async function stopAll(): Promise<void> {
      const all = [...running.values()];
      running.clear();
      await Promise.all(
        all.map(async (r) => {
          await r.capture.stop();
          view.remove(r.key);
          await r.release().catch((err: Error) => node.warn(`zk-live: releasing ${r.key}: ${err.message}`));
        }),
      );
      await store.flush();
    }

    if (!configError) {
      if (deviceNode) {
        const dn = deviceNode;
        try {
          start(dn.acquire(node), () => dn.release(node));
        } catch (err) {
          configError = err as Error;
          startErrors.report(`zk-live ${def.name || node.id}: ${configError.message}`);
          view.error(configError.message);
        }
      } else if (settings.mode === 'msg') {
        view.render();
      } else {
        if (settings.shard)
          node.log(`${formatShard(settings.shard)}: ${fleet.length} device(s) of the list are this node's`);
        // A shard may own none of a small fleet: say so, without the red of an empty list.
        if (fleet.length === 0 && settings.shard)
          view.show({ fill: 'grey', shape: 'ring', text: `${formatShard(settings.shard)}: no devices` });
        else if (fleet.length === 0) view.error('the device list is empty');
        startFleet(fleet);
      }
    }

    node.on('input', (msg: NodeMessageInFlow, _send: unknown, done: (err?: Error) => void) => {
      const m = msg as NodeMessageInFlow & { devices?: unknown };
      if (configError) return done(configError);
      if (m.devices === undefined) {
        // Any other message: reconnect now the devices that wait in backoff (e.g. after fixing the network).
        for (const r of running.values()) r.capture.retryNow();
        return done();
      }
      if (settings.mode !== 'msg')
        return done(new Error('msg.devices is only used when the node\'s devices come "from msg.devices"'));
      let list: DeviceConfig[];
      try {
        list = fleetFromMsg(m.devices, settings);
      } catch (err) {
        return done(err as Error);
      }
      // A new list replaces the old one; devices in both reconnect and keep their cursors (keyed by serial).
      chain = chain
        .catch(() => undefined)
        .then(async () => {
          if (closing) return;
          await stopAll();
          if (!closing) startFleet(list);
        });
      chain.then(
        () => done(),
        (err: Error) => done(err),
      );
    });

    node.on('close', (removed: boolean, done: () => void) => {
      closing = true;
      tellKeptState(node, removed, [
        { dir: cursorDir, what: 'cursors', why: 'so a node restored with the same id resumes where it stopped' },
      ]);
      chain = chain
        .catch(() => undefined)
        .then(stopAll)
        .finally(() => view.close());
      chain.then(
        () => done(),
        (err: Error) => {
          node.warn(`zk-live close: ${err.message}`);
          done();
        },
      );
    });
  }

  RED.nodes.registerType<ZkLiveNode, ZkLiveDef, Record<string, never>, ZkLiveCredentials>('zk-live', ZkLive, {
    credentials: { commKey: { type: 'password' } },
  });
};
