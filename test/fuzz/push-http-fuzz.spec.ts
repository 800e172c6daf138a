/**
 * Seeded fuzz of the ADMS/iclock push server over real loopback HTTP: thousands of requests built from a
 * grammar (methods, endpoint paths and their near misses, query strings, Content-Type and other headers,
 * ATTLOG bodies valid, mutated, binary and huge), 16 in flight at a time, against two servers: one with an
 * allow-list that refuses unknown serials, one that accepts them but wants the shared token.
 *
 * Every request gets exactly the reply the code documents (lib/push/server.ts, listener.ts, body.ts), as
 * predicted from the request by a model of the routing: status and body. Requests that Node's HTTP layer
 * refuses before the handler runs (unknown method token, raw bytes outside printable ASCII in the target,
 * a header block over 16 KB, Host pushed past the listener's 100-header cap) get a bare 400 from the
 * listener's clientError handler or from Node itself, or at most a closed connection.
 * Nothing hangs (per-request idle timeout), nothing is thrown or rejected unhandled in the process. The
 * untouched valid ATTLOG lines of every post answered OK are journaled exactly once, those of refused posts
 * never (an ATTLOG post is refused only for its framing, never for its lines: a line with a NUL or bytes that
 * are not UTF-8 is reported and the rest stored), and every journaled record passes validateRecord. Afterwards a well-formed post still gets its OK.
 * Reproduce a failure with ZK_FUZZ_SEED=<seed> (printed in every failure message).
 */
import { strict as assert } from 'assert';
import * as http from 'http';
import { devices, Running, startPush } from '../push/support';
import { validateRecord } from '../../lib/record';
import { checkNoLeaks } from '../support/handles';
import { removeDir } from '../support/node-red';
import { Rng } from '../support/prng';
import { until } from '../../support/wait';

const HOST = '127.0.0.1';
const SEED = Number(process.env.ZK_FUZZ_SEED ?? 0x1c10c4);
const REQUESTS = Number(process.env.ZK_FUZZ_REQUESTS ?? 5000);
const CONCURRENCY = 16;
const MAX_BODY = 256 * 1024;
const TOKEN = 'fuzz-k3y';
/** A request with no traffic for this long has hung (generous: only a failing run waits it out). */
const IDLE_TIMEOUT_MS = 15_000;

// What the server documents, restated so the fuzz checks the code against it rather than against itself.
const ENDPOINTS = new Set([
  'cdata',
  'getrequest',
  'devicecmd',
  'ping',
  'registry',
  'push',
  'fdata',
  'querydata',
  'rtdata',
]);
const TEXT_TABLES = new Set(['ATTLOG', 'OPERLOG', 'OPLOG', 'USERINFO', 'OPTIONS']);
const ACCEPTED_TYPES = new Set([
  'text/plain',
  'application/octet-stream',
  'application/x-www-form-urlencoded',
  'application/push',
  'text/html',
  '',
]);
const SERIAL = /^[A-Za-z0-9_-]{1,64}$/;
/** Methods Node's client sends without a body framing of its own unless given a Content-Length. */
const NO_CHUNKED = new Set(['GET', 'HEAD', 'DELETE', 'OPTIONS', 'TRACE', 'CONNECT']);
const endpointOf = (rest: string): string =>
  rest
    .replace(/^\/+/, '')
    .replace(/\.aspx$/i, '')
    .toLowerCase();

interface Target {
  name: 'list' | 'token';
  run: Running;
  listed: ReadonlySet<string>;
  acceptUnknown: boolean;
  token: string | null;
  /** Serials that proved the token before the storm (the storm never proves another one). */
  proven: ReadonlySet<string>;
}

interface Spec {
  i: number;
  target: Target;
  method: string;
  path: string;
  headers: Record<string, string>;
  body: Buffer | null;
  chunked: boolean;
  /** Ids of the untouched valid ATTLOG lines in the body (serial as the server will read it). */
  validIds: string[];
}

/**
 * `socket`: refused by Node's HTTP layer before the server's handler runs: a bare 400 (the listener's
 * clientError handler, or Node itself) or a closed connection. `orSocket`: a header block within about 1 KB
 * of the parser's 16 KB limit, where either that or the handler's reply is right.
 */
type Expected = { socket: true } | { socket: false; status: number; body: string | RegExp; orSocket: boolean };

type Outcome =
  { kind: 'reply'; status: number; body: string } | { kind: 'closed'; error: string } | { kind: 'timeout' };

// ---------------------------------------------------------------------------------------------------------
// The grammar.

const ALNUM = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
const PRINTABLE = Array.from({ length: 0x7f - 0x21 }, (_, k) => String.fromCharCode(0x21 + k)).join('');

function chars(rng: Rng, alphabet: string, lo: number, hi: number): string {
  let s = '';
  for (let n = rng.range(lo, hi); n > 0; n--) s += alphabet[rng.int(alphabet.length)];
  return s;
}

const pct = (b: Buffer): string => Array.from(b, (x) => `%${x.toString(16).padStart(2, '0').toUpperCase()}`).join('');
const enc = (s: string): string => encodeURIComponent(s);

function method(rng: Rng): string {
  if (rng.bool(0.06)) {
    // A random token: Node's client sends it (upper-cased); the server's parser knows only real methods.
    for (;;) {
      const m = chars(rng, ALNUM + "-_!~*.'", 1, 12);
      if (m.toUpperCase() !== 'CONNECT') return m;
    }
  }
  return rng.pick([
    'GET',
    'GET',
    'GET',
    'POST',
    'POST',
    'POST',
    'POST',
    'PUT',
    'HEAD',
    'DELETE',
    'OPTIONS',
    'PATCH',
    'post',
    'Get',
    'PROPFIND',
  ]);
}

