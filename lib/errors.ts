/**
 * Typed errors shared by the codec, the client and the CLI. Every one is a real Error with a stable
 * `code`, and says which device (host) it concerns and what to check.
 */
export type ZkErrorCode =
  | 'TIMEOUT'
  | 'AUTH'
  | 'PROTOCOL'
  | 'BUSY'
  | 'CONNECTION'
  | 'DEVICE'
  | 'UNKNOWN_RECORD_SIZE'
  | 'UNKNOWN_USER_SIZE'
  | 'BAD_FRAME'
  | 'BAD_INPUT'
  | 'NOT_KEPT';

export interface ZkErrorDetails {
  host?: string;
  command?: string;
  [key: string]: unknown;
}

export class ZkError extends Error {
  readonly code: ZkErrorCode;
  readonly details: ZkErrorDetails;
  constructor(code: ZkErrorCode, message: string, details: ZkErrorDetails = {}) {
    super(message);
    this.name = new.target.name;
    this.code = code;
    this.details = details;
  }
}

/** No answer in time: the device is slow, unreachable, or the link dropped silently. */
export class ZkTimeoutError extends ZkError {
  constructor(message: string, details: ZkErrorDetails = {}) {
    super('TIMEOUT', message, details);
  }
}

/** The device refused the comm key (or demands one that was not configured). */
export class ZkAuthError extends ZkError {
  constructor(message: string, details: ZkErrorDetails = {}) {
    super('AUTH', message, details);
  }
}

/** The device sent something that does not follow the protocol (bad frame, impossible sizes). */
export class ZkProtocolError extends ZkError {
  constructor(message: string, details: ZkErrorDetails = {}, code: ZkErrorCode = 'PROTOCOL') {
    super(code, message, details);
  }
}

/** The device is serving someone else or refused a second connection. */
export class ZkBusyError extends ZkError {
  constructor(message: string, details: ZkErrorDetails = {}) {
    super('BUSY', message, details);
  }
}

/** The socket could not be opened, or closed under a request. */
export class ZkConnectionError extends ZkError {
  constructor(message: string, details: ZkErrorDetails = {}) {
    super('CONNECTION', message, details);
  }
}

/** The device answered with an error reply code (ACK_ERROR and friends). */
export class ZkDeviceError extends ZkError {
  readonly replyCode: number;
  constructor(message: string, replyCode: number, details: ZkErrorDetails = {}) {
    super('DEVICE', message, { ...details, replyCode });
    this.replyCode = replyCode;
  }
}

/** A hex sample of at most `max` bytes, for error details. */
export function hexSample(buf: Uint8Array, max = 64): string {
  const slice = Buffer.from(buf.buffer, buf.byteOffset, Math.min(buf.length, max));
  return slice.toString('hex').replace(/(..)(?!$)/g, '$1 ') + (buf.length > max ? ' …' : '');
}

/**
 * The device acknowledged a write (ACK_OK) but reading it back shows it was not kept: some firmware only
 * applies user writes after a reboot or drops them silently.
 */
export class ZkWriteNotKeptError extends ZkError {
  constructor(message: string, details: ZkErrorDetails = {}) {
    super('NOT_KEPT', message, details);
  }
}
