import { strict as assert } from 'assert';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { FileSink } from '../../lib/sinks/file';
import { csvRecordRow } from '../../lib/record/csv';
import { makeRecord, makeRecords } from '../support/records';

describe('file sink', () => {
  let dir: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pf-file-'));
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  const lines = (f: string) => fs.readFileSync(path.join(dir, f), 'utf8').split('\n').filter(Boolean);

  it('NDJSON: one file per local day, append-only, a replayed batch adds nothing', async () => {
    const sink = new FileSink({ dir });
    await sink.open();
    const a = makeRecord(1, {
      localTime: '2024-03-04T23:59:59',
      timestamp: '2024-03-04T22:59:59.000Z',
      tz: 'Europe/Berlin',
    });
    const b = makeRecord(2, {
      localTime: '2024-03-05T00:00:01',
      timestamp: '2024-03-04T23:00:01.000Z',
      tz: 'Europe/Berlin',
    });
    assert.deepEqual(await sink.write([a, b, a]), { inserted: 2, duplicates: 1, rejected: [] });
    assert.deepEqual(fs.readdirSync(dir).sort(), ['attendance-2024-03-04.ndjson', 'attendance-2024-03-05.ndjson']);
    assert.deepEqual(JSON.parse(lines('attendance-2024-03-05.ndjson')[0]), b);
    assert.deepEqual(await sink.write([a, b]), { inserted: 0, duplicates: 2, rejected: [] });
    await sink.close();
    // A new process: the index is rebuilt from the file.
    const again = new FileSink({ dir });
    await again.open();
    const c = makeRecord(3, { localTime: '2024-03-04T10:00:00' });
    assert.deepEqual(await again.write([a, c]), { inserted: 1, duplicates: 1, rejected: [] });
    assert.equal(lines('attendance-2024-03-04.ndjson').length, 2);
  });

  it('cuts a torn last line (never committed) before indexing, then writes the record again', async () => {
    const sink = new FileSink({ dir });
    const recs = makeRecords(3);
    await sink.write(recs.slice(0, 2));
    const f = path.join(dir, 'attendance-2024-03-01.ndjson');
    fs.appendFileSync(f, JSON.stringify(recs[2]).slice(0, 40));
    const again = new FileSink({ dir });
    assert.deepEqual(await again.write(recs), { inserted: 1, duplicates: 2, rejected: [] });
    assert.deepEqual(
      lines('attendance-2024-03-01.ndjson').map((l) => JSON.parse(l).id),
      recs.map((r) => r.id),
    );
  });

  it('CSV: header once, RFC 4180 quoting, ids with commas and quotes survive the index', async () => {
    const sink = new FileSink({ dir, format: 'csv' });
    const odd = makeRecord(1, { userId: `7,"x"`, deviceName: 'Line\nbreak', site: null });
    const plain = makeRecord(2);
    assert.equal((await sink.write([odd, plain])).inserted, 2);
    const text = fs.readFileSync(path.join(dir, 'attendance-2024-03-01.csv'), 'utf8');
    assert.ok(text.startsWith('id,deviceSn,deviceName,site,deviceHost,userId,uid,localTime,timestamp,tz,state,'));
    assert.ok(text.includes(`"OID6110056101900165|7,""x""|2024-03-01T08:00:00"`));
    assert.ok(text.includes('"Line\nbreak"'));
    assert.equal(csvRecordRow(plain).split(',')[3], 'HQ');
    const again = new FileSink({ dir, format: 'csv' });
    assert.deepEqual(await again.write([odd, plain]), { inserted: 0, duplicates: 2, rejected: [] });
    assert.equal(text.split('\n').filter((l) => l.startsWith('id,')).length, 1);
    assert.ok(text.endsWith('\r\n') && text.split('\r\n').length === 4, 'CRLF after the header and each row');
  });

  it('CSV: text a spreadsheet would run as a formula is guarded, and such ids still survive the index', async () => {
    const sink = new FileSink({ dir, format: 'csv' });
    const formula = makeRecord(1, { userId: '=HYPERLINK("http://x","y")', deviceName: '@SUM(A1)', site: "'=kept" });
    const minus = makeRecord(2, { userId: '-5', deviceName: '+cmd|calc' });
    // Ids that start with a formula character, and one that differs only by a leading quote: both kept apart.
    const bareId = makeRecord(3, { deviceSn: '-SN9' });
    const quotedId = makeRecord(3, { deviceSn: "'-SN9" });
    const all = [formula, minus, bareId, quotedId];
    assert.equal((await sink.write(all)).inserted, 4);
    const text = fs.readFileSync(path.join(dir, 'attendance-2024-03-01.csv'), 'utf8');
    const rows = text.split('\r\n');
    assert.ok(rows[1].includes(`,'@SUM(A1),''=kept,`), rows[1]);
    assert.ok(rows[1].includes(`,"'=HYPERLINK(""http://x"",""y"")",`), rows[1]);
    assert.ok(rows[2].includes(`,'+cmd|calc,`) && rows[2].includes(',-5,'), rows[2]);
    assert.ok(rows[3].startsWith(`'-SN9|4|`) && rows[4].startsWith(`''-SN9|4|`), `${rows[3]} / ${rows[4]}`);
    const again = new FileSink({ dir, format: 'csv' });
    assert.deepEqual(await again.write(all), { inserted: 0, duplicates: 4, rejected: [] });
  });

  it('SQL metacharacters are just text in the file', async () => {
    const sink = new FileSink({ dir });
    const r = makeRecord(1, { userId: "'; DROP TABLE x;--" });
    await sink.write([r]);
    assert.equal(JSON.parse(lines('attendance-2024-03-01.ndjson')[0]).userId, "'; DROP TABLE x;--");
  });

  it('an unwritable directory is a transient (held) error', async function () {
    if (process.getuid?.() === 0) this.skip(); // root writes anywhere
    const ro = path.join(dir, 'ro');
    fs.mkdirSync(ro, { mode: 0o500 });
    const sink = new FileSink({ dir: ro });
    await assert.rejects(sink.write(makeRecords(1)), (e: Error & { permanent?: boolean }) => e.permanent === false);
  });
});

describe('sink factory', () => {
  it('creates a target lazily by name', async () => {
    const { createSink, SINK_TARGETS } = await import('../../lib/sinks');
    assert.deepEqual([...SINK_TARGETS], ['mysql', 'mssql', 'access', 'http', 'file', 'mqtt']);
    const s = createSink({ target: 'file', options: { dir: os.tmpdir() } });
    assert.equal(s.target, 'file');
    const h = createSink({ target: 'http', options: { url: 'http://127.0.0.1:1/' } });
    assert.equal(h.target, 'http');
    await h.close();
  });
});