const ENDPOINT_NAMES = [
  'cdata',
  'cdata',
  'cdata',
  'cdata',
  'getrequest',
  'getrequest',
  'devicecmd',
  'ping',
  'registry',
  'push',
  'fdata',
  'querydata',
  'rtdata',
];

/** The path part of the request target (no query). `endpoint` is what the grammar aimed at. */
function pathPart(rng: Rng): { path: string; endpoint: string } {
  const ep = rng.pick(ENDPOINT_NAMES);
  const k = rng.int(100);
  if (k < 72) return { path: `/iclock/${ep}`, endpoint: ep };
  if (k < 80)
    return {
      path: rng.pick([`/iclock/${ep}.aspx`, `/iclock/${ep.toUpperCase()}`, `/iclock//${ep}`, `/iclock///${ep}.ASPX`]),
      endpoint: ep,
    };
  if (k < 85)
    return {
      path: `/iclock/${rng.pick(['nothing', `${ep}2`, `${ep}/x`, `${ep}.asp`, '', `iclock/${ep}`, '.aspx', `${ep}.aspx.aspx`, `${ep}%00`, `${ep};x`])}`,
      endpoint: ep,
    };
  if (k < 89) {
    return {
      path: rng.pick([
        '/iclock/../iclock/cdata',
        '/iclock/%2e%2e/cdata',
        '/../../etc/passwd',
        '/iclock/..%2f..%2fetc/passwd',
        '/iclock/cdata/../getrequest',
        '/iclock/./cdata',
        '/iclock/..\\cdata',
      ]),
      endpoint: ep,
    };
  }
  if (k < 93)
    return {
      path: rng.pick([
        '/',
        '/ICLOCK/cdata',
        '/iclock',
        '/other/cdata',
        '//iclock/cdata',
        '*',
        `http://${HOST}/iclock/cdata`,
        '/iclockcdata',
      ]),
      endpoint: ep,
    };
  if (k < 95) return { path: `/iclock/${pct(rng.bytes(rng.range(1, 40)))}`, endpoint: ep };
  if (k < 97)
    return {
      path: rng.bool()
        ? `/iclock/${'a'.repeat(rng.range(1000, 10_000))}`
        : `/iclock/${ep}${'/x'.repeat(rng.range(100, 4000))}`,
      endpoint: ep,
    };
  if (k < 98) return { path: `/iclock/${ep}${'z'.repeat(rng.range(20_000, 40_000))}`, endpoint: ep };
  // Raw bytes Node's client lets through (0x7f-0xff) and the server's parser refuses.
  return { path: `/iclock/${ep}${String.fromCharCode(rng.range(0x7f, 0xff))}`, endpoint: ep };
}

function serialValue(rng: Rng, t: Target): string {
  const k = rng.int(100);
  if (k < 70) return rng.pick([...t.listed, ...t.proven]);
  if (k < 80) return rng.bool() ? 'ZZ9' : chars(rng, ALNUM + '-_', 1, 64);
  if (k < 83) return '';
  if (k < 86) return 'S'.repeat(rng.range(65, 5000));
  if (k < 89) return `${rng.pick([...t.listed])}\u0000`;
  if (k < 92) return rng.pick(['Ä1', 'A1\u00e9', '😀', 'A１', '\u202eA1']);
  if (k < 96) return rng.pick(['../../etc', 'A1 ', ' A1', 'A1;rm', 'A1/..', 'A1&x', 'A1\n', 'A1%']);
  return chars(rng, PRINTABLE, 1, 20);
}

/** Query parameters as raw `key=value` pieces (already encoded). */
function queryPieces(rng: Rng, t: Target, ep: string, m: string): string[] {
  const q: string[] = [];
  if (rng.bool(0.9)) {
    const key = rng.pick(['SN', 'SN', 'SN', 'SN', 'sn', 'Sn']);
    const v = serialValue(rng, t);
    q.push(`${key}=${rng.bool(0.95) ? enc(v) : v.replace(/[^\x21-\x7e]/g, '')}`);
    if (rng.bool(0.05)) q.push(`SN=${enc(serialValue(rng, t))}`);
  }
  if (ep === 'cdata' && (m.toUpperCase() === 'POST' || rng.bool(0.2))) {
    if (rng.bool(0.93)) {
      const table = rng.pick([
        'ATTLOG',
        'ATTLOG',
        'ATTLOG',
        'ATTLOG',
        'ATTLOG',
        'ATTLOG',
        'attlog',
        'AttLog',
        'OPERLOG',
        'OPLOG',
        'USERINFO',
        'OPTIONS',
        'ATTPHOTO',
        'BIODATA',
        '',
        'ATT LOG',
        'ATTLOG\u0000',
        'T'.repeat(33),
        'T'.repeat(32),
        'stra\u00dfe',
        'ﬀ',
        'ATTLOG;DROP',
        chars(rng, ALNUM + '_', 1, 20),
        chars(rng, PRINTABLE, 1, 10),
      ]);
      q.push(`table=${enc(table)}`);
    }
    if (rng.bool(0.6))
      q.push(
        `${rng.pick(['Stamp', 'stamp'])}=${enc(rng.pick([String(rng.u32()), '9999', '0', '1'.repeat(30), '-5', 'abc', '', '12 34']))}`,
      );
  }
  if (rng.bool(0.2)) q.push('options=all');
  if (rng.bool(0.2)) q.push(`pushver=${enc(rng.pick(['2.4.1', '3.1.2', '', chars(rng, PRINTABLE, 1, 300)]))}`);
  if (rng.bool(0.1)) q.push('language=69');
  if (ep === 'getrequest' || rng.bool(0.05)) {
    if (rng.bool(0.6))
      q.push(
        `INFO=${rng.bool(0.5) ? enc(`Ver 8.0.4.2,${rng.int(100)},0,${rng.int(100000)},10.0.0.${rng.int(255)},10,7,15,0,111`) : pct(rng.bytes(rng.range(0, 300)))}`,
      );
  }
  for (let n = rng.bool(0.2) ? rng.range(1, 6) : 0; n > 0; n--) {
    const kind = rng.int(5);
    if (kind === 0) q.push(`${pct(rng.bytes(rng.range(1, 10)))}=${pct(rng.bytes(rng.range(0, 40)))}`);
    else if (kind === 1)
      q.push(
        rng.pick([
          '&&',
          '==',
          '%',
          '%zz',
          '+',
          ';',
          '=',
          'a=b=c',
          '%E0%A4%A',
          '%FF%FE',
          '__proto__=1',
          'constructor=x',
          'hasOwnProperty=1',
        ]),
      );
    else if (kind === 2) q.push(`${chars(rng, ALNUM, 1, 10)}=${chars(rng, PRINTABLE.replace(/[#&]/g, ''), 0, 30)}`);
    else if (kind === 3) q.push(`x=${'%41'.repeat(rng.range(10, 1500))}`);
    else q.push(`${enc('😀')}=${enc('张伟 José')}`);
  }
  // Shuffle a little: devices do not agree on the order.
  for (let k = q.length - 1; k > 0; k--) {
    if (rng.bool(0.3)) {
      const j = rng.int(k + 1);
      [q[k], q[j]] = [q[j], q[k]];
    }
  }
  return q;
}

