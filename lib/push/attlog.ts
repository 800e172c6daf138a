/**
 * ATTLOG bodies (docs/adms.md §4) → canonical records with `source: 'push'`. One record per line, LF or
 * CRLF, tab-separated by position (`PIN, time, status, verify, workcode, reserved…`) or as `key=value`
 * pairs on newer firmware. A bad line is reported with its raw text and never refuses the post: refusing
 * would make the device resend the same poisoned batch forever.
 */
import { encodeTime, WallClock } from '../protocol/time';
import { AttendanceRecord, CanonicalContext, toCanonicalRecord } from '../record/canonical';
import { splitByteLines } from './body';

export interface BadLine {
  deviceSn: string;
  /** 1-based line number in the post. */
  line: number;
  /** The raw line, cut to 300 characters so a hostile line is not echoed whole. */
  raw: string;
  reason: string;
}

export interface AttlogResult {
  records: AttendanceRecord[];
  bad: BadLine[];
}

const MAX_PIN = 24;
const TIME_RE = /^(\d{4})-(\d{1,2})-(\d{1,2})[ T](\d{1,2}):(\d{2})(?::(\d{2}))?$/;
/** Keys seen for each field on key=value firmware (case-insensitive). */
const KEYS: Readonly<Record<string, 'pin' | 'time' | 'status' | 'verify' | 'workcode'>> = {
  pin: 'pin',
  userid: 'pin',
  user_id: 'pin',
  datetime: 'time',
  time: 'time',
  checktime: 'time',
  status: 'status',
  state: 'status',
  verified: 'verify',
  verify: 'verify',
  verifytype: 'verify',
  workcode: 'workcode',
};

interface Fields {
  pin?: string;
  time?: string;
  status?: string;
  verify?: string;
  workcode?: string;
}

function byKey(parts: string[]): Fields {
  const f: Fields = {};
  for (const p of parts) {
    const eq = p.indexOf('=');
    if (eq <= 0) continue;
    const k = KEYS[p.slice(0, eq).trim().toLowerCase()];
    if (k && f[k] === undefined) f[k] = p.slice(eq + 1).trim();
  }
  return f;
}

function byPosition(parts: string[]): Fields {
  return {
    pin: parts[0]?.trim(),
    time: parts[1]?.trim(),
    status: parts[2]?.trim(),
    verify: parts[3]?.trim(),
    workcode: parts[4]?.trim(),
  };
}

/** Missing or empty → 0 (old firmware leaves the work code out); otherwise a non-negative integer or NaN. */
function intField(v: string | undefined, max: number): number {
  if (v === undefined || v === '') return 0;
  if (!/^\d{1,10}$/.test(v)) return NaN;
  const n = Number(v);
  return n <= max ? n : NaN;
}

function parseTime(s: string): WallClock | null {
  const m = TIME_RE.exec(s);
  if (!m) return null;
  // Fields taken as written; toCanonicalRecord decides whether they name a real, plausible time.
  return { year: +m[1], month: +m[2], day: +m[3], hour: +m[4], minute: +m[5], second: m[6] ? +m[6] : 0 };
}

// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u0008\u000b-\u001f\u007f]/;

export type LineOutcome = { ok: true; record: AttendanceRecord } | { ok: false; reason: string };

/** One line. `ctx.source` is forced to 'push'. */
export function parseAttlogLine(line: string, ctx: CanonicalContext): LineOutcome {
  const ctl = CONTROL.exec(line);
  if (ctl)
    return {
      ok: false,
      reason: `control character U+${ctl[0].charCodeAt(0).toString(16).toUpperCase().padStart(4, '0')} in the line (a corrupt record on the device?)`,
    };
  const parts = line.split('\t');
  const f = /^[A-Za-z_]+=/.test(parts[0] ?? '') ? byKey(parts) : byPosition(parts);
  const pin = f.pin ?? '';
  if (pin === '') return { ok: false, reason: 'empty PIN' };
  if (pin.length > MAX_PIN) return { ok: false, reason: `PIN longer than ${MAX_PIN} characters` };
  const time = f.time === undefined ? null : parseTime(f.time);
  if (!time) return { ok: false, reason: `no valid time (${JSON.stringify((f.time ?? '').slice(0, 40))})` };
  const state = intField(f.status, 255);
  const verify = intField(f.verify, 255);
  const workCode = intField(f.workcode, 4294967295);
  if (Number.isNaN(state))
    return { ok: false, reason: `status is not a whole number 0-255 (${JSON.stringify(f.status)})` };
  if (Number.isNaN(verify))
    return { ok: false, reason: `verify is not a whole number 0-255 (${JSON.stringify(f.verify)})` };
  if (Number.isNaN(workCode))
    return { ok: false, reason: `work code is not a whole number (${JSON.stringify(f.workcode)})` };
  // rawTime is the pull protocol's u32 form, only so anomaly messages have something to show.
  const r = toCanonicalRecord(
    { uid: null, userId: pin, verify, state, time, rawTime: encodeTime(time), workCode },
    { ...ctx, source: 'push' },
  );
  if (!r.ok) return { ok: false, reason: r.anomaly.reason };
  return { ok: true, record: r.record };
}

