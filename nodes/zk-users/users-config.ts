/**
 * zk-users' flow-JSON properties → typed settings, and what one input message asks for. No Node-RED
 * runtime here, so it is testable on its own and the node file stays a thin adapter.
 */
import type { NodeDef } from 'node-red';
import { FleetSource, FleetSourceDef, fleetSource } from '../../lib/fleet';
import { HrMysqlOptions, MISSING_POLICIES, MissingPolicy, checkHrQuery } from '../../lib/users';
import { settingInteger } from '../shared/settings';
import { readSetting, SETTING_RULES } from '../shared/setting-rules';

export type UsersAction = 'read' | 'sync' | 'templates';
export const USERS_ACTIONS: readonly UsersAction[] = ['read', 'sync', 'templates'];
export type TemplatesMode = 'backup' | 'copy';

export interface ZkUsersDef extends NodeDef, FleetSourceDef {
  action?: UsersAction;
  /** Device users not in the master list: disable (default), leave, or delete. */
  missing?: MissingPolicy;
  /** read: also each user's fingerprint templates. */
  withTemplates?: boolean;
  templatesMode?: TemplatesMode;
  /** templates copy: a device of the fleet (host:port) or a backup file name in the backup directory. */
  from?: string;
  concurrency?: string | number;
  /** A zk-push node whose devices are synced too, through its command queue. */
  push?: string;
  /** Serials of the push devices (one per line or comma-separated); blank: every device that zk-push knows. */
  pushDevices?: string;
  /** Seconds to wait for a push device's answers. */
  pushTimeout?: string | number;
  /** sync: the master list from msg.payload (default), or read from an HR table in MySQL on each input. */
  hrSource?: 'msg' | 'mysql';
  hrHost?: string;
  hrPort?: string | number;
  hrUser?: string;
  hrDatabase?: string;
  hrQuery?: string;
}

export interface ZkUsersCredentials {
  commKey?: string;
  /** The HR database user's password. */
  hrPassword?: string;
}

export interface UsersSettings extends FleetSource {
  action: UsersAction;
  missing: MissingPolicy;
  withTemplates: boolean;
  templatesMode: TemplatesMode;
  from: string;
  concurrency: number;
  push: string | null;
  pushDevices: string[];
  pushTimeoutMs: number;
  /** The HR table to read the master list from (null: msg.payload). */
  hr: HrMysqlOptions | null;
}

export function parseSerials(text: string | undefined): string[] {
  return (text ?? '')
    .split(/[\s,;]+/)
    .map((s) => s.trim())
    .filter((s) => s !== '');
}

/** Validates the node's settings; throws naming the field. */
export function usersSettings(def: Partial<ZkUsersDef>, creds: ZkUsersCredentials): UsersSettings {
  const action = def.action || 'sync';
  if (!USERS_ACTIONS.includes(action))
    throw new Error(`action must be read, sync or templates (got "${String(action)}")`);
  const missing = def.missing || 'disable';
  if (!MISSING_POLICIES.includes(missing))
    throw new Error(`users not in the list must be disable, leave or delete (got "${String(missing)}")`);
  const templatesMode = def.templatesMode || 'backup';
  if (templatesMode !== 'backup' && templatesMode !== 'copy')
    throw new Error(`templates must be backup or copy (got "${String(templatesMode)}")`);
  return {
    ...fleetSource(def, creds.commKey),
    action,
    missing,
    withTemplates: def.withTemplates === true,
    templatesMode,
    from: (def.from ?? '').trim(),
    concurrency: readSetting(SETTING_RULES['zk-users'].concurrency, def.concurrency),
    push: def.push || null,
    pushDevices: parseSerials(def.pushDevices),
    pushTimeoutMs: readSetting(SETTING_RULES['zk-users'].pushTimeout, def.pushTimeout) * 1000,
    hr: def.hrSource === 'mysql' ? hrSettings(def, creds) : null,
  };
}

function hrSettings(def: Partial<ZkUsersDef>, creds: ZkUsersCredentials): HrMysqlOptions {
  const need = (v: string | undefined, field: string): string => {
    if (!v || !v.trim()) throw new Error(`HR database: ${field} is empty`);
    return v.trim();
  };
  return {
    host: need(def.hrHost, 'host'),
    port: settingInteger(def.hrPort, 3306, 'HR database port', 1, 65535),
    user: need(def.hrUser, 'user'),
    password: creds.hrPassword ?? '',
    database: need(def.hrDatabase, 'database'),
    query: checkHrQuery(need(def.hrQuery, 'query')),
  };
}

/** What one message asks for: the node's settings unless the message says otherwise. */
export interface UsersRequest {
  action: UsersAction;
  dryRun: boolean;
  templatesMode: TemplatesMode;
  from: string;
  /** templates copy: only this user (else all). */
  userId: string | null;
}

export function readRequest(msg: Record<string, unknown>, s: UsersSettings): UsersRequest {
  const action = msg.action === undefined ? s.action : msg.action;
  if (typeof action !== 'string' || !USERS_ACTIONS.includes(action as UsersAction))
    throw new Error(`msg.action must be read, sync or templates (got ${JSON.stringify(action)})`);
  const mode = msg.templates === undefined ? s.templatesMode : msg.templates;
  if (mode !== 'backup' && mode !== 'copy')
    throw new Error(`msg.templates must be backup or copy (got ${JSON.stringify(mode)})`);
  if (msg.dryRun !== undefined && typeof msg.dryRun !== 'boolean') throw new Error('msg.dryRun must be true or false');
  if (msg.from !== undefined && typeof msg.from !== 'string')
    throw new Error('msg.from must be a device (host:port) or a backup file name');
  const userId = msg.userId === undefined || msg.userId === null ? null : String(msg.userId).trim();
  if (userId === '') throw new Error('msg.userId is empty');
  return {
    action: action as UsersAction,
    dryRun: msg.dryRun === true,
    templatesMode: mode,
    from: ((msg.from as string | undefined) ?? s.from).trim(),
    userId,
  };
}