/** The query as the server reads it (null when the target is no URL at all). */
function params(path: string): URLSearchParams | null {
  try {
    return new URL(path, 'http://device.invalid').searchParams;
  } catch {
    return null;
  }
}

function effectiveSerial(path: string): string | null {
  const sp = params(path);
  return sp ? (sp.get('SN') ?? sp.get('sn')) : null;
}

const pad = (n: number, w = 2): string => String(n).padStart(w, '0');

/** A valid ATTLOG line (positional or key=value) with a PIN unique to this request and line, and its record id. */
function validLine(rng: Rng, sn: string, i: number, k: number): { text: string; id: string } {
  const pin = String(i * 100 + k);
  const y = rng.range(2001, 2025);
  const mo = rng.range(1, 12);
  const d = rng.range(1, 28);
  const h = rng.int(24);
  const mi = rng.int(60);
  const withSeconds = rng.bool(0.9);
  const s = withSeconds ? rng.int(60) : 0;
  const date = rng.bool(0.9) ? `${y}-${pad(mo)}-${pad(d)}` : `${y}-${mo}-${d}`;
  const time = `${date}${rng.bool(0.9) ? ' ' : 'T'}${pad(h)}:${pad(mi)}${withSeconds ? `:${pad(s)}` : ''}`;
  const state = rng.pick(['0', '1', '2', '3', '4', '5', String(rng.int(256)), '']);
  const verify = rng.pick(['1', '15', '0', '2', '25', String(rng.int(256))]);
  let text: string;
  if (rng.bool(0.8)) {
    const cols = [pin, time, state, verify];
    if (rng.bool(0.7)) cols.push(String(rng.int(1000)));
    if (rng.bool(0.5)) cols.push('0', '0', '255', '36.5');
    text = cols.join('\t');
    if (rng.bool(0.1)) text = ` ${text.replace('\t', ' \t ')}`;
  } else {
    const kv = [
      `${rng.pick(['PIN', 'pin', 'UserID'])}=${pin}`,
      `${rng.pick(['DateTime', 'time', 'CheckTime'])}=${time}`,
      `${rng.pick(['Verified', 'VerifyType'])}=${verify}`,
      `${rng.pick(['Status', 'State'])}=${state}`,
    ];
    for (let j = kv.length - 1; j > 0; j--) {
      const o = rng.int(j + 1);
      [kv[j], kv[o]] = [kv[o], kv[j]];
    }
    text = kv.join('\t');
  }
  return { text, id: `${sn}|${pin}|${y}-${pad(mo)}-${pad(d)}T${pad(h)}:${pad(mi)}:${pad(s)}` };
}

/** A valid line broken (or not: the server decides, the fuzz only tracks untouched lines). */
function mutatedLine(rng: Rng, line: string): string {
  const cols = line.split('\t');
  switch (rng.int(14)) {
    case 0:
      return cols.slice(0, rng.int(cols.length)).join('\t');
    case 1:
      return [
        cols[0],
        rng.pick([
          '2024-02-31 10:00:00',
          '1999-12-31 23:59:59',
          '2099-01-01 00:00:00',
          '2024-13-01 00:00:00',
          '24-01-01 00:00',
          '2024-01-01 24:00:00',
          'not a time',
          '',
        ]),
        ...cols.slice(2),
      ].join('\t');
    case 2:
      return ['', ...cols.slice(1)].join('\t');
    case 3:
      return ['9'.repeat(rng.range(25, 200)), ...cols.slice(1)].join('\t');
    case 4:
      return [rng.pick(['José', '张伟', '😀😀', 'a b', '__proto__', 'constructor']), ...cols.slice(1)].join('\t');
    case 5:
      return [...cols.slice(0, 2), rng.pick(['256', '-1', 'x', '1e3', '99999999999']), ...cols.slice(3)].join('\t');
    case 6:
      return [...cols.slice(0, 3), rng.pick(['256', '-1', '1.5']), ...cols.slice(4)].join('\t');
    case 7:
      return [...cols.slice(0, 4), rng.pick(['4294967296', '99999999999', 'wc'])].join('\t');
    case 8:
      return `__proto__=1\tconstructor=2\tPIN=${cols[0]}\tDateTime=${cols[1] ?? ''}\tPIN=evil`;
    case 9:
      return `${line}${'\t'.repeat(rng.range(1, 500))}`;
    case 10:
      return `${line}\t${'w'.repeat(rng.range(1000, 20_000))}`;
    case 11: {
      const at = rng.int(line.length + 1);
      return (
        line.slice(0, at) +
        rng.pick(['\u0001', '\u007f', '\u001b[2J', '\u000b', '\f', '\u0085', '\u2028', '\ufeff']) +
        line.slice(at)
      );
    }
    case 12:
      return line.replace(/\t/g, rng.pick([' ', ',', ';', '  ']));
    default:
      return line.toUpperCase();
  }
}

