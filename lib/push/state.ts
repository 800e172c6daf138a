/**
 * Per-device state that must survive a restart: stamps, command ids and queued commands (so results still
 * match after a restart), whether the device proved the shared token. Kept in one JSON file, saved at
 * most every `saveDelayMs` (or at once with flush()).
 */
import { isValidSerial } from './allow-list';
import { readJsonFile, writeJsonFile } from '../files/json-file';

export type CommandState = 'queued' | 'sent' | 'answered' | 'timeout';

export interface QueuedCommand {
  id: number;
  command: string;
  state: CommandState;
  queuedAt: string;
  sentAt: string | null;
}

export interface DeviceState {
  sn: string;
  firstSeen: string;
  /** Last `Stamp` of an ATTLOG post (diagnostics; echoed in the start-up reply). */
  attlogStamp: string | null;
  operlogStamp: string | null;
  /** Next command id: ids are ours, unique per device, never reused. */
  nextCommandId: number;
  commands: QueuedCommand[];
  /** Fingerprint of the token the device last proved (null: none); a changed token must be proved again. */
  tokenHash: string | null;
  /** The TimeZone value of the last start-up reply (null or absent: none yet). */
  timeZoneSent?: number | null;
}

interface StateFile {
  version: 1;
  devices: DeviceState[];
}

function isDeviceState(v: unknown): v is DeviceState {
  const d = v as DeviceState;
  return (
    v !== null &&
    typeof v === 'object' &&
    isValidSerial(d.sn) &&
    Number.isSafeInteger(d.nextCommandId) &&
    d.nextCommandId >= 1 &&
    Array.isArray(d.commands) &&
    typeof d.firstSeen === 'string'
  );
}

export class PushState {
  private readonly devices = new Map<string, DeviceState>();
  private timer: NodeJS.Timeout | null = null;
  private saving: Promise<void> = Promise.resolve();
  private closed = false;

  private constructor(
    readonly file: string,
    private readonly saveDelayMs: number,
    private readonly onError: (err: Error) => void,
  ) {}

  static async open(
    file: string,
    opts: { saveDelayMs?: number; onError?: (err: Error) => void } = {},
  ): Promise<PushState> {
    const s = new PushState(file, opts.saveDelayMs ?? 1000, opts.onError ?? (() => undefined));
    const raw = (await readJsonFile(file)) as Partial<StateFile> | null;
    for (const d of Array.isArray(raw?.devices) ? raw.devices : []) {
      if (isDeviceState(d))
        s.devices.set(d.sn, {
          ...d,
          tokenHash: typeof d.tokenHash === 'string' ? d.tokenHash : null,
          timeZoneSent: Number.isFinite(d.timeZoneSent) ? d.timeZoneSent : null,
          commands: d.commands.filter((c) => c && Number.isSafeInteger(c.id) && typeof c.command === 'string'),
        });
    }
    return s;
  }

  has(sn: string): boolean {
    return this.devices.has(sn);
  }

  get(sn: string): DeviceState {
    let d = this.devices.get(sn);
    if (!d) {
      d = {
        sn,
        firstSeen: new Date().toISOString(),
        attlogStamp: null,
        operlogStamp: null,
        nextCommandId: 1,
        commands: [],
        tokenHash: null,
      };
      this.devices.set(sn, d);
      this.changed();
    }
    return d;
  }

  all(): IterableIterator<DeviceState> {
    return this.devices.values();
  }

  /** Something changed: save soon (coalesced). */
  changed(): void {
    if (this.closed || this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      void this.flush().catch(this.onError);
    }, this.saveDelayMs);
    this.timer.unref();
  }

  /** Saves now; resolves when the file is durable. Saves run one after another. */
  flush(): Promise<void> {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    const snapshot: StateFile = { version: 1, devices: [...this.devices.values()] };
    const text = JSON.parse(JSON.stringify(snapshot)) as StateFile;
    this.saving = this.saving.catch(() => undefined).then(() => writeJsonFile(this.file, text));
    return this.saving;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    await this.flush().catch(this.onError);
    this.closed = true;
  }
}