/** Splits on LF, CRLF or a lone CR; empty lines are skipped, not reported. */
export function splitLines(body: string): string[] {
  return body.split(/\r\n|\n|\r/);
}

/** At most this many bad lines of one post are listed one by one; the rest are counted in a last entry. */
export const MAX_BAD_LINES_LISTED = 500;

type Line = { text: string } | { undecodable: string; reason: string };

async function parseLines(lines: readonly Line[], ctx: CanonicalContext, yieldEvery: number): Promise<AttlogResult> {
  const records: AttendanceRecord[] = [];
  const bad: BadLine[] = [];
  let unlisted = 0;
  let firstUnlisted = 0;
  const refuse = (i: number, raw: string, reason: string): void => {
    if (bad.length < MAX_BAD_LINES_LISTED)
      bad.push({ deviceSn: ctx.deviceSn, line: i + 1, raw: raw.slice(0, 300), reason });
    else if (unlisted++ === 0) firstUnlisted = i + 1;
  };
  const seen = new Set<string>();
  for (let i = 0; i < lines.length; i++) {
    if (i > 0 && i % yieldEvery === 0) await new Promise((r) => setImmediate(r));
    const l = lines[i];
    if (!('text' in l)) {
      refuse(i, l.undecodable, l.reason);
      continue;
    }
    const line = l.text;
    if (line.trim() === '') continue;
    const out = parseAttlogLine(line, ctx);
    if (out.ok) {
      if (seen.has(out.record.id)) continue;
      seen.add(out.record.id);
      records.push(out.record);
    } else {
      refuse(i, line, out.reason);
    }
  }
  if (unlisted > 0) {
    bad.push({
      deviceSn: ctx.deviceSn,
      line: firstUnlisted,
      raw: '',
      reason: `${unlisted} more bad lines from line ${firstUnlisted} on, not listed one by one`,
    });
  }
  return { records, bad };
}

/**
 * A whole ATTLOG body. Yields to the event loop every `yieldEvery` lines so a huge post never stalls other
 * devices' requests. Records repeated inside one post (same id) are kept once.
 */
export function parseAttlog(body: string, ctx: CanonicalContext, yieldEvery = 2000): Promise<AttlogResult> {
  return parseLines(
    splitLines(body).map((text) => ({ text })),
    ctx,
    yieldEvery,
  );
}

/**
 * An ATTLOG body as received, decoded in the device's code page. A line that is not text in that code page
 * is a bad line like any other (reported, the rest of the post accepted): refusing the post would make the
 * device send the same batch forever.
 */
export function parseAttlogBytes(
  body: Buffer,
  ctx: CanonicalContext,
  codePage = 'utf-8',
  yieldEvery = 2000,
): Promise<AttlogResult> {
  try {
    // Nearly every post: the whole body is valid in the code page, decoded in one go.
    return parseAttlog(new TextDecoder(codePage, { fatal: true }).decode(body), ctx, yieldEvery);
  } catch {
    // Some line is not: decode line by line, so only that line is refused.
  }
  const strict = new TextDecoder(codePage, { fatal: true });
  const loose = new TextDecoder(codePage);
  const lines = splitByteLines(body).map((b): Line => {
    try {
      return { text: strict.decode(b) };
    } catch {
      return {
        undecodable: loose.decode(b),
        reason: `not ${codePage} text: set this device's code page in the device list (serial,name,site,tz,code page), e.g. windows-1252 or gbk`,
      };
    }
  });
  return parseLines(lines, ctx, yieldEvery);
}