const EOLS = ['\n', '\n', '\r\n', '\r\n', '\r'];

interface AttlogLines {
  /** Each line with the id of its record when it is an untouched valid line. */
  lines: Array<{ text: string; id: string | null }>;
  eol: string;
  trailing: boolean;
  bom: boolean;
}

function attlogLines(rng: Rng, sn: string, i: number, mutate: boolean): AttlogLines {
  const lines: AttlogLines['lines'] = [];
  const n = rng.range(1, 40);
  for (let k = 0; k < n; k++) {
    const l = validLine(rng, sn, i, k);
    if (mutate && rng.bool(0.4)) lines.push({ text: mutatedLine(rng, l.text), id: null });
    else lines.push({ text: l.text, id: l.id });
    if (rng.bool(0.05)) lines.push({ text: rng.pick(['', '   ', '\t']), id: null });
  }
  // A byte order mark: the decoder drops it.
  return { lines, eol: rng.pick(EOLS), trailing: rng.bool(0.7), bom: rng.bool(0.05) };
}

/** The body's bytes; `bad` replaces one line's bytes (that line is then no untouched valid line). */
function assemble(a: AttlogLines, bad?: { at: number; bytes: Buffer }): { body: Buffer; ids: string[] } {
  const parts: Buffer[] = a.bom ? [Buffer.from('\ufeff', 'utf8')] : [];
  a.lines.forEach((l, k) => {
    if (k > 0) parts.push(Buffer.from(a.eol));
    parts.push(bad?.at === k ? bad.bytes : Buffer.from(l.text, 'utf8'));
  });
  if (a.trailing) parts.push(Buffer.from(a.eol));
  return { body: Buffer.concat(parts), ids: a.lines.flatMap((l, k) => (l.id !== null && bad?.at !== k ? [l.id] : [])) };
}

function attlogBody(rng: Rng, sn: string, i: number, mutate: boolean): { body: Buffer; ids: string[] } {
  return assemble(attlogLines(rng, sn, i, mutate));
}

/** A line with `bytes` put in at a character boundary. */
function withBytes(rng: Rng, text: string, bytes: Buffer): Buffer {
  const chs = Array.from(text);
  const at = rng.int(chs.length + 1);
  return Buffer.concat([
    Buffer.from(chs.slice(0, at).join(''), 'utf8'),
    bytes,
    Buffer.from(chs.slice(at).join(''), 'utf8'),
  ]);
}

function hugeBody(rng: Rng): Buffer {
  const size = rng.pick([20_000, 100_000, MAX_BODY - 1, MAX_BODY, MAX_BODY + 1, 300_000, 400_000]);
  const unit = Buffer.from(
    rng.pick(['1', '1\t2024-01-01 08:00:00\t0\t1\n', 'x'.repeat(1000) + '\n', '\t', 'é']),
    'utf8',
  );
  return Buffer.alloc(size, unit);
}

function body(
  rng: Rng,
  spec: { method: string; sn: string | null; i: number },
): { body: Buffer | null; ids: string[] } {
  const m = spec.method.toUpperCase();
  const sn = spec.sn ?? 'none';
  if (m === 'HEAD' || ((m === 'GET' || m === 'DELETE' || m === 'OPTIONS') && rng.bool(0.85)))
    return { body: null, ids: [] };
  const none = { ids: [] };
  const k = rng.int(100);
  if (k < 6) return { body: rng.bool() ? null : Buffer.alloc(0), ...none };
  if (k < 36) return attlogBody(rng, sn, spec.i, false);
  if (k < 56) return attlogBody(rng, sn, spec.i, true);
  if (k < 62) return { body: rng.bytes(rng.int(4096)), ...none };
  if (k < 66) {
    // A NUL in one line (a corrupt record on the device): that line is bad, the others are stored.
    const a = attlogLines(rng, sn, spec.i, false);
    const at = rng.int(a.lines.length);
    return assemble(a, { at, bytes: withBytes(rng, a.lines[at].text, Buffer.from([0])) });
  }
  if (k < 69) {
    // Bytes that are not UTF-8 (a stray byte, a surrogate, an overlong form) in one line, or a line of their own.
    const a = attlogLines(rng, sn, spec.i, rng.bool(0.3));
    const bytes = Buffer.from(
      rng.pick([[0xc3, 0x28], [0xed, 0xa0, 0x80], [0xff], [0xe2, 0x82], [0xc0, 0xaf], [0x4a, 0x6f, 0x73, 0xe9]]),
    );
    if (rng.bool(0.3)) {
      const at = rng.int(a.lines.length + 1);
      a.lines.splice(at, 0, { text: '', id: null });
      return assemble(a, { at, bytes });
    }
    const at = rng.int(a.lines.length);
    return assemble(a, { at, bytes: withBytes(rng, a.lines[at].text, bytes) });
  }
  if (k < 81) return { body: hugeBody(rng), ...none };
  if (k < 86)
    return {
      body: Buffer.from(
        `USER PIN=7\tName=张伟 José\tPri=0\nOPLOG 4\t0\t2026-04-01 08:00:00\t0\t0\t0\t0\n${pct(rng.bytes(20))}`,
        'utf8',
      ),
      ...none,
    };
  if (k < 93) {
    const results = Array.from({ length: rng.range(1, 5) }, () =>
      rng.pick([
        `ID=${rng.int(100)}&Return=${rng.pick(['0', '-1', '-1002', 'x', ''])}&CMD=${rng.pick(['INFO', 'DATA', ''])}`,
        'ID=1',
        `Content=${'c'.repeat(rng.int(3000))}`,
        'ID=&Return=',
        'ID=99999999999999999999&Return=0',
        'constructor=1&__proto__=2',
      ]),
    );
    return { body: Buffer.from(results.join(rng.pick(EOLS)), 'utf8'), ...none };
  }
  const registry = [
    'DeviceType=acc,~DeviceName=SpeedFace,FirmVer=ZAM180-NF,PushVersion=3.1.2',
    `~__proto__=x,constructor=y,FirmVer=${'f'.repeat(500)}`,
    '=,==,,',
    chars(rng, PRINTABLE, 0, 500),
  ];
  return { body: Buffer.from(rng.pick(registry), 'utf8'), ...none };
}

