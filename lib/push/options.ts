/**
 * The start-up reply (docs/adms.md §3): `GET OPTION FROM: <SN>` and `key=value` lines the firmware reads
 * line by line. TimeZone is the subtle one: firmware reads hours when |value| < 25, else minutes, and some
 * parse integers only, so whole hours go as hours and anything else (India +5:30 → 330) as minutes.
 */
import { zoneOffsetMinutes } from '../record/zone';

export interface HandshakeOptions {
  /** Heartbeat (`getrequest`) interval in seconds. */
  delaySec: number;
  /** Seconds the device waits after a failed request. */
  errorDelaySec: number;
  /** Tables to upload (words form). */
  transFlag: string;
  /** Upload each punch at once. */
  realtime: boolean;
  /** `TransTimes`, e.g. `00:00;14:05`. */
  transTimes: string;
  /** Minutes between batch uploads. */
  transIntervalMin: number;
}

export const DEFAULT_HANDSHAKE: Readonly<HandshakeOptions> = Object.freeze({
  delaySec: 10,
  errorDelaySec: 30,
  transFlag: 'TransData AttLog OpLog EnrollUser ChgUser',
  realtime: true,
  transTimes: '00:00;14:05',
  transIntervalMin: 1,
});

/** Announcing a server version makes the device keep its own upload cursor (docs/adms.md §6). */
export const SERVER_VERSION = '2.4.1';

/** The `TimeZone` value for a zone at an instant: whole hours as hours, otherwise minutes (DST-aware). */
export function timeZoneValue(tz: string, atMs: number): number {
  const min = zoneOffsetMinutes(atMs, tz);
  return min % 60 === 0 ? min / 60 : min;
}

export interface StampSet {
  /** Last ATTLOG stamp seen from the device, or null: `None` (send everything held). */
  attlog: string | null;
  /** Large value suppresses the backlog (common for OPERLOG). */
  operlog: string;
  photo: string | null;
}

/** Stamps are echoed into the reply: only digits (or None) may go out, never a value that adds a line. */
const stampText = (s: string | null): string => (s !== null && /^\d{1,20}$/.test(s) ? s : 'None');

export function handshakeReply(
  sn: string,
  tz: string,
  stamps: StampSet,
  o: HandshakeOptions,
  nowMs = Date.now(),
): string {
  const lines = [
    `GET OPTION FROM: ${sn}`,
    `ATTLOGStamp=${stampText(stamps.attlog)}`,
    `OPERLOGStamp=${stampText(stamps.operlog)}`,
    `ATTPHOTOStamp=${stampText(stamps.photo)}`,
    `ErrorDelay=${Math.round(o.errorDelaySec)}`,
    `Delay=${Math.round(o.delaySec)}`,
    `TransTimes=${o.transTimes}`,
    `TransInterval=${Math.round(o.transIntervalMin)}`,
    `TransFlag=${o.transFlag}`,
    `TimeZone=${timeZoneValue(tz, nowMs)}`,
    `Realtime=${o.realtime ? 1 : 0}`,
    'Encrypt=None',
    `ServerVer=${SERVER_VERSION}`,
  ];
  return lines.join('\n') + '\n';
}

/** Push 3.x configuration reply (`/iclock/push`): the same settings under the 3.x names. */
export function push3ConfigReply(tz: string, o: HandshakeOptions, nowMs = Date.now()): string {
  return (
    [
      `ServerVersion=${SERVER_VERSION}`,
      'ServerName=PunchFlow',
      'PushVersion=3.0.1',
      `ErrorDelay=${Math.round(o.errorDelaySec)}`,
      `RequestDelay=${Math.round(o.delaySec)}`,
      `TransTimes=${o.transTimes}`,
      `TransInterval=${Math.round(o.transIntervalMin)}`,
      'TransTables=User Transaction',
      `Realtime=${o.realtime ? 1 : 0}`,
      'SessionID=',
      `TimeoutSec=${Math.max(10, Math.round(o.delaySec * 3))}`,
      `TimeZone=${timeZoneValue(tz, nowMs)}`,
    ].join('\n') + '\n'
  );
}

/** A word list or 10-digit bit string; no line breaks (they would inject option lines). */
export function isValidTransFlag(s: string): boolean {
  return /^[A-Za-z ]{1,200}$/.test(s) || /^[01]{1,16}$/.test(s);
}

/** `HH:MM;HH:MM…` */
export function isValidTransTimes(s: string): boolean {
  return /^([01]\d|2[0-3]):[0-5]\d(;([01]\d|2[0-3]):[0-5]\d){0,23}$/.test(s);
}
