/**
 * zk-command: device management commands for one zk-device or a fleet (the same device sources as zk-poll):
 * info, clock sync, door unlock, restart, and a safe clear of the attendance log that proceeds only when a
 * named zk-poll node's saved cursor shows every downloaded record delivered. Output 1: one result per
 * device; output 2: one failure per device, in plain words. One failing device never stops the others.
 */
import type { NodeAPI, Node, NodeMessage, NodeMessageInFlow } from 'node-red';
import { DeviceConfig, DeviceSession, deviceKey, sessionRegistry } from '../../lib/device';
import { ZkConnectionError, ZkError } from '../../lib/errors';
import {
  CursorStore,
  FleetScheduler,
  configuredFleet,
  cursorKeyOf,
  describeDevice,
  fleetFromMsg,
} from '../../lib/fleet';
import type { ZkDeviceNode } from '../zk-device/zk-device-api';
import { pollCursorDir } from '../zk-poll/poll-config';
import { nodeLogger } from '../shared/runtime';
import {
  CommandRequest,
  CommandSettings,
  ZkCommandCredentials,
  ZkCommandDef,
  commandSettings,
  readCommandRequest,
  refusal,
} from './command-config';
import { DeliveryCheck, checkDelivered } from './cursor-check';

type ZkCommandNode = Node<ZkCommandCredentials>;

/** What one device's action produced (payload of an output-1 message). */
interface DeviceOutcome {
  message: string;
  result: Record<string, unknown>;
}

const signed = (n: number): string => (n > 0 ? `+${n}` : String(n));

