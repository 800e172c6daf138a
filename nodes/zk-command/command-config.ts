/**
 * zk-command's flow-JSON properties → typed settings, and one input message → the action to run. No
 * Node-RED runtime here, so it is testable on its own.
 */
import type { NodeDef } from 'node-red';
import { MAX_UNLOCK_SECONDS } from '../../lib/client';
import { FleetSource, FleetSourceDef, fleetSource } from '../../lib/fleet';
import { settingInteger as int, settingNumber as num } from '../shared/settings';

export const ACTIONS = ['info', 'syncClock', 'unlock', 'restart', 'clear'] as const;
export type CommandAction = (typeof ACTIONS)[number];
/** Actions that change the device in a way a person notices (or that removes data): each needs its allow box. */
export const DESTRUCTIVE: Readonly<Record<string, keyof AllowFlags>> = {
  unlock: 'allowUnlock',
  restart: 'allowRestart',
  clear: 'allowClear',
};

export interface AllowFlags {
  allowUnlock: boolean;
  allowRestart: boolean;
  allowClear: boolean;
}

export interface ZkCommandDef extends NodeDef, FleetSourceDef {
  action: CommandAction;
  /** Clock sync: set only when the device is more than this many seconds off. */
  threshold: string | number;
  /** Door unlock time, seconds. */
  unlockSeconds: string | number;
  /** Safe clear: the zk-poll node whose cursors must show every record delivered. */
  pollNode: string;
  concurrency: string | number;
  allowUnlock: boolean;
  allowRestart: boolean;
  allowClear: boolean;
}

export interface ZkCommandCredentials {
  commKey?: string;
}

export interface CommandSettings extends FleetSource, AllowFlags {
  action: CommandAction;
  thresholdSec: number;
  unlockSeconds: number;
  pollNode: string;
  concurrency: number;
}

function isAction(v: unknown): v is CommandAction {
  return typeof v === 'string' && (ACTIONS as readonly string[]).includes(v);
}

/** Validates the node's settings; throws naming the field. */
export function commandSettings(def: Partial<ZkCommandDef>, creds: ZkCommandCredentials): CommandSettings {
  const action = def.action === undefined || (def.action as string) === '' ? 'info' : def.action;
  if (!isAction(action))
    throw new Error(`action: unknown action "${String(action)}" (info, syncClock, unlock, restart, clear)`);
  return {
    ...fleetSource(def, creds.commKey),
    action,
    thresholdSec: num(def.threshold, 30, 'clock threshold', 0, 86400),
    unlockSeconds: int(def.unlockSeconds, 3, 'unlock seconds', 1, MAX_UNLOCK_SECONDS),
    pollNode: typeof def.pollNode === 'string' ? def.pollNode.trim() : '',
    concurrency: int(def.concurrency, 8, 'concurrency', 1, 64),
    allowUnlock: def.allowUnlock === true,
    allowRestart: def.allowRestart === true,
    allowClear: def.allowClear === true,
  };
}

export interface CommandRequest {
  action: CommandAction;
  thresholdSec: number;
  unlockSeconds: number;
  /** Only this device of the node's devices: its host:port, serial or name (a dashboard row's action). */
  device?: string;
}

/**
 * The action of one message: `msg.payload` may be an action name or `{action, threshold, seconds}`; anything
 * else runs the configured action. Throws with a plain reason for a bad value (never runs something else).
 */
export function readCommandRequest(payload: unknown, s: CommandSettings): CommandRequest {
  const req: CommandRequest = { action: s.action, thresholdSec: s.thresholdSec, unlockSeconds: s.unlockSeconds };
  if (typeof payload === 'string' && payload.trim() !== '' && !/^\d+$/.test(payload)) {
    if (!isAction(payload.trim()))
      throw new Error(`msg.payload "${payload}" is not an action (info, syncClock, unlock, restart, clear)`);
    req.action = payload.trim() as CommandAction;
    return req;
  }
  if (typeof payload !== 'object' || payload === null || Array.isArray(payload)) return req;
  const p = payload as Record<string, unknown>;
  if (p.action !== undefined) {
    if (!isAction(p.action))
      throw new Error(
        `msg.payload.action "${String(p.action)}" is not an action (info, syncClock, unlock, restart, clear)`,
      );
    req.action = p.action;
  }
  if (p.threshold !== undefined) {
    const t = Number(p.threshold);
    if (typeof p.threshold === 'boolean' || !Number.isFinite(t) || t < 0 || t > 86400)
      throw new Error(
        `msg.payload.threshold must be a number of seconds from 0 to 86400 (got ${JSON.stringify(p.threshold)})`,
      );
    req.thresholdSec = t;
  }
  if (p.seconds !== undefined) {
    const n = Number(p.seconds);
    if (typeof p.seconds === 'boolean' || !Number.isInteger(n) || n < 1 || n > MAX_UNLOCK_SECONDS) {
      throw new Error(
        `msg.payload.seconds (door unlock time) must be a whole number from 1 to ${MAX_UNLOCK_SECONDS} (got ${JSON.stringify(p.seconds)})`,
      );
    }
    req.unlockSeconds = n;
  }
  if (p.device !== undefined) {
    if (typeof p.device !== 'string' || p.device.trim() === '')
      throw new Error(
        `msg.payload.device must be a device's host:port, serial or name (got ${JSON.stringify(p.device)})`,
      );
    req.device = p.device.trim();
  }
  return req;
}

/** Null when allowed, else the plain reason it is refused. */
export function refusal(action: CommandAction, s: AllowFlags): string | null {
  const flag = DESTRUCTIVE[action];
  if (!flag || s[flag]) return null;
  const what = action === 'clear' ? 'safe clear' : action === 'unlock' ? 'door unlock' : 'restart';
  return `${what} is not allowed on this node: tick "allow ${what}" in its settings (off by default)`;
}
