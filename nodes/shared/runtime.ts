/**
 * The runtime chores every PunchFlow node shares: where its state lives on disk, how lib/'s log lines reach
 * the Node-RED log, and what it says when it is deleted from the flow while state stays behind.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

/** The parts of a Node-RED node the kit uses (a plain object in a unit test). */
export interface KitNode {
  id: string;
  type: string;
  name?: string;
  log(m: string): void;
  warn(m: string): void;
  debug(m: string): void;
}

/** The parts of RED.settings the kit reads. */
export interface KitSettings {
  userDir?: unknown;
}

/**
 * `<user directory>/punchflow/<parts…>`. Node-RED always sets a user directory; an embedding that does not
 * gets Node-RED's own default (`~/.node-red`), so state still survives a reboot, and one warning naming it.
 */
export function stateDir(settings: KitSettings, node: Pick<KitNode, 'warn'>, ...parts: string[]): string {
  return path.join(userDirOf(settings, node), 'punchflow', ...parts);
}

/** The user directory, with the same fallback and warning as stateDir. */
export function userDirOf(settings: KitSettings, node: Pick<KitNode, 'warn'>): string {
  const set = settings.userDir;
  if (typeof set === 'string' && set !== '') return set;
  const fallback = path.join(os.homedir(), '.node-red');
  node.warn(`Node-RED has no user directory setting: PunchFlow keeps this node's state in ${fallback}`);
  return fallback;
}

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
export type NodeLogger = (level: LogLevel, message: string, details?: Record<string, unknown>) => void;

/**
 * lib/'s loggers → the node's log. Warnings and errors are warnings (never Catch-node errors: the node reports
 * those itself, with a msg); info and debug are debug. A warning repeated with the same text within
 * `quietMs` (a device failing every retry, a pool error per reconnect) goes to debug, so the log shows
 * each problem once per hour rather than once per attempt.
 */
export function nodeLogger(
  node: Pick<KitNode, 'warn' | 'debug'>,
  quietMs = 3600_000,
  now: () => number = Date.now,
): NodeLogger {
  const lastSaid = new Map<string, number>();
  return (level, message) => {
    if (level === 'debug' || level === 'info') return node.debug(message);
    const t = now();
    const at = lastSaid.get(message);
    if (at !== undefined && t - at < quietMs) return node.debug(message);
    // Bounded: a long-running fleet may produce many distinct texts.
    if (lastSaid.size >= 1000) lastSaid.clear();
    lastSaid.set(message, t);
    node.warn(message);
  };
}

/** A folder a node keeps and why (e.g. 'cursors', 'so a node restored with the same id resumes where it stopped'). */
export interface KeptState {
  dir: string;
  what: string;
  why: string;
}

/**
 * Called from `close(removed)`: when the node was deleted (not redeployed), says once per folder that still
 * exists what stays on disk, where, and why it is not deleted. Returns the lines it logged.
 */
export function tellKeptState(
  node: Pick<KitNode, 'log' | 'type' | 'id' | 'name'>,
  removed: boolean,
  kept: KeptState[],
): string[] {
  if (!removed) return [];
  const said: string[] = [];
  for (const k of kept) {
    if (!fs.existsSync(k.dir)) continue;
    const line = `${node.type} "${node.name || node.id}" was removed; its ${k.what} stay in ${k.dir} ${k.why} (delete the folder to discard them)`;
    node.log(line);
    said.push(line);
  }
  return said;
}
