/**
 * What zk-push knows about each device it heard from: allow-list entry, last seen, push counts, what the
 * `INFO` heartbeat parameter and Push 3.x registration report. Produces the status events of output 2.
 */
import { DeviceStatusEvent, emptyStatus } from '../record/status';
import type { AllowedDevice } from './allow-list';

export interface PushStats {
  /** ATTLOG posts accepted since start. */
  posts: number;
  /** Records accepted since start. */
  records: number;
  /** Lines refused (bad lines) since start. */
  badLines: number;
  /** Last ATTLOG `Stamp` the device sent. */
  stamp: string | null;
  lastPost: string | null;
  remoteAddress: string | null;
  pushVersion: string | null;
  /** false when the serial is not on the allow-list and was accepted anyway. */
  listed: boolean;
}

/** A device status event with the push-specific figures under `push`. */
export interface PushStatusEvent extends DeviceStatusEvent {
  push: PushStats;
}

interface Live {
  config: AllowedDevice;
  lastSeen: number;
  online: boolean;
  firmware: string | null;
  users: number | null;
  records: number | null;
  newRecords: number;
  stats: PushStats;
}

export interface DeviceInfo {
  firmware?: string | null;
  users?: number | null;
  records?: number | null;
  pushVersion?: string | null;
  name?: string | null;
}

/** `INFO=<fw>,<users>,<fps>,<atts>,<ip>,…` from getrequest. */
export function parseInfoParam(v: string | null): DeviceInfo | null {
  if (!v) return null;
  const p = v.split(',').map((s) => s.trim());
  const int = (s: string | undefined): number | null => (s !== undefined && /^\d{1,9}$/.test(s) ? Number(s) : null);
  return { firmware: p[0] ? p[0].slice(0, 64) : null, users: int(p[1]), records: int(p[3]) };
}

/**
 * What an INFO answer (devicecmd detail lines or an options post) says about the device. Names differ by
 * firmware; null when it names none of them.
 */
export function infoFromFields(f: Readonly<Record<string, string>>): DeviceInfo | null {
  const pick = (...keys: string[]): string | null => {
    for (const k of keys) if (Object.prototype.hasOwnProperty.call(f, k) && f[k].trim() !== '') return f[k].trim();
    return null;
  };
  const int = (v: string | null): number | null => (v !== null && /^\d{1,9}$/.test(v) ? Number(v) : null);
  const info: DeviceInfo = {
    firmware: pick('FWVersion', 'FirmVer', 'FirmwareVersion', 'FirmwareVer')?.slice(0, 64) ?? null,
    users: int(pick('UserCount', 'UserCnt', '~UserCount')),
    records: int(pick('TransactionCount', 'AttLogCount', 'AttlogCount', 'AttLogCnt')),
    name: pick('DeviceName')?.slice(0, 64) ?? null,
  };
  return info.firmware === null && info.users === null && info.records === null && info.name === null ? null : info;
}

/** Push 3.x registry body: comma-separated `key=value`, keys may start with `~`. */
export function parseRegistryBody(body: string): DeviceInfo {
  const f: Record<string, string> = {};
  for (const part of body.split(/[,\r\n]/)) {
    const eq = part.indexOf('=');
    if (eq > 0) f[part.slice(0, eq).trim().replace(/^~/, '').toLowerCase()] = part.slice(eq + 1).trim();
  }
  return {
    firmware: f.firmver?.slice(0, 64) ?? null,
    pushVersion: f.pushversion?.slice(0, 32) ?? null,
    name: f.devicename?.slice(0, 64) ?? null,
  };
}

export class DeviceBook {
  private readonly live = new Map<string, Live>();

  constructor(
    private readonly listFor: (sn: string) => AllowedDevice | null,
    private readonly offlineAfterMs: number,
  ) {}

  private entry(sn: string, listed: AllowedDevice | null): Live {
    let e = this.live.get(sn);
    if (!e) {
      e = {
        config: listed ?? { sn, name: null, site: null, tz: null },
        lastSeen: 0,
        online: false,
        firmware: null,
        users: null,
        records: null,
        newRecords: 0,
        stats: {
          posts: 0,
          records: 0,
          badLines: 0,
          stamp: null,
          lastPost: null,
          remoteAddress: null,
          pushVersion: null,
          listed: listed !== null,
        },
      };
      this.live.set(sn, e);
    }
    return e;
  }

  /**
   * A request arrived. Returns true when the device came (back) online or its INFO changed, i.e. when a
   * status event is worth sending for a mere heartbeat.
   */
  seen(sn: string, remoteAddress: string | null, info: DeviceInfo | null, nowMs = Date.now()): boolean {
    const e = this.entry(sn, this.listFor(sn));
    let news = !e.online;
    e.online = true;
    e.lastSeen = nowMs;
    e.stats.remoteAddress = remoteAddress;
    e.newRecords = 0;
    if (info) {
      if (info.firmware !== undefined && info.firmware !== null && info.firmware !== e.firmware) {
        e.firmware = info.firmware;
        news = true;
      }
      if (info.users !== undefined && info.users !== null && info.users !== e.users) {
        e.users = info.users;
        news = true;
      }
      if (info.records !== undefined && info.records !== null && info.records !== e.records) {
        e.records = info.records;
        news = true;
      }
      if (info.pushVersion) e.stats.pushVersion = info.pushVersion;
      if (info.name && !e.config.name) e.config = { ...e.config, name: info.name };
    }
    return news;
  }

  posted(sn: string, records: number, badLines: number, stamp: string | null, nowMs = Date.now()): void {
    const e = this.entry(sn, this.listFor(sn));
    e.stats.posts += 1;
    e.stats.records += records;
    e.stats.badLines += badLines;
    e.newRecords = records;
    if (stamp !== null) e.stats.stamp = stamp;
    e.stats.lastPost = new Date(nowMs).toISOString();
  }

  /** Devices not heard from within the offline threshold, now marked offline. */
  sweep(nowMs = Date.now()): string[] {
    const out: string[] = [];
    for (const [sn, e] of this.live) {
      if (e.online && nowMs - e.lastSeen > this.offlineAfterMs) {
        e.online = false;
        e.newRecords = 0;
        out.push(sn);
      }
    }
    return out;
  }

  status(sn: string, lastError: string | null = null): PushStatusEvent {
    const e = this.entry(sn, this.listFor(sn));
    const base = emptyStatus({
      deviceSn: sn,
      deviceName: e.config.name,
      site: e.config.site,
      deviceHost: null,
      state: lastError ? 'error' : e.online ? 'online' : 'offline',
      lastSeen: e.lastSeen ? new Date(e.lastSeen).toISOString() : null,
      lastError,
      records: e.records,
      newRecords: e.newRecords,
      users: e.users,
      capacity: { records: e.records, recordsMax: null },
      firmware: e.firmware,
      transport: 'http',
    });
    return { ...base, push: { ...e.stats } };
  }

  isOnline(sn: string): boolean {
    return this.live.get(sn)?.online === true;
  }

  known(): string[] {
    return [...this.live.keys()];
  }
}