export = (RED: NodeAPI): void => {
  function ZkCommand(this: ZkCommandNode, def: ZkCommandDef): void {
    RED.nodes.createNode(this, def);
    const node = this;
    let settings: CommandSettings;
    let fleet: DeviceConfig[] = [];
    let deviceNode: ZkDeviceNode | null = null;
    let singleSession: DeviceSession | null = null;
    let configError: Error | null = null;
    try {
      settings = commandSettings(def, node.credentials ?? {});
      if (settings.mode === 'device') {
        deviceNode = def.device ? (RED.nodes.getNode(def.device) as ZkDeviceNode | null) : null;
        if (!deviceNode)
          throw new Error('no zk-device selected (choose a device, or switch to a device list or range)');
        singleSession = deviceNode.acquire(node);
      } else {
        fleet = configuredFleet(def, settings);
      }
    } catch (err) {
      configError = err as Error;
      settings = commandSettings({}, {});
      node.error(`zk-command ${def.name || node.id}: ${configError.message}`);
      node.status({ fill: 'red', shape: 'ring', text: configError.message.slice(0, 60) });
    }

    // One run at a time per node; health and backoff are zk-poll's business, so every run forces all devices.
    const scheduler = new FleetScheduler({ concurrency: settings.concurrency, failuresToError: 1000 });
    const abort = new AbortController();
    let chain: Promise<void> = Promise.resolve();
    let closing = false;
    const sessionLogger = nodeLogger(node);

    function pollNodeName(): string {
      const p = RED.nodes.getNode(settings.pollNode) as (Node & { name?: string }) | null;
      return p?.name ? `"${p.name}"` : `"${settings.pollNode}"`;
    }

    /** Safe clear of one device: clears only what the zk-poll node's cursor shows delivered. */
    async function safeClear(session: DeviceSession, cfg: DeviceConfig): Promise<DeviceOutcome> {
      const dir = pollCursorDir(RED.settings, node, settings.pollNode);
      let why = '';
      let check: DeliveryCheck | null = null;
      const r = await session.run('safe clear', async (c) => {
        if (session.serial === null) {
          const sn = await c.option('~SerialNumber');
          if (sn) session.serial = sn;
        }
        return c.safeClear({
          confirmStored: async (records) => {
            // A fresh store reads what zk-poll saved on disk, never a copy cached earlier.
            const cursor = new CursorStore(dir).get(cursorKeyOf(session));
            const notAfterMs = Date.now() + (cfg.futureToleranceSec ?? 86400) * 1000;
            check = checkDelivered(cursor, records, (rec) => session.canonical(rec, 'poll', undefined, notAfterMs));
            if (!cursor)
              why = `zk-poll ${pollNodeName()} has no saved cursor for this device (it has not polled it yet); nothing was cleared`;
            else if (check.pending > 0) {
              why = `${check.pending} of ${check.total} records are not delivered yet by zk-poll ${pollNodeName()}; nothing was cleared — let it poll, then clear again`;
            }
            return why === '';
          },
        });
      });
      const c = check as DeliveryCheck | null;
      const result = { ...r, anomalies: c?.anomalies ?? 0, pending: c?.pending ?? null, pollNode: settings.pollNode };
      if (!r.cleared) throw Object.assign(new Error(why || r.reason || 'not cleared'), { result });
      const note =
        c && c.anomalies > 0 ? ` (${c.anomalies} with impossible times, reported by zk-poll as anomalies)` : '';
      return { message: `cleared ${r.downloaded} records, all delivered by zk-poll ${pollNodeName()}${note}`, result };
    }

    async function runOne(
      cfg: DeviceConfig,
      req: CommandRequest,
      signal: AbortSignal,
    ): Promise<{ session: DeviceSession; out: DeviceOutcome }> {
      const own = singleSession !== null;
      const session = singleSession ?? sessionRegistry.acquire(cfg, { logger: sessionLogger });
      const onAbort = () =>
        void session.disconnect(new ZkConnectionError(`${session.label}: stopped (node closed or redeployed)`));
      signal.addEventListener('abort', onAbort, { once: true });
      try {
        let out: DeviceOutcome;
        switch (req.action) {
          case 'info': {
            const info = await session.info();
            const drift = info.clockDriftSec === null ? 'an impossible time' : `${signed(info.clockDriftSec)} s`;
            out = {
              message: `serial ${info.serial ?? 'unknown'}, firmware ${info.firmware ?? 'unknown'}, ${info.counts.records} records, ${info.counts.users} users, clock ${drift}`,
              result: { info },
            };
            break;
          }
          case 'syncClock': {
            const r = await session.run('clock sync', (c) =>
              c.syncClock({ thresholdSec: req.thresholdSec, tz: cfg.tz }),
            );
            const was = r.driftSec === null ? 'showed an impossible time' : `was ${signed(r.driftSec)} s off`;
            out = {
              message: r.set
                ? `clock ${was}; set to ${r.hostTime} (${r.tz})`
                : `clock is ${signed(r.driftSec ?? 0)} s off, within ${req.thresholdSec} s; left alone`,
              result: { ...r },
            };
            break;
          }
          case 'unlock':
            await session.run('unlock', (c) => c.unlock(req.unlockSeconds));
            out = { message: `door unlocked for ${req.unlockSeconds} s`, result: { seconds: req.unlockSeconds } };
            break;
          case 'restart':
            await session.run('restart', (c) => c.restart());
            out = { message: 'restarting: the device drops its connections and is back in about a minute', result: {} };
            break;
          case 'clear':
            out = await safeClear(session, cfg);
            break;
        }
        return { session, out };
      } finally {
        signal.removeEventListener('abort', onAbort);
        if (!own) await sessionRegistry.release(session);
      }
    }

    async function run(msg: NodeMessageInFlow, req: CommandRequest): Promise<{ ok: number; failed: number }> {
      if (configError) throw configError;
      const refused = refusal(req.action, settings);
      if (refused) throw new Error(refused);
      if (req.action === 'clear' && !settings.pollNode) {
        throw new Error(
          'safe clear needs a zk-poll node: choose the zk-poll node whose cursor proves the records were delivered',
        );
      }
      if (req.action === 'clear') {
        const p = RED.nodes.getNode(settings.pollNode) as Node | null;
        if (!p || p.type !== 'zk-poll')
          throw new Error(
            `safe clear: zk-poll node "${settings.pollNode}" is not deployed; choose a deployed zk-poll node`,
          );
      }
      const m = msg as NodeMessageInFlow & { devices?: unknown };
      let devices =
        m.devices !== undefined ? fleetFromMsg(m.devices, settings) : singleSession ? [singleSession.config] : fleet;
      if (devices.length === 0)
        throw new Error('no devices (the device list is empty; give msg.devices or fill in the list)');
      if (req.device !== undefined) {
        const want = req.device;
        // By address, name, or the serial a device reported earlier (sessions of other nodes may know it).
        devices = devices.filter(
          (d) => deviceKey(d) === want || d.name === want || sessionRegistry.find(deviceKey(d))?.serial === want,
        );
        if (devices.length === 0)
          throw new Error(`device "${want}" is not one of this node's devices; nothing was done`);
      }
      const totals = { ok: 0, failed: 0 };
      const byKey = new Map(devices.map((d) => [deviceKey(d), d]));
      node.status({ fill: 'blue', shape: 'dot', text: `${req.action}: ${devices.length} device(s)…` });
      await scheduler.runCycle(
        devices.map((d) => ({ key: deviceKey(d), item: d })),
        (cfg, _key, signal) => runOne(cfg, req, signal),
        {
          force: true,
          signal: abort.signal,
          onResult: (r) => {
            if (closing) return;
            const cfg = byKey.get(r.key) ?? r.item;
            if (r.status === 'ok' && r.value) {
              totals.ok++;
              const { session, out } = r.value;
              const device = describeDevice(session);
              const payload = {
                action: req.action,
                ok: true,
                device: session.label,
                serial: session.serial,
                message: `${session.label}: ${out.message}`,
                ...out.result,
              };
              node.send([{ topic: session.serial ?? session.key, payload, device } as NodeMessage, null]);
            } else if (r.status === 'failed') {
              totals.failed++;
              const err = r.error ?? new Error('unknown failure');
              const label = cfg.name ? `${cfg.name} (${r.key})` : r.key;
              const extra = (err as Error & { result?: Record<string, unknown> }).result ?? {};
              const payload = {
                action: req.action,
                ok: false,
                device: label,
                message: `${label}: ${err.message}`,
                error: { message: err.message, code: err instanceof ZkError ? err.code : null },
                ...extra,
              };
              node.send([null, { topic: r.key, payload } as NodeMessage]);
            }
          },
        },
      );
      return totals;
    }

    /** Refusals also go out on output 2, so a flow without a Catch node still sees them. */
    function refused(action: string | null, message: string): void {
      node.status({ fill: 'red', shape: 'ring', text: message.slice(0, 60) });
      node.send([null, { topic: 'refused', payload: { action, ok: false, device: null, message } } as NodeMessage]);
    }

    node.on('input', (msg: NodeMessageInFlow, _send: unknown, done: (err?: Error) => void) => {
      let req: CommandRequest;
      try {
        req = readCommandRequest(msg.payload, settings);
      } catch (err) {
        refused(null, (err as Error).message);
        done(err as Error);
        return;
      }
      const job = chain.then(() => (closing ? Promise.reject(new Error('zk-command is closing')) : run(msg, req)));
      chain = job.then(
        () => undefined,
        () => undefined,
      );
      job.then(
        (t) => {
          if (closing) return done();
          node.status({
            fill: t.failed > 0 ? 'yellow' : 'green',
            shape: 'dot',
            text: `${req.action}: ${t.ok} ok${t.failed > 0 ? `, ${t.failed} failed` : ''}`,
          });
          done();
        },
        (err: Error) => {
          if (!closing) refused(req.action, err.message);
          done(err);
        },
      );
    });

    node.on('close', (_removed: boolean, done: () => void) => {
      closing = true;
      abort.abort(new Error('zk-command closed'));
      const finish = async () => {
        await chain;
        if (deviceNode && singleSession) await deviceNode.release(node);
        singleSession = null;
      };
      finish().then(
        () => done(),
        (err: Error) => {
          node.warn(`zk-command close: ${err.message}`);
          done();
        },
      );
    });
  }

  RED.nodes.registerType<ZkCommandNode, ZkCommandDef, Record<string, never>, ZkCommandCredentials>(
    'zk-command',
    ZkCommand,
    {
      credentials: { commKey: { type: 'password' } },
    },
  );
};
