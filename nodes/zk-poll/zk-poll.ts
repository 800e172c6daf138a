/**
 * zk-poll: polls one zk-device or a fleet on an interval and on any input, and emits only new records.
 * lib/fleet's FleetPoller does the work; this file turns settings into a poller and its events into
 * messages and status. Output 1: records per device; output 2: device status events, alerts, anomalies and
 * dry-run reports.
 */
import type { NodeAPI, Node, NodeMessage, NodeMessageInFlow } from 'node-red';
import type { DeviceConfig, DeviceSession } from '../../lib/device';
import { CursorStore, CycleRequest, FleetPoller, formatShard } from '../../lib/fleet';
import type { ZkDeviceNode } from '../zk-device/zk-device-api';
import {
  PollSettings,
  ZkPollCredentials,
  ZkPollDef,
  configuredFleet,
  fleetFromMsg,
  fleetTextHasCommKeys,
  pollCursorDir,
  pollSettings,
} from './poll-config';
import { ProgressStatus } from './progress-status';
import { startErrorReporter } from '../shared/errors';
import { nodeLogger, tellKeptState } from '../shared/runtime';

type ZkPollNode = Node<ZkPollCredentials>;

/** `msg.payload` as a request: {since, until} for a backfill, dryRun, force. Anything else is a plain trigger. */
function readRequest(msg: NodeMessageInFlow, s: PollSettings): CycleRequest {
  const p = (
    typeof msg.payload === 'object' && msg.payload !== null && !Array.isArray(msg.payload) ? msg.payload : {}
  ) as Record<string, unknown>;
  const m = msg as NodeMessageInFlow & { devices?: unknown };
  const window =
    p.since !== undefined || p.until !== undefined
      ? { since: p.since as string | undefined, until: p.until as string | undefined }
      : undefined;
  return {
    devices: m.devices !== undefined ? fleetFromMsg(m.devices, s) : null,
    window,
    dryRun: p.dryRun === true,
    // A backfill is an explicit request: it ignores backoff. So does payload.force.
    force: p.force === true || window !== undefined,
  };
}