function headers(rng: Rng, pathLength: number): Record<string, string> {
  const h: Record<string, string> = {};
  if (rng.bool(0.7)) {
    h['Content-Type'] = rng.pick([
      'text/plain',
      'text/plain',
      'text/plain; charset=UTF-8',
      'TEXT/PLAIN',
      'application/octet-stream',
      'application/x-www-form-urlencoded',
      'application/push;charset=UTF-8',
      'text/html',
      'application/json',
      'multipart/form-data; boundary=x',
      '',
      ';',
      'text/plainx',
      ' text/plain ',
      'text/plain ; x=1',
      chars(rng, ALNUM, 1, 20),
      'image/jpeg',
    ]);
  }
  if (rng.bool(0.5)) h['User-Agent'] = rng.pick(['iClock Proliant', 'ZKTeco', chars(rng, PRINTABLE, 0, 200)]);
  if (rng.bool(0.2)) h.Accept = '*/*';
  if (rng.bool(0.1)) h.Pragma = 'no-cache';
  // Many headers (past the listener's maxHeadersCount of 100) only with short paths, to stay under 16 KB.
  const extra = pathLength < 2000 && rng.bool(0.03) ? rng.range(50, 130) : rng.bool(0.2) ? rng.range(1, 5) : 0;
  for (let n = 0; n < extra; n++) h[`X-Junk-${n}`] = chars(rng, PRINTABLE, 0, 40);
  return h;
}

function makeSpec(i: number, targets: readonly Target[]): Spec {
  const rng = new Rng((SEED ^ Math.imul(i + 1, 0x9e3779b1)) >>> 0);
  const target = rng.bool(0.7) ? targets[0] : targets[1];
  let m: string;
  let path: string;
  if (rng.bool(0.3)) {
    // Shaped like a device's upload (a well-formed request line, the body is where the trouble is).
    m = rng.pick(['POST', 'POST', 'post']);
    const sn = rng.pick([...target.listed, ...target.proven]);
    const table = rng.bool(0.85) ? 'ATTLOG' : rng.pick(['attlog', 'OPERLOG', 'ATTPHOTO', 'USERINFO']);
    path = `${rng.pick(['/iclock/cdata', '/iclock/cdata', '/iclock/cdata.aspx'])}?SN=${sn}&table=${table}${rng.bool(0.7) ? `&Stamp=${rng.u32()}` : ''}`;
  } else {
    m = method(rng);
    const { path: p, endpoint } = pathPart(rng);
    const q = queryPieces(rng, target, endpoint, m);
    path = q.length > 0 || rng.bool(0.9) ? `${p}?${q.join('&')}` : p;
  }
  if (target.token !== null && rng.bool(0.7)) {
    // The right token only for serials proved before the storm, so the outcome does not depend on timing.
    const sn = effectiveSerial(path);
    const right = sn !== null && target.proven.has(sn) && rng.bool(0.6);
    const value = right ? TOKEN : rng.pick(['wrong', '', TOKEN.toUpperCase(), `${TOKEN} `, `${TOKEN}\u0000`]);
    path += `${path.includes('?') ? '&' : '?'}${rng.pick(['pushcommkey', 'token'])}=${enc(value)}`;
  }
  if (rng.bool(0.03)) path += `#${rng.pick(['frag', 'SN=A1', '?SN=A1'])}`;
  const b = body(rng, { method: m, sn: effectiveSerial(path), i });
  const h = headers(rng, path.length);
  const framed = NO_CHUNKED.has(m.toUpperCase());
  // Node's client frames a body of GET, DELETE or OPTIONS only when told its length (else it would send it
  // unframed, as the start of a next request): the length of the buffer being sent, never a wrong one.
  if (framed && b.body !== null && b.body.length > 0) h['Content-Length'] = String(b.body.length);
  const chunked = b.body !== null && b.body.length > 0 && !framed && rng.bool(0.4);
  return { i, target, method: m, path, headers: h, body: b.body, chunked, validIds: b.ids };
}

// ---------------------------------------------------------------------------------------------------------
// The model of the server's answer.

const reply = (status: number, body: string | RegExp): Expected => ({ socket: false, status, body, orSocket: false });
const SOCKET: Expected = { socket: true };
/** Node's default limit on the request line and headers together. */
const HEADER_LIMIT = 16 * 1024;

/** Bytes of the request line and header block, with what Node's client adds (Host, Connection, framing). */
function headerBytes(spec: Spec): number {
  let n = spec.method.length + spec.path.length + 12 + 100;
  for (const [k, v] of Object.entries(spec.headers)) n += k.length + v.length + 4;
  return n;
}

