/**
 * Fault knobs and state of the device-management commands (clock, clear, door, restart, connect).
 * Kept apart from types.ts so each command family's knobs stay in their own block.
 */

export interface CommandFaults {
  /** Answer CONNECT with this reply code instead of ACK_OK/ACK_UNAUTH (e.g. 6001, as MB10-VL/SenseFace firmware). */
  connectReply?: number;
  /** Commands answered with ACK_ERROR, their effect not applied (a device refusing them). */
  errorReplyFor?: readonly number[];
  /** SET_TIME is acknowledged but the clock keeps its time (firmware that does not keep a write). */
  ignoreSetTime?: boolean;
  /** CLEAR_ATTLOG is acknowledged but the log is kept. */
  ignoreClear?: boolean;
  /** After RESTART the device is unreachable (TCP refused, UDP silent) for this long. Default 0. */
  restartDownMs?: number;
  /**
   * Punches (sim.punch) made while a client has the device disabled: 'keep' logs them at once (firmware that
   * ignores DISABLEDEVICE; the default, as before), 'defer' logs them when the device is enabled again (a device
   * that honours it: the person punches again once the screen is back).
   */
  disabledPunches?: 'keep' | 'defer';
  /**
   * The log holds at most this many records (reported as the records capacity): a punch when it is full
   * overwrites the oldest record, so the count stays the same, as firmware with a full log does.
   */
  wrapAtRecords?: number;
}

/** One door unlock the device performed. */
export interface DoorUnlock {
  seconds: number;
  /** Host time (ms) it was received. */
  atMs: number;
}