export = (RED: NodeAPI): void => {
  function ZkPoll(this: ZkPollNode, def: ZkPollDef): void {
    RED.nodes.createNode(this, def);
    const node = this;
    const progress = new ProgressStatus(node);
    const startErrors = startErrorReporter(RED, node);
    let settings: PollSettings;
    let fleet: DeviceConfig[] = [];
    let deviceNode: ZkDeviceNode | null = null;
    let singleSession: DeviceSession | null = null;
    let configError: Error | null = null;
    try {
      settings = pollSettings(def, node.credentials ?? {});
      if (settings.mode === 'device') {
        deviceNode = def.device ? (RED.nodes.getNode(def.device) as ZkDeviceNode | null) : null;
        if (!deviceNode)
          throw new Error('no zk-device selected (choose a device, or switch to a device list or range)');
        singleSession = deviceNode.acquire(node);
      } else {
        fleet = configuredFleet(def, settings);
        if (settings.shard)
          node.log(`${formatShard(settings.shard)}: ${fleet.length} device(s) of the list are this node's`);
        if (fleetTextHasCommKeys(fleet, settings.defaults.commKey)) {
          node.warn(
            'the device list contains comm keys, which are stored in the flow file: prefer the fleet comm key credential or msg.devices',
          );
        }
      }
    } catch (err) {
      configError = err as Error;
      settings = pollSettings({}, {});
      startErrors.report(`zk-poll ${def.name || node.id}: ${configError.message}`);
      progress.error(configError.message);
    }

    // Cursors per node: two zk-poll nodes on one device (e.g. to two databases) each need their own.
    const cursorDir = pollCursorDir(RED.settings, node, node.id);
    const store = new CursorStore(cursorDir, (_lvl, m) => node.warn(m));
    const poller = new FleetPoller({
      store,
      fleet,
      session: singleSession ?? undefined,
      // msg.devices mode has no devices of its own between messages: only input triggers it.
      intervalMs: configError || settings.mode === 'msg' ? 0 : settings.intervalMs,
      chunkSize: settings.chunkSize,
      emptyIsIdle: settings.shard !== null,
      concurrency: settings.concurrency,
      failuresToError: settings.failuresToError,
      longStreakMs: settings.longStreakMs,
      longStreakRetryMs: settings.longStreakRetryMs,
      deviceTimeoutMs: settings.deviceTimeoutMs,
      sessionLogger: nodeLogger(node),
    });
    poller.on('records', (e) =>
      node.send([{ topic: e.topic, payload: e.records, device: e.device } as NodeMessage, null]),
    );
    poller.on('status', (e) => {
      const msg: NodeMessage & Record<string, unknown> = { topic: e.topic, payload: e.status, device: e.device };
      if (e.wouldEmit) Object.assign(msg, { dryRun: true, wouldEmit: e.wouldEmit });
      if (e.backfill) msg.backfill = e.backfill;
      node.send([null, msg]);
    });
    poller.on('anomaly', (e) =>
      node.send([null, { topic: 'anomaly', payload: e.anomalies, device: e.device } as NodeMessage]),
    );
    poller.on('alert', (e) => {
      // One alert per failure streak, on the status output and in the log (Catch nodes see node.error).
      node.send([null, { topic: 'alert', alert: true, payload: e.status, device: e.device } as NodeMessage]);
      const why = `${e.name} failed ${e.health.consecutiveFailures} times in a row: ${e.error.message} (check power, network and comm key)`;
      node.error(`zk-poll: ${why}`, { payload: e.status } as NodeMessage);
    });
    poller.on('progress', (p) =>
      p.kind === 'devices' ? progress.devices(p.done, p.total) : progress.download(p.records, p.total),
    );
    poller.on('cycle', (t) => progress.summary(t.ok, t.failed, t.newRecords, t.single, t.dryRun));
    poller.on('idle', () => {
      // A shard may own none of a small fleet: that is not an error, and must not raise one every cycle.
      if (settings.shard)
        progress.show({ fill: 'grey', shape: 'ring', text: `${formatShard(settings.shard)}: no devices` });
    });
    poller.on('cycleError', (err) => {
      progress.error(err.message);
      node.error(`zk-poll: ${err.message}`);
    });
    poller.start();

    node.on('input', (msg: NodeMessageInFlow, _send: unknown, done: (err?: Error) => void) => {
      let req: CycleRequest;
      try {
        if (configError) throw configError;
        req = readRequest(msg, settings);
      } catch (err) {
        progress.error((err as Error).message);
        done(err as Error);
        return;
      }
      poller.request(req).then(
        (t) => {
          if (t.failed > 0) {
            const list =
              t.failures.slice(0, 5).join('; ') + (t.failures.length > 5 ? `; and ${t.failures.length - 5} more` : '');
            done(new Error(`${t.failed} of ${t.ok + t.failed} device(s) failed: ${list}`));
          } else done();
        },
        (err: Error) => {
          if (!poller.closing) progress.error(err.message);
          done(err);
        },
      );
    });

    node.on('close', (removed: boolean, done: () => void) => {
      tellKeptState(node, removed, [
        { dir: cursorDir, what: 'cursors', why: 'so a node restored with the same id resumes where it stopped' },
      ]);
      // Stopping aborts running devices (drops their links), so this finishes within moments.
      const finish = async () => {
        await poller.stop();
        progress.close();
        if (deviceNode && singleSession) await deviceNode.release(node);
        singleSession = null;
      };
      finish().then(
        () => done(),
        (err: Error) => {
          node.warn(`zk-poll close: ${err.message}`);
          done();
        },
      );
    });
  }

  RED.nodes.registerType<ZkPollNode, ZkPollDef, Record<string, never>, ZkPollCredentials>('zk-poll', ZkPoll, {
    credentials: { commKey: { type: 'password' } },
  });
};
