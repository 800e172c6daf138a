import { strict as assert } from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import type { Node, NodeMessage } from 'node-red';
import { helper, useNodeRedServer } from '../support/node-red';
import zkSink = require('../../nodes/zk-sink/zk-sink');
import { deliverySettings, sinkConfigFromDef } from '../../nodes/zk-sink/sink-node-config';
import { makeRecord, makeRecords } from '../support/records';
import { checkNoLeaks } from '../support/handles';
import type { AttendanceRecord } from '../../lib/record';
import { sleep, until } from '../../support/wait';

interface Collected {
  ok: NodeMessage[];
  errors: NodeMessage[];
  completes: NodeMessage[];
}

describe('zk-sink node', function () {
  this.timeout(30000);
  const ud = useNodeRedServer();
  checkNoLeaks();

  const flow = (sink: Record<string, unknown> = {}) => [
    { id: 'f1', type: 'tab' },
    {
      id: 's1',
      z: 'f1',
      type: 'zk-sink',
      target: 'file',
      dir: 'out',
      format: 'ndjson',
      batchSize: 100,
      flushInterval: 20,
      wires: [['ok'], ['err']],
      ...sink,
    },
    { id: 'ok', z: 'f1', type: 'helper' },
    { id: 'err', z: 'f1', type: 'helper' },
    { id: 'c1', z: 'f1', type: 'complete', scope: ['s1'], wires: [['done']] },
    { id: 'done', z: 'f1', type: 'helper' },
  ];

  async function load(sink: Record<string, unknown> = {}): Promise<Collected> {
    helper.settings({ userDir: ud.dir });
    await helper.load(zkSink, flow(sink));
    const c: Collected = { ok: [], errors: [], completes: [] };
    (helper.getNode('ok') as Node).on('input', (m: NodeMessage) => c.ok.push(m));
    (helper.getNode('err') as Node).on('input', (m: NodeMessage) => c.errors.push(m));
    (helper.getNode('done') as Node).on('input', (m: NodeMessage) => c.completes.push(m));
    return c;
  }

  const fileLines = (): AttendanceRecord[] => {
    const out = path.join(ud.dir, 'out');
    if (!fs.existsSync(out)) return [];
    return fs
      .readdirSync(out)
      .sort()
      .flatMap((f) => fs.readFileSync(path.join(out, f), 'utf8').split('\n').filter(Boolean))
      .map((l) => JSON.parse(l) as AttendanceRecord);
  };

  it('file target end to end: array and single record in, committed report out after the write', async () => {
    const c = await load();
    const sink = helper.getNode('s1');
    sink.receive({ payload: makeRecords(250) } as NodeMessage);
    sink.receive({ payload: makeRecord(999) } as NodeMessage);
    await until(() => c.ok.reduce((n, m) => n + (m.payload as { inserted: number }).inserted, 0) === 251);
    assert.equal(fileLines().length, 251);
    const first = c.ok[0].payload as Record<string, unknown>;
    assert.equal(first.target, 'file');
    assert.deepEqual(Object.keys(first).sort(), ['batch', 'duplicates', 'inserted', 'rejected', 'target']);
    assert.equal(c.errors.length, 0);
    // The same records again: duplicates, no new lines.
    sink.receive({ payload: makeRecords(250) } as NodeMessage);
    await until(() => c.ok.reduce((n, m) => n + (m.payload as { duplicates: number }).duplicates, 0) === 250);
    assert.equal(fileLines().length, 251);
  });

  it('bad input: each invalid record goes to output 2 naming the field; valid ones in the same msg still go through', async () => {
    const c = await load();
    const sink = helper.getNode('s1');
    const good = makeRecord(1, { userId: "'; DROP TABLE t;--" });
    const missing = makeRecord(2) as Partial<AttendanceRecord>;
    delete missing.localTime;
    const wrongType = { ...makeRecord(3), state: 'in' };
    const huge = { ...makeRecord(4), userId: 'x'.repeat(5_000_000) };
    const badId = { ...makeRecord(5), id: 'other|key|2024-01-01T00:00:00' };
    const sqlInName = makeRecord(6, { deviceName: "Robert'); DROP TABLE Students;--", site: '" OR 1=1 --' });
    sink.receive({ payload: [good, missing, wrongType, huge, badId, sqlInName, 42, null, 'garbage'] } as NodeMessage);
    for (const garbage of ['just a string', 17, null, true]) sink.receive({ payload: garbage } as NodeMessage);
    sink.receive({} as NodeMessage);
    await until(() => c.errors.length === 12 && c.ok.length >= 1).catch((e) => {
      throw new Error(
        `${e.message}: ${c.errors.length} errors, ${c.ok.length} ok: ${JSON.stringify(c.errors.map((m) => (m.payload as { reason: string }).reason))}`,
      );
    });
    const fields = c.errors.map((m) => (m.payload as { field: string }).field);
    assert.deepEqual(fields.slice(0, 7), ['localTime', 'state', 'userId', 'id', '(record)', '(record)', '(record)']);
    assert.deepEqual(fields.slice(7), ['payload', 'payload', 'payload', 'payload', 'payload']);
    const hugeErr = c.errors[2].payload as { reason: string; record: { userId: string } };
    assert.match(hugeErr.reason, /^userId: must NOT have more than 24 characters/);
    assert.ok(hugeErr.record.userId.length < 300, 'the huge string is not echoed whole');
    assert.equal((c.errors[2] as NodeMessage & { error: { message: string } }).error.message, hugeErr.reason);
    const lines = fileLines();
    assert.deepEqual(lines.map((r) => r.userId).sort(), ["'; DROP TABLE t;--", '7']);
    assert.equal(lines.find((r) => r.userId === '7')?.deviceName, "Robert'); DROP TABLE Students;--");
  });

  it('done() only after the records are fsynced in the outbox; status shows what waits', async () => {
    // An unreachable HTTP target: everything stays queued, but every input is acknowledged.
    const c = await load({ target: 'http', url: 'http://127.0.0.1:1/x', batchSize: 10 });
    const sink = helper.getNode('s1');
    const statuses: string[] = [];
    (sink as unknown as NodeJS.EventEmitter).on('call:status', (call: { args: [{ text?: string }] }) =>
      statuses.push(call.args[0].text ?? ''),
    );
    sink.receive({ payload: makeRecords(30) } as NodeMessage);
    await until(() => c.completes.length === 1);
    const outbox = path.join(ud.dir, 'punchflow', 'outbox', 's1');
    const seg = fs.readdirSync(outbox).find((f) => f.startsWith('seg-'))!;
    assert.equal(fs.readFileSync(path.join(outbox, seg), 'utf8').split('\n').filter(Boolean).length, 30);
    await until(() => statuses.some((s) => /^retry in \d+s · 30$/.test(s)));
    assert.equal(c.ok.length, 0);
  });

  it('Node-RED stopped mid-stream and started again: every record exactly once in the file', async () => {
    const all = makeRecords(5000);
    let c = await load({ batchSize: 100, flushInterval: 0 });
    let sink = helper.getNode('s1');
    for (let i = 0; i < 2500; i += 100) sink.receive({ payload: all.slice(i, i + 100) } as NodeMessage);
    await until(() => c.completes.length === 25);
    const box = path.join(ud.dir, 'punchflow', 'outbox', 's1');
    await helper.unload(); // stops the flow while the outbox still holds records
    const before = fileLines().length;
    // eslint-disable-next-line no-console
    console.log(`      stopped with ${before} of 2,500 acknowledged records in the file`);
    assert.ok(fs.existsSync(box));
    c = await load({ batchSize: 100, flushInterval: 0 });
    sink = helper.getNode('s1');
    for (let i = 2500; i < 5000; i += 100) sink.receive({ payload: all.slice(i, i + 100) } as NodeMessage);
    await until(() => fileLines().length >= 5000 && c.completes.length === 25);
    await helper.unload(); // the flow stops: a write still under way (a duplicate, say) is in the file from here on
    const ids = fileLines().map((r) => r.id);
    assert.equal(ids.length, 5000);
    assert.equal(new Set(ids).size, 5000);
    assert.deepEqual([...ids].sort(), all.map((r) => r.id).sort());
  });

  it('a target that cannot start (settings incomplete) says so and does not acknowledge input', async () => {
    const c = await load({ target: 'access', accessOptions: '{}' });
    const sink = helper.getNode('s1');
    const errs: string[] = [];
    (sink as unknown as NodeJS.EventEmitter).on('call:error', (call: { args: unknown[] }) =>
      errs.push(String(call.args[0])),
    );
    await until(() => errs.length > 0);
    assert.match(errs[0], /Access: the \.mdb file or an ODBC connection string is required/);
    sink.receive({ payload: makeRecords(1) } as NodeMessage);
    // Waits for an acknowledgement that must never come: no signal to wait for, so a short sleep.
    await sleep(100);
    assert.equal(c.completes.length, 0);
    assert.equal(c.ok.length, 0);
    assert.throws(
      () => sinkConfigFromDef({ id: 'x', type: 'zk-sink', z: '', name: '', target: 'ftp' as never }, {}, '/ud'),
      /target must be one of/,
    );
  });

  it('maps editor settings to sink options (secrets from credentials, relative dirs under the user dir)', () => {
    const http = sinkConfigFromDef(
      {
        id: 'x',
        type: 'zk-sink',
        z: '',
        name: '',
        target: 'http',
        url: 'https://h/x',
        headers: '{"X-Site":"HQ"}',
        authHeader: 'X-Api-Key',
        insecure: true,
      },
      { authValue: 'k3y' },
      '/ud',
    );
    assert.deepEqual(http.options, {
      url: 'https://h/x',
      headers: { 'X-Site': 'HQ' },
      secretHeaders: { 'X-Api-Key': 'k3y' },
      body: 'array',
      duplicateStatus: null,
      timeoutMs: 30000,
      tls: { rejectUnauthorized: false },
      ackDir: '/ud/punchflow/http-acked/x',
    });
    const def = { id: 'x', type: 'zk-sink', z: '', name: '', target: 'file' as const };
    assert.deepEqual(deliverySettings(def), { batchSize: 1000, flushIntervalMs: 200, isolateAfter: 5 });
    assert.equal(deliverySettings({ ...def, isolateAfter: '0' }).isolateAfter, 0);
    assert.throws(
      () => deliverySettings({ ...def, isolateAfter: 101 }),
      /isolate after must be a whole number from 0 to 100/,
    );
    const file = sinkConfigFromDef(
      { id: 'x', type: 'zk-sink', z: '', name: '', target: 'file', dir: 'out' },
      {},
      '/ud',
    );
    assert.deepEqual(file.options, { dir: '/ud/out', format: 'ndjson' });
    assert.throws(
      () =>
        sinkConfigFromDef(
          { id: 'x', type: 'zk-sink', z: '', name: '', target: 'http', headers: '[1]', url: 'http://h' },
          {},
          '/ud',
        ),
      /headers must be a JSON object/,
    );
    const access = (unknownBadge: string) =>
      sinkConfigFromDef(
        {
          id: 'n7',
          type: 'zk-sink',
          z: '',
          name: '',
          target: 'access',
          accessFile: 'C:\\att2000.mdb',
          unknownBadge: unknownBadge as never,
          accessOptions: '{"parkDays":3}',
        },
        { password: 'pw' },
        '/ud',
      ).options;
    assert.deepEqual(access('park'), {
      parkDays: 3,
      file: 'C:\\att2000.mdb',
      connectionString: undefined,
      unknownBadge: 'park',
      parkFile: '/ud/punchflow/parked/n7.json',
      password: 'pw',
    });
    assert.equal((access('create') as { unknownBadge: string }).unknownBadge, 'create');
    assert.equal((access('bogus') as { unknownBadge: string }).unknownBadge, 'error');
  });
});
