/** Command, reply and event codes of the ZK binary protocol (docs/zk-protocol.md §4). */
export const Cmd = {
  CONNECT: 1000,
  EXIT: 1001,
  ENABLEDEVICE: 1002,
  DISABLEDEVICE: 1003,
  RESTART: 1004,
  POWEROFF: 1005,
  REFRESHDATA: 1013,
  TESTVOICE: 1017,
  GET_VERSION: 1100,
  AUTH: 1102,
  USER_WRQ: 8,
  OPTIONS_RRQ: 11,
  OPTIONS_WRQ: 12,
  CLEAR_DATA: 14,
  CLEAR_ATTLOG: 15,
  DELETE_USER: 18,
  UNLOCK: 31,
  GET_FREE_SIZES: 50,
  STARTVERIFY: 60,
  CANCELCAPTURE: 62,
  GET_PINWIDTH: 69,
  GET_TIME: 201,
  SET_TIME: 202,
  REG_EVENT: 500,
  PREPARE_DATA: 1500,
  DATA: 1501,
  FREE_DATA: 1502,
  PREPARE_BUFFER: 1503,
  READ_BUFFER: 1504,
  // User and template writes (docs/zk-protocol.md §8.9).
  DELETE_USERTEMP: 19,
  TMP_WRITE: 87,
  CHECKSUM_BUFFER: 119,
  DEL_FPTMP: 134,
} as const;

export const Reply = {
  ACK_OK: 2000,
  ACK_ERROR: 2001,
  ACK_DATA: 2002,
  ACK_RETRY: 2003,
  ACK_REPEAT: 2004,
  ACK_UNAUTH: 2005,
  ACK_UNKNOWN: 0xffff,
  ACK_ERROR_CMD: 0xfffd,
  ACK_ERROR_INIT: 0xfffc,
  ACK_ERROR_DATA: 0xfffb,
} as const;

/** Realtime event flags (REG_EVENT mask bits; an event packet carries one of them as its code). */
export const EventFlag = {
  ATTLOG: 1,
  FINGER: 2,
  ENROLLUSER: 4,
  ENROLLFINGER: 8,
  BUTTON: 16,
  UNLOCK: 32,
  VERIFY: 128,
  FPFTR: 256,
  ALARM: 512,
} as const;

/** Selectors inside the PREPARE_BUFFER payload. */
export const Selector = { DB_RRQ: 7, USERTEMP_RRQ: 9, ATTLOG_RRQ: 13 } as const;
/** Data-type constants (FCT). */
export const Fct = { ATTLOG: 1, FINGERTMP: 2, OPLOG: 4, USER: 5, SMS: 6, UDATA: 7, WORKCODE: 8 } as const;

export const HEADER_BYTES = 8;
export const TCP_PREFIX_BYTES = 8;
export const TCP_MAGIC = Buffer.from([0x50, 0x50, 0x82, 0x7d]);
/** Reply ids run 0…65534 and wrap (docs/zk-protocol.md §3.3). */
export const REPLY_ID_MODULUS = 65535;

const names = new Map<number, string>();
for (const [k, v] of Object.entries(Cmd)) names.set(v, k);
for (const [k, v] of Object.entries(Reply)) names.set(v, k);

/** A readable name for a command or reply code, for errors and logs. */
export function codeName(code: number): string {
  return names.get(code) ?? `CMD_${code}`;
}

export function nextReplyId(previous: number): number {
  return (previous + 1) % REPLY_ID_MODULUS;
}
