/**
 * zk-users: the users of one zk-device or a fleet (the same sources as zk-poll), and of push devices on a
 * zk-push node. `read` sends each device's users; `sync` makes each device's user table equal to the master
 * list in msg.payload (lib/users plans, writes and reads back); `templates` backs up fingerprint templates
 * or copies them from a device or a backup to the others. Output 1: one message per device (its report, or
 * its error); output 2: the summary once every device is done. One failing device never stops the others.
 */
import * as path from 'path';
import type { Node, NodeAPI, NodeMessage, NodeMessageInFlow } from 'node-red';
import { DeviceConfig, DeviceSession, deviceKey, sessionRegistry } from '../../lib/device';
import { ZkConnectionError } from '../../lib/errors';
import { FleetScheduler, configuredFleet, describeDevice, fleetFromMsg } from '../../lib/fleet';
import type { PushUserHost } from '../../lib/push/user-commands';
import {
  MasterUser,
  TemplateDevice,
  TemplateSet,
  UserDevice,
  copyTemplates,
  emptyReport,
  groupTemplates,
  loadBackup,
  parseMasterList,
  readHrRows,
  saveBackup,
  syncDevice,
} from '../../lib/users';
import { asUserDevice } from '../../lib/users/client';
import type { ZkDeviceNode } from '../zk-device/zk-device-api';
import { fmtCount, NodeStatus, ThrottledStatus } from '../shared/status';
import { nodeLogger, stateDir } from '../shared/runtime';
import {
  UsersRequest,
  UsersSettings,
  ZkUsersCredentials,
  ZkUsersDef,
  readRequest,
  usersSettings,
} from './users-config';

type ZkUsersNode = Node<ZkUsersCredentials>;

type Target = { kind: 'tcp'; cfg: DeviceConfig } | { kind: 'push'; sn: string };
type AnyDevice = UserDevice & TemplateDevice;

interface Outcome {
  payload: Record<string, unknown>;
  serial: string | null;
}

const BACKUP_NAME = /^[A-Za-z0-9_.-]{1,120}\.json$/;

