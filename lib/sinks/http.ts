/**
 * The HTTP target (docs/targets.md §6): one POST of JSON per outbox batch through node:http/node:https (no
 * dependency), with an `Idempotency-Key` that is a hash of the sorted ids sent, so a retry of the same batch
 * sends the same key. This module only classifies responses; the delivery loop owns retries and backoff, and
 * reads `retryAfterMs` from the errors thrown here.
 *
 * An API may not dedupe on ids at all, and the same punch can come back under another batch cut (a replay after
 * a crash meeting a re-poll), so the ids the API acknowledged go to a journal on disk (a FileSink: one file per
 * device-local day, bounded by age) and a punch found there is dropped before it is sent.
 */
import * as crypto from 'crypto';
import * as http from 'http';
import * as https from 'https';
import type { AttendanceRecord } from '../record';
import { FileSink } from './file';
import { RejectedRecord, Sink, SinkError, SinkFailureScope, SinkLogger, SinkWriteResult } from './types';

export interface HttpTlsOptions {
  /** PEM CA certificate(s) to trust in addition to (replacing) the system store. */
  ca?: string | string[];
  /** Default true. Turning it off is an explicit choice (the editor shows it). */
  rejectUnauthorized?: boolean;
  cert?: string;
  key?: string;
  servername?: string;
}

export interface HttpSinkOptions {
  url: string;
  /** Non-secret headers (from the flow). */
  headers?: Record<string, string>;
  /** Secret headers (from Node-RED credentials): never logged, redacted from echoed response text. */
  secretHeaders?: Record<string, string>;
  /** 'array' (default): the bare JSON array; 'envelope': {batchId, count, records}. */
  body?: 'array' | 'envelope';
  /** Whole-request timeout. Default 30 s. */
  timeoutMs?: number;
  /** Connect timeout. Default 10 s. */
  connectTimeoutMs?: number;
  tls?: HttpTlsOptions;
  /** A status that means "already have these" (often 409): counted as duplicates. Default none. */
  duplicateStatus?: number | null;
  /** 401/403 hold the records (an expired token must not reject a day of punches). Default true. */
  holdOnAuthFailure?: boolean;
  /**
   * Directory of the journal of acknowledged ids (the node uses `<userDir>/punchflow/http-acked/<node id>/`).
   * Without it nothing is remembered: a punch that comes back under another batch is sent again.
   */
  ackDir?: string;
  /** A day file of the journal is deleted when nothing was added to it for this many days. Default 31. */
  ackDays?: number;
}

/** A transient HTTP failure that may carry the server's Retry-After. */
export class HttpSinkError extends SinkError {
  constructor(
    message: string,
    permanent: boolean,
    readonly status: number | null,
    readonly retryAfterMs?: number,
    scope?: SinkFailureScope,
  ) {
    super(message, permanent, 'http', scope);
    this.name = 'HttpSinkError';
  }
}

/** Stable across retries and restarts of the same set of records. */
export function idempotencyKey(batch: readonly AttendanceRecord[]): string {
  const ids = batch.map((r) => r.id).sort();
  return crypto.createHash('sha256').update(ids.join('\n')).digest('hex');
}

/** Retry-After as seconds or an HTTP date (RFC 9110 §10.2.3), in ms; undefined when absent or unreadable. */
export function parseRetryAfter(value: string | undefined, now = Date.now()): number | undefined {
  if (!value) return undefined;
  const v = value.trim();
  if (/^\d+$/.test(v)) return Number(v) * 1000;
  const t = Date.parse(v);
  return Number.isNaN(t) ? undefined : Math.max(0, t - now);
}

interface HttpAnswer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

const BODY_LIMIT = 64 * 1024;
const DAY_MS = 24 * 3600_000;
/** How often a long-running sink drops journal files past their age (also done on every open()). */
const PRUNE_EVERY_MS = 6 * 3600_000;

export class HttpSink implements Sink {
  readonly target = 'http' as const;
  private readonly url: URL;
  private agent: http.Agent | null = null;
  private readonly secrets: string[];
  private journal: FileSink | null = null;
  private prunedAt = 0;