function expected(spec: Spec): Expected {
  const e = expectedReply(spec);
  if (e.socket) return e;
  const size = headerBytes(spec);
  if (size > HEADER_LIMIT + 1000) return SOCKET;
  // No body comes back on a HEAD request, whatever the server wrote.
  return { ...e, body: spec.method.toUpperCase() === 'HEAD' ? '' : e.body, orSocket: size > HEADER_LIMIT - 1000 };
}

function expectedReply(spec: Spec): Expected {
  const m = spec.method.toUpperCase();
  if (!http.METHODS.includes(m)) return SOCKET;
  if (/[^\x21-\x7e]/.test(spec.path)) return SOCKET;
  // The listener keeps 100 headers (maxHeadersCount); Node's client puts Host after the caller's headers, so
  // from 100 of those on Host is dropped and Node's server refuses the HTTP/1.1 request with a bare 400.
  if (Object.keys(spec.headers).length >= 100) return SOCKET;
  const raw = spec.path.split('?')[0];
  if (!raw.startsWith('/iclock/') || !ENDPOINTS.has(endpointOf(raw.slice('/iclock'.length))))
    return reply(404, 'NOT FOUND');
  const url = new URL(spec.path, 'http://device.invalid');
  const ep = endpointOf(url.pathname.slice('/iclock'.length));
  if (!ENDPOINTS.has(ep)) return reply(404, 'NOT FOUND');
  const sp = url.searchParams;
  const sn = sp.get('SN') ?? sp.get('sn');
  if (sn === null || !SERIAL.test(sn)) return reply(400, 'BAD SERIAL');
  const t = spec.target;
  if (!t.listed.has(sn) && !t.acceptUnknown) return reply(403, 'UNKNOWN DEVICE');
  if (t.token !== null) {
    const given = sp.get('pushcommkey') ?? sp.get('token');
    if (given !== null ? given !== t.token : !t.proven.has(sn)) return reply(401, 'UNAUTHORIZED');
  }
  const typeOk = ACCEPTED_TYPES.has((spec.headers['Content-Type'] ?? '').split(';')[0].trim().toLowerCase());
  const b = spec.body ?? Buffer.alloc(0);
  const tooBig = b.length > MAX_BODY;
  const ok = (body: string | RegExp): Expected => reply(200, body);
  const notAllowed = reply(405, 'METHOD NOT ALLOWED');
  switch (ep) {
    case 'cdata': {
      if (m === 'GET') return ok(new RegExp(`^GET OPTION FROM: ${sn}\n(\\w+=[^\n]*\n)+$`));
      if (m !== 'POST') return notAllowed;
      const table = (sp.get('table') ?? '').toUpperCase();
      if (!/^[A-Z0-9_]{1,32}$/.test(table)) return reply(400, 'BAD TABLE');
      if (!typeOk) return reply(415, 'BAD REQUEST');
      if (tooBig) return reply(413, 'TOO LARGE');
      // ATTLOG is never refused for its lines: bad ones are reported, the rest stored (or the device would resend forever).
      if (table === 'ATTLOG') return ok('OK');
      if (TEXT_TABLES.has(table) && b.includes(0)) return reply(400, 'BAD REQUEST');
      return ok('OK');
    }
    case 'getrequest':
      if (m === 'GET') return ok('OK');
      if (m === 'POST') return tooBig ? reply(413, 'TOO LARGE') : ok('OK');
      return notAllowed;
    case 'devicecmd':
      if (m !== 'POST') return notAllowed;
      if (!typeOk) return reply(415, 'BAD REQUEST');
      if (tooBig) return reply(413, 'TOO LARGE');
      return b.includes(0) ? reply(400, 'BAD REQUEST') : ok('OK');
    case 'ping':
      return ok('OK');
    case 'registry':
      if (m !== 'POST') return notAllowed;
      if (!typeOk) return reply(415, 'BAD REQUEST');
      if (tooBig) return reply(413, 'TOO LARGE');
      return ok(/^RegistryCode=[0-9a-f]{32}$/);
    case 'push':
      return ok(/^(\w+=[^\n]*\n)+$/);
    default:
      return m === 'POST' && tooBig ? reply(413, 'TOO LARGE') : ok('OK');
  }
}

// ---------------------------------------------------------------------------------------------------------
// The client.

function fire(port: number, spec: Spec): Promise<Outcome> {
  return new Promise((resolve) => {
    let settled = false;
    const done = (o: Outcome): void => {
      if (settled) return;
      settled = true;
      resolve(o);
    };
    let res: http.IncomingMessage | null = null;
    const chunks: Buffer[] = [];
    const replied = (): Outcome => ({
      kind: 'reply',
      status: res?.statusCode ?? 0,
      body: Buffer.concat(chunks).toString('utf8'),
    });
    // A reply read in full counts even when writing the rest of a refused body then fails (EPIPE, reset).
    const broken = (what: string): void => done(res?.complete ? replied() : { kind: 'closed', error: what });
    const req = http.request(
      { host: HOST, port, method: spec.method, path: spec.path, headers: spec.headers, agent: false },
      (r) => {
        res = r;
        r.on('data', (c: Buffer) => chunks.push(c));
        r.on('end', () => done(replied()));
        r.on('error', (e: NodeJS.ErrnoException) => broken(`response: ${e.code ?? e.message}`));
        r.on('close', () => broken('response closed before its end'));
      },
    );
    req.setTimeout(IDLE_TIMEOUT_MS, () => {
      done({ kind: 'timeout' });
      req.destroy();
    });
    req.on('error', (e: NodeJS.ErrnoException) => broken(e.code ?? e.message));
    if (spec.body && spec.chunked) {
      req.write(spec.body);
      req.end();
    } else req.end(spec.body ?? undefined);
  });
}