export = (RED: NodeAPI): void => {
  function ZkUsers(this: ZkUsersNode, def: ZkUsersDef): void {
    RED.nodes.createNode(this, def);
    const node = this;
    const status = new ThrottledStatus(node);
    let settings: UsersSettings;
    let fleet: DeviceConfig[] = [];
    let deviceNode: ZkDeviceNode | null = null;
    let singleSession: DeviceSession | null = null;
    let configError: Error | null = null;
    try {
      settings = usersSettings(def, node.credentials ?? {});
      if (settings.mode === 'device') {
        deviceNode = def.device ? (RED.nodes.getNode(def.device) as ZkDeviceNode | null) : null;
        if (!deviceNode)
          throw new Error('no zk-device selected (choose a device, or switch to a device list or range)');
        singleSession = deviceNode.acquire(node);
      } else fleet = configuredFleet(def, settings);
    } catch (err) {
      configError = err as Error;
      settings = usersSettings({}, {});
      node.error(`zk-users ${def.name || node.id}: ${configError.message}`);
      status.set({ fill: 'red', shape: 'ring', text: configError.message.slice(0, 40) }, true);
    }
    const backupDir = stateDir(RED.settings, node, 'templates');
    const scheduler = new FleetScheduler({ concurrency: settings.concurrency, failuresToError: 1 });
    const abort = new AbortController();
    const serials = new Map<string, string>();
    let closing = false;
    let chain: Promise<unknown> = Promise.resolve();
    const sessionLogger = nodeLogger(node);

    function pushHost(): PushUserHost['pushUsers'] | null {
      if (!settings.push) return null;
      const host = (RED.nodes.getNode(settings.push) as (Node & PushUserHost) | null)?.pushUsers;
      if (!host) throw new Error('the selected zk-push node is not running (deploy it, or clear "Push node")');
      return host;
    }

    function targetsFor(msg: NodeMessageInFlow): Target[] {
      const m = msg as NodeMessageInFlow & { devices?: unknown };
      const tcp =
        m.devices !== undefined && settings.mode === 'msg'
          ? fleetFromMsg(m.devices, settings)
          : singleSession
            ? [singleSession.config]
            : fleet;
      const out: Target[] = tcp.map((cfg) => ({ kind: 'tcp', cfg }));
      const host = pushHost();
      if (host)
        for (const sn of settings.pushDevices.length > 0 ? settings.pushDevices : host.known())
          out.push({ kind: 'push', sn });
      return out;
    }

    const keyOf = (t: Target): string => (t.kind === 'tcp' ? deviceKey(t.cfg) : `push:${t.sn}`);

    /** Runs `fn` with the target as a user device; push devices go through zk-push's command queue. */
    async function withDevice<T>(
      t: Target,
      signal: AbortSignal,
      fn: (d: AnyDevice) => Promise<T>,
    ): Promise<{ value: T; serial: string | null; describe: Record<string, unknown> }> {
      if (t.kind === 'push') {
        const host = pushHost();
        if (!host) throw new Error('no zk-push node');
        const value = await fn(host.commands.device(t.sn, { answerTimeoutMs: settings.pushTimeoutMs }));
        return { value, serial: t.sn, describe: { serial: t.sn, name: null, site: null, host: 'push', tz: null } };
      }
      const own = singleSession !== null;
      const session = singleSession ?? sessionRegistry.acquire(t.cfg, { logger: sessionLogger });
      const key = deviceKey(t.cfg);
      if (!own && session.serial === null && serials.has(key)) session.serial = serials.get(key) ?? null;
      const onAbort = () =>
        void session.disconnect(new ZkConnectionError(`${session.label}: stopped (node closed or redeployed)`));
      signal.addEventListener('abort', onAbort, { once: true });
      try {
        // The serial names the device in reports and backups; read once per session (queued like any operation).
        await session.ensureSerial();
        const value = await session.run('users', (client) => fn(asUserDevice(client)));
        if (session.serial) serials.set(key, session.serial);
        return { value, serial: session.serial, describe: describeDevice(session) };
      } finally {
        signal.removeEventListener('abort', onAbort);
        if (!own) await sessionRegistry.release(session);
      }
    }

    /** The templates to copy: from a backup file, or read from the source device of the fleet. */
    async function copySource(
      req: UsersRequest,
      targets: Target[],
    ): Promise<{ set: TemplateSet; sourceKey: string | null; label: string }> {
      if (req.from === '')
        throw new Error(
          'templates copy needs a source: a device of the list (host:port) or a backup file name (msg.from)',
        );
      if (req.from.endsWith('.json')) {
        if (!BACKUP_NAME.test(req.from))
          throw new Error(`backup "${req.from}" must be a file name in ${backupDir} (no folders)`);
        return { set: await loadBackup(path.join(backupDir, req.from)), sourceKey: null, label: req.from };
      }
      const src = targets.find(
        (t) =>
          keyOf(t) === req.from || (t.kind === 'tcp' && t.cfg.name === req.from) || serials.get(keyOf(t)) === req.from,
      );
      if (!src)
        throw new Error(
          `templates copy: source device "${req.from}" is not one of this node's devices (give host:port, its name or serial)`,
        );
      if (src.kind === 'push')
        throw new Error(
          `templates copy: push device ${src.sn} cannot be the source (push devices upload templates on their own schedule); copy from a backup or a polled device`,
        );
      const r = await withDevice(src, abort.signal, async (d) => groupTemplates(await d.templates()));
      return { set: r.value, sourceKey: keyOf(src), label: req.from };
    }

    async function work(
      t: Target,
      req: UsersRequest,
      master: MasterUser[] | null,
      source: TemplateSet | null,
      signal: AbortSignal,
    ): Promise<Outcome> {
      if (req.action === 'read') {
        const r = await withDevice(t, signal, async (d) => {
          const users = await d.users();
          const templates = settings.withTemplates
            ? (await d.templates()).map((x) => ({
                userId: x.userId,
                finger: x.finger,
                flag: x.flag,
                data: x.data.toString('base64'),
              }))
            : undefined;
          return { users, templates };
        });
        return {
          serial: r.serial,
          payload: {
            ok: true,
            device: r.describe,
            users: r.value.users,
            ...(r.value.templates ? { templates: r.value.templates } : {}),
          },
        };
      }
      if (req.action === 'sync') {
        const r = await withDevice(t, signal, (d) =>
          syncDevice(d, master ?? [], { missing: settings.missing, dryRun: req.dryRun }),
        );
        return { serial: r.serial, payload: { ok: r.value.failed.length === 0, device: r.describe, ...r.value } };
      }
      if (req.templatesMode === 'backup') {
        if (t.kind === 'push')
          throw new Error(
            `push device ${t.sn}: templates are backed up from polled devices only (push devices upload them on their own schedule)`,
          );
        const r = await withDevice(t, signal, async (d) => ({
          users: await d.users(),
          templates: await d.templates(),
        }));
        const set = groupTemplates(r.value.templates);
        const count = r.value.templates.length;
        if (req.dryRun)
          return {
            serial: r.serial,
            payload: { ok: true, device: r.describe, dryRun: true, users: set.size, templates: count },
          };
        const host = deviceKey(t.cfg);
        const file = await saveBackup(backupDir, { serial: r.serial, host }, r.value.users, r.value.templates);
        return { serial: r.serial, payload: { ok: true, device: r.describe, file, users: set.size, templates: count } };
      }
      const only = req.userId ? [req.userId] : null;
      const r = await withDevice(t, signal, (d) => {
        if (!req.dryRun) return copyTemplates(source ?? new Map(), d, only);
        return Promise.resolve({
          copied: [],
          unchanged: [],
          failed: [],
          wouldCopy: only ?? [...(source ?? new Map()).keys()],
        });
      });
      return {
        serial: r.serial,
        payload: { ok: r.value.failed.length === 0, device: r.describe, dryRun: req.dryRun, ...r.value },
      };
    }

    async function run(msg: NodeMessageInFlow): Promise<{ ok: number; failed: number; failures: string[] }> {
      if (configError) throw configError;
      const req = readRequest(msg as unknown as Record<string, unknown>, settings);
      // The whole list is checked before any device is touched: a bad entry writes nothing anywhere.
      let master: MasterUser[] | null = null;
      if (req.action === 'sync') {
        // A list in msg.payload wins; otherwise the node's HR table, read now.
        const fromHr = !Array.isArray(msg.payload) && settings.hr !== null;
        master =
          fromHr && settings.hr
            ? parseMasterList(await readHrRows(settings.hr), 'HR row')
            : parseMasterList(msg.payload);
      }
      let targets = targetsFor(msg);
      if (targets.length === 0)
        throw new Error('no devices (fill in the device list, give msg.devices, or pick push devices)');
      let source: TemplateSet | null = null;
      let sourceLabel: string | null = null;
      if (req.action === 'templates' && req.templatesMode === 'copy') {
        const s = await copySource(req, targets);
        source = s.set;
        sourceLabel = s.label;
        targets = targets.filter((t) => keyOf(t) !== s.sourceKey);
      }
      const totals = { ok: 0, failed: 0, failures: [] as string[] };
      const perDevice: Record<string, unknown>[] = [];
      status.set({ fill: 'blue', shape: 'dot', text: `${req.action}: 0/${targets.length}` }, true);
      await scheduler.runCycle(
        targets.map((t) => ({ key: keyOf(t), item: t })),
        (t, _k, signal) => work(t, req, master, source, signal),
        {
          force: true,
          signal: abort.signal,
          onProgress: (done, total) =>
            !closing && status.set({ fill: 'blue', shape: 'dot', text: `${req.action}: ${done}/${total}` }),
          onResult: (r) => {
            if (closing) return;
            const topic = r.value?.serial ?? (r.item.kind === 'push' ? r.item.sn : (serials.get(r.key) ?? r.key));
            let payload: Record<string, unknown>;
            if (r.status === 'ok' && r.value) {
              payload = r.value.payload;
              if (payload.ok) totals.ok++;
              else {
                totals.failed++;
                totals.failures.push(`${topic}: ${(payload.failed as unknown[]).length} user(s) failed`);
              }
            } else {
              totals.failed++;
              const err = r.error?.message ?? 'unknown failure';
              const label = r.item.kind === 'tcp' && r.item.cfg.name ? `${r.item.cfg.name} (${topic})` : topic;
              totals.failures.push(`${label}: ${err}`);
              const device =
                r.item.kind === 'tcp'
                  ? {
                      serial: serials.get(r.key) ?? null,
                      name: r.item.cfg.name,
                      site: r.item.cfg.site,
                      host: r.key,
                      tz: r.item.cfg.tz,
                    }
                  : { serial: r.item.sn, name: null, site: null, host: 'push', tz: null };
              payload = { ok: false, device, error: err, ...(req.action === 'sync' ? emptyReport(req.dryRun) : {}) };
            }
            const out = {
              topic,
              action: req.action,
              dryRun: req.dryRun,
              at: new Date().toISOString(),
              payload,
              ...(sourceLabel ? { from: sourceLabel } : {}),
            };
            perDevice.push({ topic, ...payload });
            node.send([out as unknown as NodeMessage, null]);
          },
        },
      );
      if (!closing) {
        const summary = {
          action: req.action,
          dryRun: req.dryRun,
          devices: targets.length,
          ok: totals.ok,
          failed: totals.failed,
          failures: totals.failures,
        };
        node.send([null, { topic: 'summary', payload: summary } as NodeMessage]);
        const fill: NodeStatus['fill'] = totals.failed === 0 ? 'green' : totals.ok === 0 ? 'red' : 'yellow';
        status.set(
          {
            fill,
            shape: 'dot',
            text: `${req.dryRun ? 'dry run ' : ''}${req.action}: ${fmtCount(totals.ok)} ok${totals.failed ? ` · ${totals.failed} failed` : ''}`,
          },
          true,
        );
      }
      return totals;
    }

    node.on('input', (msg: NodeMessageInFlow, _send: unknown, done: (err?: Error) => void) => {
      // Requests run one after another: two syncs interleaved on one device would fight.
      const result = chain.then(() => (closing ? Promise.reject(new Error('zk-users is closing')) : run(msg)));
      chain = result.catch(() => undefined);
      result.then(
        (t) => {
          if (t.failed > 0) {
            const list =
              t.failures.slice(0, 5).join('; ') + (t.failures.length > 5 ? `; and ${t.failures.length - 5} more` : '');
            done(new Error(`zk-users: ${t.failed} of ${t.ok + t.failed} device(s) failed: ${list}`));
          } else done();
        },
        (err: Error) => {
          if (!closing) status.set({ fill: 'red', shape: 'ring', text: err.message.slice(0, 40) }, true);
          done(err);
        },
      );
    });

    node.on('close', (_removed: boolean, done: () => void) => {
      closing = true;
      status.close();
      abort.abort(new Error('zk-users closed'));
      const finish = async () => {
        await chain;
        if (deviceNode && singleSession) await deviceNode.release(node);
        singleSession = null;
      };
      finish().then(
        () => done(),
        (err: Error) => {
          node.warn(`zk-users close: ${err.message}`);
          done();
        },
      );
    });
  }

  RED.nodes.registerType<ZkUsersNode, ZkUsersDef, Record<string, never>, ZkUsersCredentials>('zk-users', ZkUsers, {
    credentials: { commKey: { type: 'password' }, hrPassword: { type: 'password' } },
  });
};