  constructor(
    private readonly opts: HttpSinkOptions,
    private readonly logger?: SinkLogger,
  ) {
    let url: URL;
    try {
      url = new URL(opts.url);
    } catch {
      throw new SinkError(`http target: invalid URL`, true, 'http');
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:')
      throw new SinkError(`http target: URL must be http: or https:`, true, 'http');
    this.url = url;
    this.secrets = Object.values(opts.secretHeaders ?? {}).filter((s) => s.length >= 4);
  }

  async open(): Promise<void> {
    if (this.opts.ackDir && !this.journal) {
      const journal = new FileSink({ dir: this.opts.ackDir, format: 'ndjson' }, (level, message) =>
        this.logger?.(level, `http target, acknowledged ids: ${message}`),
      );
      await this.journalStep(() => journal.open());
      this.journal = journal;
      await this.prune();
    }
    if (this.agent) return;
    const tls = this.opts.tls ?? {};
    this.agent =
      this.url.protocol === 'https:'
        ? new https.Agent({
            keepAlive: true,
            maxSockets: 1,
            ca: tls.ca,
            cert: tls.cert,
            key: tls.key,
            servername: tls.servername,
            rejectUnauthorized: tls.rejectUnauthorized !== false,
            minVersion: 'TLSv1.2',
          })
        : new http.Agent({ keepAlive: true, maxSockets: 1 });
  }

  /**
   * One POST for the whole batch: split requests retried together would re-send the ones already accepted.
   * Ids sent before (earlier in the batch, or acknowledged by the API into the journal) are counted as
   * duplicates and not sent.
   */
  async write(batch: AttendanceRecord[]): Promise<SinkWriteResult> {
    if (!this.agent || (this.opts.ackDir && !this.journal)) await this.open();
    const journal = this.journal;
    const fresh: AttendanceRecord[] = [];
    const inBatch = new Set<string>();
    for (const r of batch) {
      if (inBatch.has(r.id)) continue;
      inBatch.add(r.id);
      fresh.push(r);
    }
    const known = journal ? await this.journalStep(() => journal.stored(fresh)) : new Set<string>();
    const send = known.size > 0 ? fresh.filter((r) => !known.has(r.id)) : fresh;
    const skipped = batch.length - send.length;
    if (send.length === 0) return { inserted: 0, duplicates: skipped, rejected: [] };
    const result = await this.post(send);
    if (journal) await this.remember(journal, send, result.rejected);
    return { ...result, duplicates: result.duplicates + skipped };
  }

  /** Journals what the API took. A failure here is logged, not thrown: a retry would re-send what it has. */
  private async remember(journal: FileSink, sent: AttendanceRecord[], rejected: RejectedRecord[]): Promise<void> {
    const refused = new Set(rejected.map((r) => r.record.id));
    const taken = refused.size > 0 ? sent.filter((r) => !refused.has(r.id)) : sent;
    try {
      await journal.write(taken);
      if (Date.now() - this.prunedAt > PRUNE_EVERY_MS) await this.prune();
    } catch (err) {
      this.logger?.(
        'warn',
        `http target: could not record ${taken.length} acknowledged ids in ${this.opts.ackDir}: ${(err as Error).message}`,
      );
    }
  }

  private async prune(): Promise<void> {
    if (!this.journal) return;
    this.prunedAt = Date.now();
    const days = Math.max(1, this.opts.ackDays ?? 31);
    try {
      const removed = await this.journal.prune(days * DAY_MS);
      if (removed > 0)
        this.logger?.('debug', `http target: dropped ${removed} acknowledged-id files older than ${days} days`);
    } catch (err) {
      // Only the bound on disk use is late; what is journaled still counts.
      this.logger?.(
        'warn',
        `http target: could not drop old acknowledged-id files in ${this.opts.ackDir}: ${(err as Error).message}`,
      );
    }
  }

  /** Journal trouble holds the records (transient): sending blind could deliver a punch twice. */
  private async journalStep<T>(step: () => Promise<T>): Promise<T> {
    try {
      return await step();
    } catch (err) {
      throw new HttpSinkError(
        `http target: acknowledged-id journal ${this.opts.ackDir}: ${(err as Error).message}`,
        false,
        null,
        undefined,
        'outage',
      );
    }
  }

  private async post(records: AttendanceRecord[]): Promise<SinkWriteResult> {
    if (!this.agent) await this.open();
    const key = idempotencyKey(records);
    const payload = this.opts.body === 'envelope' ? { batchId: key, count: records.length, records } : records;
    const body = Buffer.from(JSON.stringify(payload), 'utf8');
    let answer: HttpAnswer;
    try {
      answer = await this.request(body, key);
    } catch (err) {
      // Network error, TLS failure, timeout: transient (a wrong CA is fixed by a person, meanwhile hold).
      throw new HttpSinkError(`http target: ${this.redact((err as Error).message)}`, false, null, undefined, 'outage');
    }
    const { status } = answer;
    if (status >= 200 && status < 300) return this.committed(records, answer.body);
    if (this.opts.duplicateStatus && status === this.opts.duplicateStatus)
      return { inserted: 0, duplicates: records.length, rejected: [] };
    const text = this.redact(answer.body.slice(0, 500));
    const what = `http target: ${status}${text ? ` ${text}` : ''}`;
    if (status >= 500 || status === 408 || status === 429) {
      throw new HttpSinkError(what, false, status, parseRetryAfter(firstHeader(answer.headers['retry-after'])));
    }
    if (status >= 300 && status < 400)
      throw new HttpSinkError(
        `http target: redirect ${status} not followed (check the URL)`,
        false,
        status,
        undefined,
        'outage',
      );
    if ((status === 401 || status === 403) && this.opts.holdOnAuthFailure !== false) {
      throw new HttpSinkError(`http target: auth failed ${status}`, false, status, undefined, 'outage');
    }
    // 413 and other 4xx: permanent. The delivery loop bisects, so 413 ends in smaller requests.
    throw new HttpSinkError(what, true, status);
  }

  /** 2xx: optional JSON `{rejected: [{id, reason}], duplicates}` from the receiver. */
  private committed(records: AttendanceRecord[], text: string): SinkWriteResult {
    const rejected: RejectedRecord[] = [];
    let duplicates = 0;
    if (text.trim().startsWith('{')) {
      try {
        const answer = JSON.parse(text) as { rejected?: unknown; duplicates?: unknown };
        if (Array.isArray(answer.rejected)) {
          const byId = new Map(records.map((r) => [r.id, r]));
          for (const item of answer.rejected as unknown[]) {
            const id = (item as { id?: unknown } | null)?.id;
            const reason = (item as { reason?: unknown } | null)?.reason;
            const record = typeof id === 'string' ? byId.get(id) : undefined;
            if (record)
              rejected.push({
                record,
                reason: `http target: ${typeof reason === 'string' ? reason.slice(0, 500) : 'rejected by the receiver'}`,
              });
          }
        }
        if (typeof answer.duplicates === 'number' && Number.isInteger(answer.duplicates) && answer.duplicates >= 0) {
          duplicates = Math.min(answer.duplicates, records.length - rejected.length);
        }
      } catch {
        this.logger?.('debug', 'http target: 2xx body is not JSON; counted as all inserted');
      }
    }
    return { inserted: records.length - rejected.length - duplicates, duplicates, rejected };
  }

  private request(body: Buffer, key: string): Promise<HttpAnswer> {
    const mod = this.url.protocol === 'https:' ? https : http;
    const headers: Record<string, string | number> = {
      ...(this.opts.headers ?? {}),
      ...(this.opts.secretHeaders ?? {}),
      'content-type': 'application/json',
      'content-length': body.length,
      'idempotency-key': key,
    };
    const timeoutMs = this.opts.timeoutMs ?? 30_000;
    const connectMs = this.opts.connectTimeoutMs ?? 10_000;
    return new Promise<HttpAnswer>((resolve, reject) => {
      let settled = false;
      const finish = (err: Error | null, a?: HttpAnswer): void => {
        if (settled) return;
        settled = true;
        clearTimeout(whole);
        clearTimeout(connect);
        if (err) reject(err);
        else resolve(a as HttpAnswer);
      };
      const req = mod.request(this.url, { method: 'POST', headers, agent: this.agent ?? undefined });
      const whole = setTimeout(() => req.destroy(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
      const connect = setTimeout(() => req.destroy(new Error(`no connection within ${connectMs} ms`)), connectMs);
      req.on('socket', (s) => {
        // A reused keep-alive socket is already connected.
        if (!s.connecting) clearTimeout(connect);
        else s.once(this.url.protocol === 'https:' ? 'secureConnect' : 'connect', () => clearTimeout(connect));
      });
      req.on('error', (err) => finish(err));
      req.on('response', (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (c: Buffer) => {
          // Keep only what we may echo; the rest is drained so the socket can be reused.
          if (size < BODY_LIMIT) chunks.push(c);
          size += c.length;
        });
        res.on('end', () =>
          finish(null, {
            status: res.statusCode ?? 0,
            headers: res.headers,
            body: Buffer.concat(chunks).toString('utf8'),
          }),
        );
        res.on('error', (err) => finish(err));
      });
      req.end(body);
    });
  }

  private redact(text: string): string {
    let out = text;
    for (const s of this.secrets) out = out.split(s).join('***');
    return out;
  }

  async close(): Promise<void> {
    this.agent?.destroy();
    this.agent = null;
    await this.journal?.close();
    this.journal = null;
  }
}

function firstHeader(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v;
}

export function createHttpSink(options: HttpSinkOptions, logger?: SinkLogger): Sink {
  return new HttpSink(options, logger);
}