function describeSpec(s: Spec): string {
  const h = Object.entries(s.headers)
    .filter(([k]) => !k.startsWith('X-Junk'))
    .map(([k, v]) => `${k}: ${JSON.stringify(v.slice(0, 40))}`)
    .join(', ');
  return (
    `#${s.i} → ${s.target.name}: ${JSON.stringify(s.method)} ${JSON.stringify(s.path.slice(0, 160))}${s.path.length > 160 ? `… (${s.path.length})` : ''} ` +
    `[${h}] body ${s.body === null ? 'none' : `${s.body.length} bytes${s.chunked ? ' chunked' : ''}: ${JSON.stringify(s.body.subarray(0, 60).toString('latin1'))}`}`
  );
}

/** Every status the push server and its listener document (503: journal write failed; 408: body stalled). */
const DOCUMENTED = new Set([200, 400, 401, 403, 404, 405, 408, 413, 415, 503]);

/** Null when the outcome is what the model predicts, else why not. */
function judge(exp: Expected, out: Outcome): string | null {
  if (out.kind === 'timeout') return `no reply within ${IDLE_TIMEOUT_MS} ms of silence (hang)`;
  if (out.kind === 'reply' && !DOCUMENTED.has(out.status))
    return `undocumented status ${out.status} ${JSON.stringify(out.body.slice(0, 80))}`;
  if (exp.socket) {
    if (out.kind === 'closed') return null;
    return out.status === 400 && out.body === ''
      ? null
      : `refused by the HTTP layer but answered ${out.status} ${JSON.stringify(out.body.slice(0, 80))}, expected a bare 400 or a closed connection`;
  }
  if (exp.orSocket && (out.kind === 'closed' || (out.status === 400 && out.body === ''))) return null;
  if (out.kind === 'closed') return `connection closed (${out.error}), expected ${exp.status}`;
  if (out.status !== exp.status)
    return `status ${out.status} ${JSON.stringify(out.body.slice(0, 80))}, expected ${exp.status}`;
  const bodyOk = typeof exp.body === 'string' ? out.body === exp.body : exp.body.test(out.body);
  return bodyOk ? null : `body ${JSON.stringify(out.body.slice(0, 120))}, expected ${String(exp.body)}`;
}

// ---------------------------------------------------------------------------------------------------------

const countRecords = (run: Running): Map<string, number> => {
  const n = new Map<string, number>();
  for (const e of run.seen.entries) for (const r of e.records) n.set(r.id, (n.get(r.id) ?? 0) + 1);
  return n;
};

