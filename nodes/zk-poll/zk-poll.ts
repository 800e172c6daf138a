/**
 * zk-poll: polls one zk-device or a fleet on an interval and on any input, and emits only new records
 * (lib/fleet does the work; this file adapts it to Node-RED). Output 1: records per device; output 2:
 * device status events, alerts, anomalies and dry-run reports.
 */
import * as os from 'os';
import * as path from 'path';
import type { NodeAPI, Node, NodeMessage, NodeMessageInFlow } from 'node-red';
import { DeviceConfig, DeviceSession, deviceKey, sessionRegistry } from '../../lib/device';
import { ZkConnectionError } from '../../lib/errors';
import {
  CursorStore, DeviceDescription, DevicePoll, DeviceResult, FleetScheduler, PollWindow, describeDevice, formatShard, pollDevice, statusAfterFailure, statusAfterPoll,
} from '../../lib/fleet';
import type { AttendanceRecord } from '../../lib/record/canonical';
import type { ZkDeviceNode } from '../zk-device/zk-device-api';
import { PollSettings, ZkPollCredentials, ZkPollDef, configuredFleet, fleetFromMsg, fleetTextHasCommKeys, pollSettings } from './poll-config';
import { ProgressStatus } from './progress-status';
import { startErrorReporter } from '../shared/errors';

/** What a cycle was asked to do (timer: no message). */
interface CycleRequest {
  devices: DeviceConfig[] | null;
  window?: PollWindow;
  dryRun: boolean;
  force: boolean;
}

interface CycleTotals {
  ok: number;
  failed: number;
  newRecords: number;
  failures: string[];
}

type ZkPollNode = Node<ZkPollCredentials>;

function chunks<T>(list: T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < list.length; i += size) out.push(list.slice(i, i + size));
  return out;
}

