/**
 * zk-push: receives punches from devices that push over HTTP (ADMS/iclock, docs/adms.md). lib/push does
 * the protocol; this file adapts it to Node-RED: where it listens (RED.httpNode under a base path, or its
 * own port), where its journal and state live (the user directory), and what goes to which output.
 * Output 1: the records of each ATTLOG post (an array), from the journal. Output 2: device status events,
 * bad lines, command results, refused requests, raw other tables.
 */
import * as path from 'path';
import type { Node, NodeAPI, NodeMessage } from 'node-red';
import { PushJournal } from '../../lib/push/journal';
import { listenPush, PushListener } from '../../lib/push/listener';
import { PushHooks, PushServer } from '../../lib/push/server';
import { PushState } from '../../lib/push/state';
import { PushUserCommands, PushUserHost } from '../../lib/push/user-commands';
import { mountPush } from './http-mount';
import { PushNodeSettings, pushNodeSettings, ZkPushCredentials, ZkPushDef } from './push-config';
import { fmtCount, ThrottledStatus } from '../shared/status';
import { stateDir, tellKeptState } from '../shared/runtime';

type ZkPushNode = Node<ZkPushCredentials> & PushUserHost;

export = (RED: NodeAPI): void => {
  function ZkPush(this: ZkPushNode, def: ZkPushDef): void {
    RED.nodes.createNode(this, def);
    const node = this;
    const status = new ThrottledStatus(node);
    const dir = stateDir(RED.settings, node, 'push', node.id);
    let settings: PushNodeSettings | null = null;
    let server: PushServer | null = null;
    let journal: PushJournal | null = null;
    let state: PushState | null = null;
    let listener: PushListener | null = null;
    let unmount: (() => void) | null = null;
    let closing = false;
    let emitted = 0;
    const where = (): string =>
      settings?.listen === 'port' && listener ? `:${listener.port}` : settings?.server.basePath || '/';

    const showStatus = (force = false): void => {
      if (!server) return;
      const waiting = journal?.pending ?? 0;
      const n = server.devices.known().length;
      const text =
        waiting > 0 ? `${where()} · queued ${fmtCount(waiting)}` : `${where()} · ${n} dev · ${fmtCount(emitted)} rec`;
      status.set({ fill: 'green', shape: 'dot', text }, force);
    };

    const out2 = (topic: string, payload: unknown, extra: Record<string, unknown> = {}): void => {
      if (!closing) node.send([null, { topic, payload, ...extra } as NodeMessage]);
    };

    // zk-users reaches this node's devices through the same command queue (user and template sync).
    const userCommands = new PushUserCommands({
      enqueue: (sn, command) => {
        if (!server || !settings || !state) return Promise.reject(new Error('zk-push is not running'));
        if (!settings.server.devices.has(sn) && !state.has(sn)) {
          return Promise.reject(
            new Error(`push device ${sn} is not on zk-push's device list and has never connected: check the serial`),
          );
        }
        return server.commands.enqueue(sn, command);
      },
    });
    node.pushUsers = { commands: userCommands, known: () => server?.devices.known() ?? [] };

    const hooks: PushHooks = {
      status: (e) => {
        out2(e.deviceSn ?? 'device', e);
        showStatus();
      },
      badLines: (sn, bad) => out2('anomaly', bad, { deviceSn: sn }),
      table: (t) => out2('table', t, { deviceSn: t.deviceSn }),
      command: (c) => out2('command', c, { deviceSn: c.deviceSn }),
      options: (o) => out2('options', o, { deviceSn: o.deviceSn }),
      rejected: (r) => {
        out2('rejected', r, { deviceSn: r.deviceSn });
        node.warn(
          `zk-push: refused ${r.path} from ${r.deviceSn ?? r.remoteAddress ?? 'unknown'}: ${r.reason} (HTTP ${r.status})`,
        );
      },
      unknownDevice: (sn, remote) => {
        out2('unknown-device', { deviceSn: sn, remoteAddress: remote, accepted: true });
        node.warn(`zk-push: accepted device ${sn} (${remote ?? '?'}) that is not on the device list`);
      },
      error: (err) => node.error(err.message),
    };

    // Results of zk-users' commands go into its sync report, not one message each on output 2.
    const showCommand = hooks.command;
    hooks.command = (c) => {
      if (!userCommands.onCommand(c)) showCommand?.(c);
    };
    hooks.userLines = (sn, text) => userCommands.onUserLines(sn, text);

    const ready: Promise<void> = (async () => {
      settings = pushNodeSettings(def, node.credentials ?? {});
      const s = settings;
      const st = await PushState.open(path.join(dir, 'state.json'), {
        onError: (e) => node.warn(`zk-push: saving device state: ${e.message}`),
      });
      state = st;
      const j = await PushJournal.open(path.join(dir, 'journal'), (m) => node.warn(m));
      journal = j;
      if (closing) return;
      if (j.pending > 0) node.log(`replaying ${fmtCount(j.pending)} journaled posts`);
      server = new PushServer(s.server, j, st, hooks);
      j.start(
        (e) => {
          if (closing) throw new Error('closing');
          const dev = s.server.devices.get(e.deviceSn);
          node.send([
            {
              topic: e.deviceSn,
              payload: e.records,
              device: {
                deviceSn: e.deviceSn,
                deviceName: dev?.name ?? null,
                site: dev?.site ?? s.server.defaultSite,
                deviceHost: null,
                stamp: e.stamp,
              },
            } as NodeMessage,
            null,
          ]);
          emitted += e.records.length;
          showStatus();
        },
        (err) => node.warn(`zk-push: journal: ${err.message}`),
      );
      if (s.listen === 'port') {
        listener = await listenPush(server, s.port, s.host);
        if (closing) await listener.close();
      } else {
        unmount = mountPush(RED.httpNode as unknown as Parameters<typeof mountPush>[0], s.server.basePath, server);
      }
      server.startSweeps();
      showStatus(true);
    })();
    ready.catch((err: Error) => {
      node.error(`zk-push: ${err.message}`);
      status.set({ fill: 'red', shape: 'ring', text: err.message.slice(0, 40) }, true);
    });

    node.on('input', (msg: NodeMessage, send, done) => {
      const p = (msg as { payload?: unknown }).payload as { sn?: unknown; command?: unknown } | null;
      ready
        .then(() => {
          if (!server || !settings) throw new Error('zk-push is not running');
          if (p === null || typeof p !== 'object') throw new Error('zk-push: msg.payload must be {sn, command}');
          return server.queueCommand(p.sn, p.command, settings.allowDestructive);
        })
        .then(
          (c) => {
            send([
              null,
              {
                ...msg,
                topic: 'command',
                payload: {
                  deviceSn: c.deviceSn,
                  id: c.id,
                  command: c.command,
                  state: c.state,
                  returnCode: null,
                  result: null,
                },
              } as NodeMessage,
            ]);
            done();
          },
          (err: Error) => done(err),
        );
    });

    node.on('close', (removed: boolean, done: () => void) => {
      closing = true;
      userCommands.close();
      journal?.stop();
      status.close();
      // The journal stays on disk even when the node is removed: deleting it would lose punches.
      tellKeptState(node, removed, [
        { dir, what: 'journal and device state', why: 'so punches received but not yet sent on are not lost' },
      ]);
      const finish = async (): Promise<void> => {
        await ready.catch(() => undefined);
        unmount?.();
        server?.stopSweeps();
        await listener?.close();
        await journal?.close();
        await state?.close();
      };
      finish().then(done, (err: Error) => {
        node.warn(`zk-push: close: ${err.message}`);
        done();
      });
    });
  }

  RED.nodes.registerType<ZkPushNode, ZkPushDef, Record<string, never>, ZkPushCredentials>('zk-push', ZkPush, {
    credentials: { token: { type: 'password' } },
  });
};
