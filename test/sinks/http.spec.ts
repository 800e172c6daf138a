import { strict as assert } from 'assert';
import { execFileSync, spawn } from 'child_process';
import * as fs from 'fs';
import * as http from 'http';
import * as https from 'https';
import * as os from 'os';
import * as path from 'path';
import type { AddressInfo } from 'net';
import { HttpSink, idempotencyKey, parseRetryAfter } from '../../lib/sinks/http';
import { Outbox } from '../../lib/sinks/outbox';
import { DeliveryLoop, DeliveryReport } from '../../lib/sinks/delivery';
import type { RejectedRecord } from '../../lib/sinks/types';
import type { AttendanceRecord } from '../../lib/record';
import { makeRecords } from '../support/records';
import { checkNoLeaks } from '../support/handles';
import { until } from '../../support/wait';

interface Seen {
  key: string | undefined;
  auth: string | undefined;
  body: AttendanceRecord[];
}
type Reply = (req: http.IncomingMessage, res: http.ServerResponse, body: string) => void;

function serve(replies: Reply[], tls?: { key: string; cert: string }) {
  const seen: Seen[] = [];
  let i = 0;
  const handler = (req: http.IncomingMessage, res: http.ServerResponse) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      seen.push({
        key: req.headers['idempotency-key'] as string | undefined,
        auth: req.headers.authorization,
        body: JSON.parse(body) as AttendanceRecord[],
      });
      const reply = replies[Math.min(i++, replies.length - 1)];
      reply(req, res, body);
    });
  };
  const server = tls ? https.createServer(tls, handler) : http.createServer(handler);
  return {
    seen,
    server,
    async listen(): Promise<string> {
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
      return `${tls ? 'https' : 'http'}://127.0.0.1:${(server.address() as AddressInfo).port}/punches`;
    },
    async close(): Promise<void> {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    },
  };
}

const status =
  (code: number, text = '', headers: Record<string, string> = {}): Reply =>
  (_q, res) => {
    res.writeHead(code, headers);
    res.end(text);
  };