/** `msg.payload` as a request: {since, until} for a backfill, dryRun, force. Anything else is a plain trigger. */
function readRequest(msg: NodeMessageInFlow, s: PollSettings): CycleRequest {
  const p = (typeof msg.payload === 'object' && msg.payload !== null && !Array.isArray(msg.payload) ? msg.payload : {}) as Record<string, unknown>;
  const m = msg as NodeMessageInFlow & { devices?: unknown };
  const window = p.since !== undefined || p.until !== undefined ? { since: p.since as string | undefined, until: p.until as string | undefined } : undefined;
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
        if (!deviceNode) throw new Error('no zk-device selected (choose a device, or switch to a device list or range)');
        singleSession = deviceNode.acquire(node);
      } else {
        fleet = configuredFleet(def, settings);
        if (settings.shard) node.log(`${formatShard(settings.shard)}: ${fleet.length} device(s) of the list are this node's`);
        if (fleetTextHasCommKeys(fleet, settings.defaults.commKey)) {
          node.warn('the device list contains comm keys, which are stored in the flow file: prefer the fleet comm key credential or msg.devices');
        }
      }
    } catch (err) {
      configError = err as Error;
      settings = pollSettings({}, {});
      startErrors.report(`zk-poll ${def.name || node.id}: ${configError.message}`);
      progress.error(configError.message);
    }

    // Cursors per node: two zk-poll nodes on one device (e.g. to two databases) each need their own.
    const userDir = RED.settings.userDir as string | undefined;
    if (!userDir) node.warn('Node-RED has no user directory: cursors are kept in the temporary directory and may not survive a reboot');
    const store = new CursorStore(path.join(userDir || os.tmpdir(), 'punchflow', 'cursors', node.id), (_lvl, m) => node.warn(m));
    const scheduler = new FleetScheduler({
      concurrency: settings.concurrency,
      failuresToError: settings.failuresToError,
      longStreakMs: settings.longStreakMs,
      longStreakRetryMs: settings.longStreakRetryMs,
      deviceTimeoutMs: settings.deviceTimeoutMs,
    });
    const serials = new Map<string, string>();
    const lastSeen = new Map<string, Date>();
    const abort = new AbortController();
    let closing = false;
    let timer: NodeJS.Timeout | null = null;
    let chain: Promise<void> = Promise.resolve();
    let running = 0;

    const sessionLogger = (level: string, m: string) => (level === 'warn' || level === 'error' ? node.debug(m) : undefined);

    /** One device: poll, send its records, then save the cursor, then its status event. */
    async function pollOne(cfg: DeviceConfig, key: string, signal: AbortSignal, req: CycleRequest, single: boolean): Promise<DevicePoll> {
      const own = singleSession !== null;
      const session = singleSession ?? sessionRegistry.acquire(cfg, { logger: sessionLogger });
      if (!own && session.serial === null && serials.has(key)) session.serial = serials.get(key) ?? null;
      const onAbort = () => void session.disconnect(new ZkConnectionError(`${session.label}: poll stopped (node closed, redeployed, or the device timeout passed)`));
      signal.addEventListener('abort', onAbort, { once: true });
      const started = new Date();
      try {
        const poll = await pollDevice(session, store, {
          source: 'poll',
          window: req.window,
          onProgress: single ? (p) => progress.download(p.records, p.totalRecords) : undefined,
        });
        if (signal.aborted) throw signal.reason instanceof Error ? signal.reason : new Error('poll aborted');
        if (session.serial) serials.set(key, session.serial);
        const { outcome } = poll;
        const now = new Date();
        lastSeen.set(key, now);
        const device = describeDevice(session);
        const topic = session.serial ?? session.key;
        if (!req.dryRun && outcome.records.length > 0) {
          for (const chunk of chunks<AttendanceRecord>(outcome.records, settings.chunkSize)) {
            node.send([{ topic, payload: chunk, device } as NodeMessage, null]);
          }
        }
        // Saved only after the records were handed on: a crash in between repeats records, never loses them.
        if (!req.dryRun && outcome.cursorChanged) await store.set(poll.key, outcome.cursor);
        const status = statusAfterPoll(session, outcome, now, started);
        const statusMsg: NodeMessage & Record<string, unknown> = { topic, payload: status, device };
        if (req.dryRun) Object.assign(statusMsg, { dryRun: true, wouldEmit: outcome.records });
        if (req.window) statusMsg.backfill = req.window;
        node.send([null, statusMsg]);
        if (outcome.anomalies.length > 0) node.send([null, { topic: 'anomaly', payload: outcome.anomalies, device } as NodeMessage]);
        return poll;
      } finally {
        signal.removeEventListener('abort', onAbort);
        if (!own) await sessionRegistry.release(session);
      }
    }

    function describeFailed(cfg: DeviceConfig, key: string): DeviceDescription {
      if (singleSession) return singleSession;
      return { serial: serials.get(key) ?? null, key, config: cfg, lastInfo: null };
    }

    function onFailure(r: DeviceResult<DeviceConfig, DevicePoll>, totals: CycleTotals): void {
      const err = r.error ?? new Error('unknown failure');
      const d = describeFailed(r.item, r.key);
      const name = d.config.name ? `${d.config.name} (${d.key})` : d.key;
      totals.failures.push(`${name}: ${err.message}`);
      const status = statusAfterFailure(d, r.health, err, new Date(), lastSeen.get(r.key) ?? null);
      node.send([null, { topic: d.serial ?? d.key, payload: status, device: describeDevice(d) } as NodeMessage]);
      if (r.alert) {
        // One alert per failure streak, on the status output and in the log (Catch nodes see node.error).
        const alert = { ...status, state: 'error' as const };
        node.send([null, { topic: 'alert', alert: true, payload: alert, device: describeDevice(d) } as NodeMessage]);
        node.error(`zk-poll: ${name} failed ${r.health.consecutiveFailures} times in a row: ${err.message} (check power, network and comm key)`, { payload: alert } as NodeMessage);
      }
    }

    async function runCycle(req: CycleRequest): Promise<CycleTotals> {
      const totals: CycleTotals = { ok: 0, failed: 0, newRecords: 0, failures: [] };
      if (configError) throw configError;
      const devices = req.devices ?? (singleSession ? [singleSession.config] : fleet);
      if (devices.length === 0 && settings.shard && !singleSession) {
        // A shard may own none of a small fleet: that is not an error, and must not raise one every cycle.
        if (!closing) node.status({ fill: 'grey', shape: 'ring', text: `${formatShard(settings.shard)}: no devices` });
        return totals;
      }
      if (devices.length === 0) throw new Error('no devices to poll (the device list is empty; give msg.devices or fill in the list)');
      const single = devices.length === 1;
      const entries = devices.map((cfg) => ({ key: deviceKey(cfg), item: cfg }));
      running++;
      try {
        await scheduler.runCycle(entries, (cfg, key, signal) => pollOne(cfg, key, signal, req, single), {
          force: req.force,
          signal: abort.signal,
          onProgress: single ? undefined : (done, total) => progress.devices(done, total),
          onResult: (r) => {
            if (r.status === 'ok' && r.value) {
              totals.ok++;
              totals.newRecords += r.value.outcome.records.length;
            } else if (r.status === 'failed') {
              totals.failed++;
              if (!closing) onFailure(r, totals);
            }
          },
        });
      } finally {
        running--;
      }
      if (!closing) progress.summary(totals.ok, totals.failed, totals.newRecords, single, req.dryRun);
      return totals;
    }

    /** Cycles run one after another; a timer tick while one runs or waits is dropped (the next tick comes). */
    function enqueue(req: CycleRequest): Promise<CycleTotals> {
      const result = chain.then(() => (closing ? Promise.reject(new Error('zk-poll is closing')) : runCycle(req)));
      chain = result.then(() => undefined, () => undefined);
      return result;
    }

    function schedule(): void {
      // msg.devices mode has no devices of its own between messages: only input triggers it.
      if (closing || settings.intervalMs <= 0 || configError || settings.mode === 'msg') return;
      timer = setTimeout(() => {
        timer = null;
        if (running > 0) return schedule();
        enqueue({ devices: null, dryRun: false, force: false })
          .catch((err: Error) => {
            if (!closing) {
              progress.error(err.message);
              node.error(`zk-poll: ${err.message}`);
            }
          })
          .finally(schedule);
      }, timer === null && firstTick ? 0 : settings.intervalMs);
      firstTick = false;
    }
    let firstTick = true;
    schedule();

    node.on('input', (msg: NodeMessageInFlow, _send: unknown, done: (err?: Error) => void) => {
      let req: CycleRequest;
      try {
        req = readRequest(msg, settings);
      } catch (err) {
        progress.error((err as Error).message);
        done(err as Error);
        return;
      }
      enqueue(req).then(
        (t) => {
          if (t.failed > 0) {
            const list = t.failures.slice(0, 5).join('; ') + (t.failures.length > 5 ? `; and ${t.failures.length - 5} more` : '');
            done(new Error(`${t.failed} of ${t.ok + t.failed} device(s) failed: ${list}`));
          } else done();
        },
        (err: Error) => {
          if (!closing) progress.error(err.message);
          done(err);
        },
      );
    });

    node.on('close', (_removed: boolean, done: () => void) => {
      closing = true;
      if (timer) clearTimeout(timer);
      timer = null;
      // Abort stops new devices and drops the links of running ones, so this finishes within moments.
      abort.abort(new Error('zk-poll closed'));
      const finish = async () => {
        await chain;
        await store.flush();
        if (deviceNode && singleSession) await deviceNode.release(node);
        singleSession = null;
      };
      finish().then(() => done(), (err: Error) => {
        node.warn(`zk-poll close: ${err.message}`);
        done();
      });
    });
  }

  RED.nodes.registerType<ZkPollNode, ZkPollDef, Record<string, never>, ZkPollCredentials>('zk-poll', ZkPoll, {
    credentials: { commKey: { type: 'password' } },
  });
};
