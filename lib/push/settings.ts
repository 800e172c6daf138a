/** Settings of a push server, with the defaults a device pointed at the server expects. */
import { DEFAULT_HANDSHAKE, HandshakeOptions } from './options';
import type { AllowedDevice } from './allow-list';

export interface PushServerSettings {
  /** Path prefix of the endpoints; devices use `/iclock` and cannot be told otherwise. */
  basePath: string;
  /** The allow-list by serial. */
  devices: ReadonlyMap<string, AllowedDevice>;
  /** Serials not on the list: refused (the device keeps its data and retries) or accepted and reported. */
  unknownDevices: 'reject' | 'accept';
  /** Zone of devices without their own (IANA name). */
  defaultTz: string;
  defaultSite: string | null;
  /** Shared token (`pushcommkey=` or `token=` query parameter); null: none. */
  token: string | null;
  maxBodyBytes: number;
  /** Time a request body may take from its first byte to its last; a slower one is answered 408 (the device resends). */
  bodyTimeoutMs: number;
  /**
   * Requests one address may have in progress at once; more are answered 503 RETRY (the device keeps its data
   * and resends after ErrorDelay). Devices behind one NAT or a reverse proxy share an address.
   */
  maxRequestsPerAddress: number;
  /** Character set of devices without their own in the device list (a TextDecoder name, e.g. utf-8, windows-1252). */
  codePage: string;
  handshake: HandshakeOptions;
  /** Start-up stamp for a device we hold no stamp for: 'all' = `None` (send the backlog), 'new' = 9999. */
  history: 'all' | 'new';
  /** OPERLOG, ATTPHOTO and other tables: ignored, or passed on raw on the status output. */
  otherTables: 'ignore' | 'pass';
  /** Commands per `getrequest` reply. */
  commandsPerPoll: number;
  /** A sent command not answered in this time is reported as timed out. */
  commandTimeoutMs: number;
  /** Send the HTTP `Date` header (firmware sets its clock from it). */
  sendDate: boolean;
  /** Records later than now + this are anomalies. */
  futureToleranceMs: number;
}

export function pushDefaults(partial: Partial<PushServerSettings> = {}): PushServerSettings {
  return {
    basePath: '/iclock',
    devices: new Map(),
    unknownDevices: 'reject',
    defaultTz: 'UTC',
    defaultSite: null,
    token: null,
    maxBodyBytes: 4 * 1024 * 1024,
    codePage: 'utf-8',
    bodyTimeoutMs: 30_000,
    maxRequestsPerAddress: 32,
    handshake: { ...DEFAULT_HANDSHAKE },
    history: 'all',
    otherTables: 'ignore',
    commandsPerPoll: 10,
    commandTimeoutMs: 10 * 60_000,
    sendDate: true,
    futureToleranceMs: 86_400_000,
    ...partial,
  };
}

/** `/iclock`, `iclock/`, `/` → a normalised prefix without a trailing slash ('' for the root). */
export function normaliseBasePath(p: string | undefined): string {
  const t = (p ?? '/iclock').trim();
  if (!/^[A-Za-z0-9/_.-]*$/.test(t))
    throw new RangeError(`base path ${JSON.stringify(p)} may only contain letters, digits, / _ . -`);
  const s = ('/' + t).replace(/\/+/g, '/').replace(/\/$/, '');
  return s;
}