describe('fuzz: the push server over loopback HTTP (seeded)', function () {
  this.timeout(120_000);
  checkNoLeaks();

  it(`${REQUESTS.toLocaleString('en')} random requests, ${CONCURRENCY} at a time: each gets the documented reply, no hang, no crash, OK posts journaled once`, async () => {
    const uncaught: unknown[] = [];
    const unhandled: unknown[] = [];
    const onUncaught = (err: unknown): void => void uncaught.push(err);
    const onUnhandled = (reason: unknown): void => void unhandled.push(reason);
    process.on('uncaughtException', onUncaught);
    process.on('unhandledRejection', onUnhandled);
    const runs: Running[] = [];
    try {
      const listRun = await startPush({ devices: devices('A1', 'B2'), maxBodyBytes: MAX_BODY, otherTables: 'pass' });
      runs.push(listRun);
      const tokenRun = await startPush({
        devices: devices('A1'),
        unknownDevices: 'accept',
        token: TOKEN,
        maxBodyBytes: MAX_BODY,
      });
      runs.push(tokenRun);
      const targets: Target[] = [
        {
          name: 'list',
          run: listRun,
          listed: new Set(['A1', 'B2']),
          acceptUnknown: false,
          token: null,
          proven: new Set(),
        },
        {
          name: 'token',
          run: tokenRun,
          listed: new Set(['A1']),
          acceptUnknown: true,
          token: TOKEN,
          proven: new Set(['A1', 'U7']),
        },
      ];
      // The token server's proved serials: a start-up request with the key each.
      for (const sn of targets[1].proven) {
        const r = await fire(tokenRun.listener.port, {
          i: -1,
          target: targets[1],
          method: 'GET',
          path: `/iclock/cdata?SN=${sn}&options=all&pushcommkey=${TOKEN}`,
          headers: {},
          body: null,
          chunked: false,
          validIds: [],
        });
        assert.deepEqual([r.kind, r.kind === 'reply' ? r.status : 0], ['reply', 200]);
      }

      const failures: string[] = [];
      const byStatus: Record<string, number> = {};
      const okPosts: Array<{ target: Target; ids: string[] }> = [];
      const refusedIds: Array<{ target: Target; ids: string[] }> = [];
      let next = 0;
      const worker = async (): Promise<void> => {
        while (next < REQUESTS) {
          const spec = makeSpec(next++, targets);
          const exp = expected(spec);
          const out = await fire(spec.target.run.listener.port, spec);
          const why = judge(exp, out);
          if (why !== null) failures.push(`${why}\n    ${describeSpec(spec)}`);
          const key = exp.socket ? 'http-layer' : String(exp.status);
          byStatus[key] = (byStatus[key] ?? 0) + 1;
          if (spec.validIds.length > 0) {
            const okAttlog =
              !exp.socket &&
              exp.status === 200 &&
              out.kind === 'reply' &&
              out.status === 200 &&
              spec.method.toUpperCase() === 'POST' &&
              /^\/iclock\/+cdata(\.aspx)?$/i.test(spec.path.split('?')[0]) &&
              (params(spec.path)?.get('table') ?? '').toUpperCase() === 'ATTLOG';
            (okAttlog ? okPosts : refusedIds).push({ target: spec.target, ids: spec.validIds });
          }
        }
      };
      await Promise.all(Array.from({ length: CONCURRENCY }, worker));
      assert.equal(next, REQUESTS);
      assert.deepEqual(
        failures.slice(0, 10),
        [],
        `${failures.length} of ${REQUESTS} requests not answered as documented [seed ${SEED}]`,
      );

      // Everything journaled is handed on before the journal checks.
      for (const t of targets) await until(() => t.run.journal.pending === 0, 20_000, `journal of ${t.name} drained`);
      for (const t of targets) {
        assert.deepEqual(
          t.run.seen.errors.map((e) => e.message),
          [],
          `${t.name}: internal errors`,
        );
        for (const e of t.run.seen.entries) {
          assert.ok(SERIAL.test(e.deviceSn), `${t.name}: journal entry for ${JSON.stringify(e.deviceSn)}`);
          if (!t.acceptUnknown)
            assert.ok(t.listed.has(e.deviceSn), `${t.name}: records of unlisted ${e.deviceSn} journaled`);
          assert.ok(e.records.length > 0, 'an empty journal entry');
          for (const r of e.records) {
            const v = validateRecord(r);
            assert.ok(
              v.ok,
              `${t.name}: journaled record ${JSON.stringify(r)} fails the schema: ${v.ok ? '' : v.errors.join('; ')}`,
            );
            assert.equal(r.deviceSn, e.deviceSn);
            assert.equal(r.source, 'push');
            assert.equal(r.tz, 'UTC');
          }
        }
        const counts = countRecords(t.run);
        const posts = okPosts.filter((p) => p.target === t);
        for (const p of posts)
          for (const id of p.ids)
            assert.equal(
              counts.get(id) ?? 0,
              1,
              `${t.name}: valid line ${id} of a post answered OK journaled ${counts.get(id) ?? 0} times`,
            );
        for (const p of refusedIds.filter((x) => x.target === t))
          for (const id of p.ids)
            assert.equal(counts.get(id), undefined, `${t.name}: line ${id} of a refused post was journaled`);
        assert.ok(
          t.run.seen.entries.length >= posts.length,
          `${t.name}: ${t.run.seen.entries.length} journal entries for ${posts.length} OK posts with valid lines`,
        );
        // Posts with a NUL or bytes that are not UTF-8 in a line were answered OK (checked above) and that line reported.
        for (const re of [/^control character U\+0000 /, /^not utf-8 text/])
          assert.ok(
            t.run.seen.bad.some((b) => re.test(b.reason)),
            `${t.name}: no bad line reported as ${String(re)}`,
          );
      }
      // The storm reached every branch: each status the handler gives, and the refusals of Node's HTTP layer.
      for (const k of ['200', '400', '401', '403', '404', '405', '413', '415', 'http-layer'])
        assert.ok(
          (byStatus[k] ?? 0) >= 10,
          `only ${byStatus[k] ?? 0} requests expected ${k}: ${JSON.stringify(byStatus)}`,
        );
      assert.ok(okPosts.length >= REQUESTS / 20, `only ${okPosts.length} ATTLOG posts answered OK`);
      assert.ok(refusedIds.length >= REQUESTS / 20, `only ${refusedIds.length} ATTLOG posts refused`);

      // Still a working server: a well-formed post from an allowed device gets OK, its records journaled once.
      const final =
        [
          'FINAL1\t2026-01-05 08:00:00\t0\t1\t0',
          'FINAL2\t2026-01-05 08:00:01\t1\t15\t0',
          'FINAL3\t2026-01-05 08:00:02\t0\t2\t0',
        ].join('\r\n') + '\r\n';
      for (const [t, query] of [
        [targets[0], 'SN=A1&table=ATTLOG&Stamp=424242'],
        [targets[1], `SN=A1&table=ATTLOG&Stamp=424242&pushcommkey=${TOKEN}`],
      ] as const) {
        const r = await fire(t.run.listener.port, {
          i: -2,
          target: t,
          method: 'POST',
          path: `/iclock/cdata?${query}`,
          headers: { 'Content-Type': 'text/plain' },
          body: Buffer.from(final),
          chunked: false,
          validIds: [],
        });
        assert.deepEqual(r, { kind: 'reply', status: 200, body: 'OK' }, `${t.name}: final post`);
        const ids = ['FINAL1|2026-01-05T08:00:00', 'FINAL2|2026-01-05T08:00:01', 'FINAL3|2026-01-05T08:00:02'].map(
          (x) => `A1|${x}`,
        );
        await until(() => ids.every((id) => countRecords(t.run).has(id)), 20_000, `${t.name}: final records journaled`);
        await until(() => t.run.journal.pending === 0, 20_000, `journal of ${t.name} drained`);
        const counts = countRecords(t.run);
        assert.deepEqual(
          ids.map((id) => counts.get(id)),
          [1, 1, 1],
          `${t.name}: final records journaled once each`,
        );
        const last = t.run.seen.entries.at(-1)!;
        assert.deepEqual(
          last.records.map((x) => [x.userId, x.localTime, x.deviceSn]),
          [
            ['FINAL1', '2026-01-05T08:00:00', 'A1'],
            ['FINAL2', '2026-01-05T08:00:01', 'A1'],
            ['FINAL3', '2026-01-05T08:00:02', 'A1'],
          ],
        );
        assert.equal(last.stamp, '424242');
      }
      assert.deepEqual(uncaught, [], 'uncaught exceptions during the storm');
      assert.deepEqual(unhandled, [], 'unhandled rejections during the storm');
    } finally {
      for (const r of runs) {
        await r.close();
        removeDir(r.dir);
      }
      process.off('uncaughtException', onUncaught);
      process.off('unhandledRejection', onUnhandled);
    }
  });
});
