/**
 * Simulates the target table behind the fake TDS server: answers the sink's introspection, and applies its
 * INSERT … WHERE NOT EXISTS chunks to an in-memory unique key, with per-connection transactions. This models
 * the statement's intended semantics so idempotency can be asserted end to end over the wire; the real-server
 * suite is what proves SQL Server agrees.
 */
import { FakeTdsServer, TdsReply, TdsRequest, TdsValue } from './fake-tds';
import { MssqlTableSpec } from '../../lib/sinks/mssql-sql';

export type StoredRow = Record<string, TdsValue>;

export interface FakeTable {
  readonly rows: Map<string, StoredRow>;
  /** Answer before the simulation; return undefined to fall through. */
  inject: ((req: TdsRequest) => TdsReply | undefined) | null;
  inserts: TdsRequest[];
  created: boolean;
}

export function introspectionRows(spec: MssqlTableSpec): (string | number | null)[][] {
  return spec.columns.map((c) => {
    const type = c.kind === 'int' ? c.intType ?? 'int' : c.kind === 'time' ? (c.timeType === null ? 'varchar' : 'datetime2') : c.unicode === false ? 'varchar' : 'nvarchar';
    return [c.name, type, c.kind === 'text' || (c.kind === 'time' && c.timeType === null) ? c.maxLength ?? null : null, c.nullable ? 1 : 0];
  });
}

export function attachTable(server: FakeTdsServer, spec: MssqlTableSpec, keyColumns = ['device_sn', 'user_id', 'local_time'], exists = true): FakeTable {
  const committed = new Map<string, StoredRow>();
  const pending = new Map<number, Map<string, StoredRow>>();
  let seenTx = 0;
  const table: FakeTable = {
    // Reading the rows first applies transaction events the server recorded since the last request.
    get rows() {
      syncTx();
      return committed;
    },
    inject: null,
    inserts: [],
    created: exists,
  };
  const syncTx = (): void => {
    // Apply transaction events recorded since the last request, in order.
    for (; seenTx < server.transactions.length; seenTx++) {
      const ev = server.transactions[seenTx];
      if (ev.op === 'begin') pending.set(ev.connectionId, new Map());
      else if (ev.op === 'commit') {
        for (const [k, v] of pending.get(ev.connectionId) ?? []) committed.set(k, v);
        pending.delete(ev.connectionId);
      } else if (ev.op === 'rollback') pending.delete(ev.connectionId);
    }
  };
  server.setHandler((req) => {
    syncTx();
    const injected = table.inject?.(req);
    if (injected) return injected;
    if (/INFORMATION_SCHEMA\.COLUMNS/.test(req.sql)) {
      return {
        resultSet: {
          columns: [{ name: 'name', type: 'nvarchar' }, { name: 'dataType', type: 'nvarchar' }, { name: 'maxLength', type: 'int' }, { name: 'nullable', type: 'int' }],
          rows: table.created ? introspectionRows(spec) : [],
        },
      };
    }
    if (/^IF OBJECT_ID\(/.test(req.sql)) {
      table.created = true;
      return { rowsAffected: 0 };
    }
    const m = /^INSERT INTO \[[^\]]+\]\.\[[^\]]+\] \(([^)]*)\)/.exec(req.sql);
    if (!m) return { rowsAffected: 0 };
    table.inserts.push(req);
    const cols = m[1].split(', ').map((c) => c.replace(/^\[|\]$/g, ''));
    const tx = pending.get(req.connectionId);
    let inserted = 0;
    for (let i = 0; i < req.params.length; i += cols.length) {
      const row: StoredRow = {};
      cols.forEach((c, j) => (row[c] = req.params[i + j].value));
      const key = keyColumns.map((k) => String(row[k])).join('\u0000');
      if (committed.has(key) || tx?.has(key)) continue;
      (tx ?? committed).set(key, row);
      inserted++;
    }
    return { rowsAffected: inserted };
  });
  return table;
}
