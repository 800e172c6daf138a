/**
 * Public types of the device simulator (docs/internal-apis.md, docs/zk-protocol.md §11).
 * Everything a test can pass in or read back is declared here, so the other modules stay internal.
 */
import type { WallClock, AttendanceInput, UserInput } from '../protocol';
import type { CommandFaults } from './command-faults';

export type SimProfileName = 'tft' | 'zk6' | 'compact8' | 'tft49';
export type SimTransports = 'tcp+udp' | 'tcp' | 'udp';

/** How the packets of one response reach the TCP socket (§11.3 writeMode). */
export type WriteMode = 'separate' | 'coalesced' | 'mss536' | 'mss1460' | 'bytewise';

/** A set of command codes a per-command fault applies to; 'all' = every reply. */
export type CommandSet = 'all' | readonly number[];

export type ChunkFault = 'none' | 'shortData' | 'extraData' | 'missingAck' | 'wrongPrepareSize';
export type EventTiming = 'normal' | 'duringCommand' | 'insideResponse' | 'afterRegAck';
export type CountsMode = 'exact' | 'offByOne' | 'zero';
export type InvalidTimestamps = 'off' | 'feb31' | 'year2063' | 'zero';
export type MultiClient = 'allow' | 'refuse' | 'muteSecond';
export type TcpMode = 'accept' | 'refuse' | 'blackhole';
export type SimNameEncoding = 'utf8' | 'latin1' | 'gbk';
/** Generated user ids: 'edge' adds a 24-digit id and one with leading zeros (TFT profiles); 'plain' does not. */
export type SimUserIds = 'edge' | 'plain';

/**
 * Fault knobs (docs/zk-protocol.md §11.3). All optional; the defaults are a well-behaved device.
 * Changeable at any time with `sim.setFaults()` (merged into the current set; pass `undefined` to reset a knob).
 */
export interface SimFaults extends CommandFaults {
  /** TCP only. Default 'separate': one socket.write per packet, setImmediate between packets. */
  writeMode?: WriteMode;
  /** Wait this long between packets (and between responses) instead of setImmediate. Default 0. */
  interPacketGapMs?: number;
  /** DATA payload cap inside a 1504 response. Default: whole chunk in one packet (TCP), 1024 (UDP). */
  maxPacketBytes?: number;
  /** Direct DATA reply to 1503 when L ≤ this. Default 1024 (TCP) / 1016 (UDP); 0 forces the stat path. */
  directReplyMaxBytes?: number;
  /** Delay the reply to a command code by N ms; later replies wait behind it (a slow device). */
  replyDelayMs?: Readonly<Record<number, number>>;
  /** Never answer a command code: 'once' (the next one only) or 'always'. */
  dropReply?: Readonly<Record<number, 'once' | 'always'>>;
  /** Answer a command code N ms late, out of order: later requests are answered meanwhile (stale reply). */
  lateReply?: Readonly<Record<number, number>>;
  /** Replies (every packet) to these commands carry reply id + 1. */
  wrongReplyId?: CommandSet;
  /** Replies to these commands carry a corrupted checksum. */
  badChecksum?: CommandSet;
  /** Replies to these commands are sent twice. */
  duplicateReply?: CommandSet;
  /** Answer to PREPARE_BUFFER (1503). Default 'normal'. */
  prepareBufferResult?: 'normal' | 'ackError' | 'noReply';
  /** Damage every 1504 response. Default 'none'. */
  chunkFaults?: ChunkFault;
  /** UDP: probability (0…1) that an outgoing datagram is dropped (seeded, reproducible). */
  udpLoss?: number;
  /** During a download, after N bytes of 1504 responses: close with FIN, or stop sending and keep the socket open. */
  closeMidDownload?: { afterBytes: number; mode: 'fin' | 'stall' } | null;
  /** EF_ATTLOG body length override (default by profile and transport: §11.1 table). */
  eventBodyLength?: number;
  /** Where realtime events are placed relative to command responses. Default 'normal' (between responses). */
  eventTiming?: EventTiming;
  /** Resend each event every resendMs until the client ACKs it (ACK_OK, reply id 0). */
  requireEventAck?: { resendMs: number } | null;
  /** Counts reported by GET_FREE_SIZES. Default 'exact'. */
  countsMode?: CountsMode;
  /** Records appended while set (and, at construction, the last generated one) get an impossible time. */
  invalidTimestamps?: InvalidTimestamps;
  /** A second concurrent TCP connection is allowed, closed at once, or served without realtime events. */
  multiClient?: MultiClient;
  /** Demand AUTH although the comm key is 0. */
  authWithZeroKey?: boolean;
  /**
   * 'refuse' closes the TCP listener (connects get RST → ECONNREFUSED; node-zklib then uses UDP).
   * 'blackhole' accepts TCP connections and never reads or answers them (loopback cannot drop SYNs).
   */
  tcpMode?: TcpMode;
  /** Encoding of user names in the user buffer. 'gbk' uses a built-in table of a few Chinese names (see names.ts). */
  nameEncoding?: SimNameEncoding;
  /**
   * User and template writes (USER_WRQ, DELETE_USER, TMP_WRITE, DEL_FPTMP, DELETE_USERTEMP) are acknowledged
   * with ACK_OK but not kept, as firmware that applies them only after a reboot: true for every user, or the
   * PINs (userIds) it applies to.
   */
  dropUserWrites?: boolean | readonly string[];
  /** During a client upload (PREPARE_DATA + DATA), after N bytes of DATA the device stops answering. */
  stallUploadAfterBytes?: number;
  /** Command codes answered with ACK_ERROR (after authentication), whatever their payload. */
  errorReplyFor?: readonly number[];
}