describe('http sink', function () {
  this.timeout(20000);
  let dir: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pf-http-'));
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));
  checkNoLeaks();

  it('Idempotency-Key is a hash of the sorted ids (order-independent); Retry-After seconds and dates', () => {
    const recs = makeRecords(5);
    assert.equal(idempotencyKey(recs), idempotencyKey([...recs].reverse()));
    assert.notEqual(idempotencyKey(recs), idempotencyKey(recs.slice(1)));
    assert.equal(parseRetryAfter('3'), 3000);
    assert.equal(parseRetryAfter(new Date(10_000 + 5000).toUTCString(), 10_000), 5000);
    assert.equal(parseRetryAfter('soon'), undefined);
  });

  async function runLoop(
    sink: HttpSink,
    records: AttendanceRecord[] | AttendanceRecord[][],
    done: (r: { reports: DeliveryReport[]; rejected: RejectedRecord[]; box: Outbox<AttendanceRecord> }) => boolean,
    batchSize = 100,
  ) {
    const box = await Outbox.open<AttendanceRecord>(path.join(dir, 'outbox'));
    const reports: DeliveryReport[] = [];
    const rejected: RejectedRecord[] = [];
    const loop = new DeliveryLoop({
      sink,
      outbox: box,
      batchSize,
      flushIntervalMs: 0,
      backoff: { baseMs: 20, maxMs: 5000 },
      onCommit: (r) => reports.push(r),
      onRejected: (r) => rejected.push(...r),
    });
    // Appends in order before the loop starts, so the batches are cut from all of them.
    const appends = Array.isArray(records[0]) ? (records as AttendanceRecord[][]) : [records as AttendanceRecord[]];
    for (const a of appends) await box.append(a);
    loop.start();
    try {
      await until(() => done({ reports, rejected, box }));
    } finally {
      await loop.stop();
      await sink.close();
      await box.close();
    }
    return { reports, rejected };
  }

  it('5xx then OK: one delivery per batch, the retry carries the same Idempotency-Key; secret header sent', async () => {
    const srv = serve([status(503, 'busy'), status(500), status(200, '{"ok":true}')]);
    const url = await srv.listen();
    const sink = new HttpSink({ url, secretHeaders: { Authorization: 'Bearer s3cret-token' } });
    const recs = makeRecords(40);
    const { reports } = await runLoop(sink, recs, ({ reports }) => reports.length === 1);
    await srv.close();
    assert.equal(srv.seen.length, 3);
    assert.equal(new Set(srv.seen.map((s) => s.key)).size, 1);
    assert.equal(srv.seen[0].key, idempotencyKey(recs));
    assert.equal(srv.seen[2].auth, 'Bearer s3cret-token');
    assert.deepEqual(
      srv.seen[2].body.map((r) => r.id),
      recs.map((r) => r.id),
    );
    assert.deepEqual(reports[0], { target: 'http', inserted: 40, duplicates: 0, rejected: 0, batch: 40 });
  });

  /** Ids the API answered 2xx for, with how often each was accepted. */
  const acceptedIds = (seen: Seen[], statuses: number[]): Map<string, number> => {
    const n = new Map<string, number>();
    seen.forEach((s, i) => {
      if (statuses[i] < 200 || statuses[i] >= 300) return;
      for (const r of s.body) n.set(r.id, (n.get(r.id) ?? 0) + 1);
    });
    return n;
  };
  /** A server answering 2xx except the listed request numbers (0-based), with the statuses it sent. */
  function serveFailing(failAt: number[]) {
    const statuses: number[] = [];
    const srv = serve([
      (_q, res) => {
        const code = failAt.includes(statuses.length) ? 503 : 200;
        statuses.push(code);
        res.writeHead(code);
        res.end();
      },
    ]);
    return { srv, statuses };
  }

  it('one outbox batch is one POST: a retry never re-sends records the API already accepted', async () => {
    // 1,000 records in one batch. Cut into requests of 500, the second failing once, the retry re-sent the first.
    const { srv, statuses } = serveFailing([1]);
    const url = await srv.listen();
    const recs = makeRecords(1000);
    const { reports } = await runLoop(new HttpSink({ url }), recs, ({ reports }) => reports.length === 1, 1000);
    await srv.close();
    assert.deepEqual(
      srv.seen.map((s) => s.body.length),
      [1000],
    );
    const accepted = acceptedIds(srv.seen, statuses);
    assert.equal(accepted.size, 1000);
    assert.deepEqual(
      [...accepted.values()].filter((n) => n > 1),
      [],
    );
    assert.deepEqual(reports[0], { target: 'http', inserted: 1000, duplicates: 0, rejected: 0, batch: 1000 });
  });

  it('what the API acknowledged is never sent again: a replay cut at other boundaries, a re-poll, a restart', async () => {
    // A crash before the first commit: the outbox replays 250 punches and the poll appends them again from
    // another starting point, so the second copy is cut into other batches (other Idempotency-Keys).
    const { srv, statuses } = serveFailing([2]);
    const url = await srv.listen();
    const ackDir = path.join(dir, 'acked');
    const recs = makeRecords(300);
    const first = await runLoop(
      new HttpSink({ url, ackDir }),
      [recs.slice(0, 250), recs.slice(30)],
      ({ reports }) => reports.reduce((a, r) => a + r.batch, 0) === 520,
    );
    let accepted = acceptedIds(srv.seen, statuses);
    assert.equal(accepted.size, 300);
    assert.deepEqual(
      [...accepted.values()].filter((n) => n > 1),
      [],
      'no punch accepted twice',
    );
    assert.equal(
      first.reports.reduce((a, r) => a + r.inserted, 0),
      300,
    );
    assert.equal(
      first.reports.reduce((a, r) => a + r.duplicates, 0),
      220,
    );
    // After a restart (a new sink on the same journal) a full re-poll sends nothing at all.
    const requests = srv.seen.length;
    fs.rmSync(path.join(dir, 'outbox'), { recursive: true });
    const second = await runLoop(
      new HttpSink({ url, ackDir }),
      recs,
      ({ reports }) => reports.reduce((a, r) => a + r.batch, 0) === 300,
    );
    await srv.close();
    assert.equal(srv.seen.length, requests, 'nothing was sent');
    assert.equal(
      second.reports.reduce((a, r) => a + r.duplicates, 0),
      300,
    );
    accepted = acceptedIds(srv.seen, statuses);
    assert.deepEqual(
      [...accepted.values()].filter((n) => n > 1),
      [],
    );
  });

  it('SIGKILL while a POST is in flight, then a re-poll of everything: no punch reaches the API twice', async function () {
    this.timeout(90000); // two child processes compile TypeScript at start
    const outboxDir = path.join(dir, 'outbox');
    const ackDir = path.join(dir, 'acked');
    const statuses: number[] = [];
    let killChild: (() => void) | null = null;
    const srv = serve([
      (_q, res) => {
        // The first POST is accepted; the second arrives after the sink journaled the first, and the process
        // dies before it is answered (its outbox ack may or may not have happened).
        if (killChild && statuses.length === 1) {
          statuses.push(0);
          killChild();
          res.destroy();
          return;
        }
        statuses.push(200);
        res.writeHead(200);
        res.end();
      },
    ]);
    const url = await srv.listen();
    const child = (from: number, count: number) => {
      const c = spawn(
        process.execPath,
        [
          '-r',
          'ts-node/register/transpile-only',
          path.join(__dirname, 'support', 'http-child.ts'),
          outboxDir,
          ackDir,
          url,
          String(from),
          String(count),
        ],
        {
          stdio: ['ignore', 'pipe', 'pipe'],
          cwd: path.join(__dirname, '..', '..'),
        },
      );
      let out = '';
      c.stdout.on('data', (b: Buffer) => (out += b.toString()));
      c.stderr.on('data', (b: Buffer) => (out += b.toString()));
      const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null; out: string }>((resolve) =>
        c.once('exit', (code, signal) => resolve({ code, signal, out })),
      );
      return { c, exit };
    };
    try {
      const first = child(0, 300);
      killChild = () => first.c.kill('SIGKILL');
      const died = await first.exit;
      assert.equal(died.signal, 'SIGKILL', died.out);
      killChild = null;
      // Restarted, the outbox replays what was not acked and the poll appends all 300 again.
      const second = child(0, 300);
      const ended = await second.exit;
      assert.equal(ended.code, 0, ended.out);
      assert.match(ended.out, /done/);
    } finally {
      await srv.close();
    }
    const accepted = acceptedIds(srv.seen, statuses);
    assert.equal(accepted.size, 300);
    assert.deepEqual(
      [...accepted.entries()].filter(([, n]) => n > 1),
      [],
      'no punch accepted twice',
    );
  });

  it('the journal is bounded: a day file nothing was added to for ackDays is deleted on open', async () => {
    const srv = serve([status(200)]);
    const url = await srv.listen();
    const ackDir = path.join(dir, 'acked');
    const recs = makeRecords(3);
    const a = new HttpSink({ url, ackDir, ackDays: 10 });
    assert.equal((await a.write(recs)).inserted, 3);
    await a.close();
    const files = fs.readdirSync(ackDir);
    assert.equal(files.length, 1);
    const b = new HttpSink({ url, ackDir, ackDays: 10 });
    assert.deepEqual(await b.write(recs), { inserted: 0, duplicates: 3, rejected: [] });
    await b.close();
    const old = new Date(Date.now() - 11 * 24 * 3600_000);
    fs.utimesSync(path.join(ackDir, files[0]), old, old);
    const c = new HttpSink({ url, ackDir, ackDays: 10 });
    assert.deepEqual(await c.write(recs), { inserted: 3, duplicates: 0, rejected: [] });
    await c.close();
    await srv.close();
    assert.equal(srv.seen.length, 2);
  });

  it('records the receiver rejected are not journaled; an unreadable journal holds the batch', async () => {
    const recs = makeRecords(3);
    const srv = serve([
      status(200, JSON.stringify({ rejected: [{ id: recs[1].id, reason: 'unknown employee' }] })),
      status(200),
    ]);
    const url = await srv.listen();
    const ackDir = path.join(dir, 'acked');
    const a = new HttpSink({ url, ackDir });
    assert.equal((await a.write(recs)).rejected.length, 1);
    // Sent again, only the rejected one goes (the receiver may know the employee by now).
    assert.deepEqual(await a.write(recs), { inserted: 1, duplicates: 2, rejected: [] });
    assert.deepEqual(
      srv.seen[1].body.map((r) => r.id),
      [recs[1].id],
    );
    await a.close();
    fs.rmSync(ackDir, { recursive: true });
    fs.writeFileSync(ackDir, 'not a directory');
    const b = new HttpSink({ url, ackDir });
    await assert.rejects(
      b.write(recs),
      (e: Error & { permanent?: boolean; scope?: string }) =>
        e.permanent === false && e.scope === 'outage' && /acknowledged-id journal/.test(e.message),
    );
    await b.close();
    await srv.close();
    assert.equal(srv.seen.length, 2);
  });

  it('429 with Retry-After: waits at least that long', async () => {
    const srv = serve([status(429, '', { 'Retry-After': '1' }), status(204)]);
    const url = await srv.listen();
    const t0 = Date.now();
    await runLoop(new HttpSink({ url }), makeRecords(3), ({ reports }) => reports.length === 1);
    await srv.close();
    assert.ok(Date.now() - t0 >= 950, `waited ${Date.now() - t0} ms`);
    assert.equal(srv.seen.length, 2);
  });

  it('4xx: permanent, the response text (secrets redacted) reaches the error output; 2xx body rejections too', async () => {
    const srv = serve([
      (req, res) => {
        res.writeHead(422);
        res.end(`bad record; you sent ${req.headers.authorization}`);
      },
      status(200, JSON.stringify({ rejected: [{ id: makeRecords(2)[1].id, reason: 'unknown employee' }] })),
    ]);
    const url = await srv.listen();
    const sink = new HttpSink({ url, secretHeaders: { Authorization: 'Bearer s3cret-token' } });
    // One record: the 422 is final for it. The next batch: one rejected by the receiver.
    const { rejected } = await runLoop(sink, makeRecords(1), ({ rejected }) => rejected.length === 1);
    assert.match(rejected[0].reason, /^http target: 422 bad record; you sent \*\*\*$/);
    const sink2 = new HttpSink({ url });
    const r = await sink2.write(makeRecords(3));
    await sink2.close();
    await srv.close();
    assert.equal(r.inserted, 2);
    assert.equal(r.rejected[0].reason, 'http target: unknown employee');
  });

  it('401 is held (transient) by default; a configured 409 counts as duplicates', async () => {
    const srv = serve([status(401), status(409)]);
    const url = await srv.listen();
    const sink = new HttpSink({ url, duplicateStatus: 409 });
    await assert.rejects(
      sink.write(makeRecords(2)),
      (e: Error & { permanent?: boolean }) => e.permanent === false && /auth failed 401/.test(e.message),
    );
    assert.deepEqual(await sink.write(makeRecords(2)), { inserted: 0, duplicates: 2, rejected: [] });
    await sink.close();
    await srv.close();
  });

  it('network error (nothing listening) and a timeout are transient', async () => {
    const srv = serve([(_q, _res) => undefined]); // never answers
    const url = await srv.listen();
    const slow = new HttpSink({ url, timeoutMs: 200 });
    // About the way to the API, never a record: the delivery loop only waits.
    await assert.rejects(
      slow.write(makeRecords(1)),
      (e: Error & { permanent?: boolean; scope?: string }) =>
        e.permanent === false && e.scope === 'outage' && /no answer within 200 ms/.test(e.message),
    );
    await slow.close();
    await srv.close();
    const refused = new HttpSink({ url });
    await assert.rejects(
      refused.write(makeRecords(1)),
      (e: Error & { permanent?: boolean }) => e.permanent === false && /ECONNREFUSED/.test(e.message),
    );
    await refused.close();
  });

  it('TLS: an untrusted self-signed certificate fails (transient); with the CA configured it works', async function () {
    let key: string;
    let cert: string;
    try {
      const k = path.join(dir, 'key.pem');
      const c = path.join(dir, 'cert.pem');
      execFileSync(
        'openssl',
        [
          'req',
          '-x509',
          '-newkey',
          'rsa:2048',
          '-nodes',
          '-keyout',
          k,
          '-out',
          c,
          '-days',
          '1',
          '-subj',
          '/CN=127.0.0.1',
          '-addext',
          'subjectAltName=IP:127.0.0.1',
        ],
        { stdio: 'ignore' },
      );
      key = fs.readFileSync(k, 'utf8');
      cert = fs.readFileSync(c, 'utf8');
    } catch {
      // eslint-disable-next-line no-console
      console.log('      skipped: openssl is not available to generate a test certificate');
      this.skip();
      return;
    }
    const srv = serve([status(200)], { key, cert });
    const url = await srv.listen();
    const untrusted = new HttpSink({ url });
    await assert.rejects(
      untrusted.write(makeRecords(1)),
      (e: Error & { permanent?: boolean }) => e.permanent === false && /self-signed|self signed/i.test(e.message),
    );
    await untrusted.close();
    const trusted = new HttpSink({ url, tls: { ca: cert } });
    assert.equal((await trusted.write(makeRecords(2))).inserted, 2);
    await trusted.close();
    const insecure = new HttpSink({ url, tls: { rejectUnauthorized: false } });
    assert.equal((await insecure.write(makeRecords(1))).inserted, 1);
    await insecure.close();
    await srv.close();
  });
});