export interface SimOptions {
  host?: string;
  /** 0 = ephemeral; TCP and UDP share the port number. */
  port?: number;
  profile?: SimProfileName;
  seed?: number;
  users?: number;
  /** Default 'edge' (tests want the hard ids); demos use 'plain'. */
  userIds?: SimUserIds;
  records?: number;
  commKey?: number;
  /** Automatic live punches every N ms (0 = none). */
  liveEveryMs?: number;
  serial?: string;
  /** Device wall clock = host clock + offset, shown in zone tz. */
  clockOffsetSec?: number;
  tz?: string;
  /** Freeze the device clock at this wall-clock time. */
  frozenClock?: WallClock | null;
  transports?: SimTransports;
  faults?: SimFaults;
  /** Overrides/extra OPTIONS_RRQ keys (§4.4). */
  deviceOptions?: Readonly<Record<string, string>>;
  firmware?: string;
  /** Capacity of the received-packets log (oldest dropped first). Default 1000. */
  receivedLogSize?: number;
}

export interface PunchInput {
  userId: string;
  verify?: number;
  state?: number;
  /** Device wall-clock time; default the device's "now". */
  at?: WallClock;
  workCode?: number;
  /** Logged without a realtime event, as if the event was lost on the way. */
  silent?: boolean;
}

export interface ReceivedPacket {
  /** Connection number (1-based, in order of arrival); UDP sessions get numbers too. */
  connection: number;
  transport: 'tcp' | 'udp';
  command: number;
  session: number;
  replyId: number;
  checksumOk: boolean;
  payload: Buffer;
  atMs: number;
}

export interface SimCounters {
  /** Connections ever accepted (TCP) or opened by CONNECT (UDP). */
  connections: number;
  /** Connections open now. */
  openConnections: number;
  /** PREPARE_BUFFER (1503) requests. */
  downloads: number;
  bytesSent: number;
  commandsSeen: Record<number, number>;
  checksumMismatches: number;
  eventsSent: number;
  /** ACK_OK packets received from clients (event acknowledgements). */
  eventAcks: number;
  /** TCP connections closed because of a bad magic or length. */
  malformedFrames: number;
  /** UDP datagrams shorter than a header. */
  shortDatagrams: number;
  /** Datagrams dropped by the udpLoss fault. */
  udpDropped: number;
  /** TCP connections closed by multiClient 'refuse'. */
  refusedConnections: number;
}

/** A fingerprint template held by the simulator. */
export interface SimTemplate {
  uid: number;
  userId: string;
  finger: number;
  flag: number;
  data: Buffer;
}

export type { WallClock, AttendanceInput, UserInput };
export type { CommandFaults, DoorUnlock } from './command-faults';
