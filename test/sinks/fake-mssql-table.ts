/**
 * Simulates the target table behind the fake TDS server: answers the sink's introspection and unique-index
 * query, and applies its INSERT … WHERE NOT EXISTS chunks to an in-memory unique key, with per-connection
 * transactions. This models the statement's intended semantics so idempotency can be asserted end to end over
 * the wire; the real-server suite is what proves SQL Server agrees.
 *
 * Times converted by the statement are checked as SQL Server does: an impossible date fails the CONVERT with
 * error 241, a date outside the column type's range (datetime from 1753, smalldatetime 1900 to 2079-06-06)
 * fails with 242; both end the transaction (the fake TDS server sends the rollback). A `trigger` adds an AFTER
 * INSERT trigger's own row count to the reply, as a trigger's statements do.
 */
import { FakeTdsServer, TdsReply, TdsRequest, TdsStatementResult, TdsValue } from './fake-tds';
import { MssqlTableSpec } from '../../lib/sinks/mssql-sql';

export type StoredRow = Record<string, TdsValue>;

export interface FakeTable {
  readonly rows: Map<string, StoredRow>;
  /** Answer before the simulation; return undefined to fall through. */
  inject: ((req: TdsRequest) => TdsReply | undefined) | null;
  inserts: TdsRequest[];
  created: boolean;
}

export interface FakeTableOptions {
  /** SQL type per column name where it differs from what the spec implies (e.g. local_time: 'datetime'). */
  columnTypes?: Record<string, string>;
  /** Columns of the table's unique index; null: the table has none. Default: the key columns. */
  uniqueKey?: string[] | null;
  /** An AFTER INSERT trigger that writes one audit row per inserted row. */
  trigger?: boolean;
}

export function introspectionRows(
  spec: MssqlTableSpec,
  columnTypes: Record<string, string> = {},
): (string | number | null)[][] {
  return spec.columns.map((c) => {
    const implied =
      c.kind === 'int'
        ? (c.intType ?? 'int')
        : c.kind === 'time'
          ? c.timeType === null
            ? 'varchar'
            : 'datetime2'
          : c.unicode === false
            ? 'varchar'
            : 'nvarchar';
    const type = columnTypes[c.name] ?? implied;
    return [
      c.name,
      type,
      c.kind === 'text' || (c.kind === 'time' && c.timeType === null) ? (c.maxLength ?? null) : null,
      c.nullable ? 1 : 0,
    ];
  });
}

const DAYS = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

/** CONVERT(DATETIME2, s, 120/121) then the column's type: null, or the error SQL Server answers. */
function timeError(value: unknown, columnType: string): TdsReply['error'] | null {
  const m = /^(\d{4})-(\d{2})-(\d{2}) (\d{2}):(\d{2}):(\d{2})(\.\d{1,3})?$/.exec(String(value));
  const [y, mo, d, h, mi, se] = m ? m.slice(1, 7).map(Number) : [];
  const leap = y % 4 === 0 && (y % 100 !== 0 || y % 400 === 0);
  if (
    !m ||
    y < 1 ||
    mo < 1 ||
    mo > 12 ||
    d < 1 ||
    d > (mo === 2 && leap ? 29 : DAYS[mo - 1]) ||
    h > 23 ||
    mi > 59 ||
    se > 59
  ) {
    return {
      number: 241,
      message: 'Conversion failed when converting date and/or time from character string.',
      class: 16,
    };
  }
  const day = String(value).slice(0, 10);
  const t = columnType.toLowerCase();
  if (
    (t === 'datetime' && day < '1753-01-01') ||
    (t === 'smalldatetime' && (day < '1900-01-01' || day > '2079-06-06'))
  ) {
    return {
      number: 242,
      message: `The conversion of a datetime2 data type to a ${t} data type resulted in an out-of-range value.`,
      class: 16,
    };
  }
  return null;
}

export function attachTable(
  server: FakeTdsServer,
  spec: MssqlTableSpec,
  keyColumns = ['device_sn', 'user_id', 'local_time'],
  exists = true,
  options: FakeTableOptions = {},
): FakeTable {
  const columnTypes = options.columnTypes ?? {};
  const uniqueKey = options.uniqueKey === undefined ? keyColumns : options.uniqueKey;
  const converted = new Set(spec.columns.filter((c) => c.kind === 'time' && c.timeType !== null).map((c) => c.name));
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
      if (ev.noTransaction) continue;
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
          columns: [
            { name: 'name', type: 'nvarchar' },
            { name: 'dataType', type: 'nvarchar' },
            { name: 'maxLength', type: 'int' },
            { name: 'nullable', type: 'int' },
          ],
          rows: table.created ? introspectionRows(spec, columnTypes) : [],
        },
      };
    }
    if (/sys\.indexes/.test(req.sql)) {
      return {
        resultSet: {
          columns: [
            { name: 'indexName', type: 'nvarchar' },
            { name: 'columnName', type: 'nvarchar' },
          ],
          rows: table.created && uniqueKey ? uniqueKey.map((c) => ['UQ_punch', c]) : [],
        },
      };
    }
    if (/^IF OBJECT_ID\(/.test(req.sql)) {
      table.created = true;
      return { rowsAffected: 0 };
    }
    const m = /INSERT INTO \[[^\]]+\]\.\[[^\]]+\] \(([^)]*)\)/.exec(req.sql);
    if (!m) return { rowsAffected: 0 };
    table.inserts.push(req);
    const cols = m[1].split(', ').map((c) => c.replace(/^\[|\]$/g, ''));
    const rows: StoredRow[] = [];
    for (let i = 0; i < req.params.length; i += cols.length) {
      const row: StoredRow = {};
      cols.forEach((c, j) => (row[c] = req.params[i + j].value));
      rows.push(row);
    }
    // The VALUES list is converted before any row is inserted: one bad time fails the whole statement.
    for (const row of rows) {
      for (const c of cols) {
        const error = converted.has(c) && row[c] !== null ? timeError(row[c], columnTypes[c] ?? 'datetime2') : null;
        if (error) return { error };
      }
    }
    const tx = pending.get(req.connectionId);
    let inserted = 0;
    for (const row of rows) {
      const key = keyColumns.map((k) => String(row[k])).join('\u0000');
      if (committed.has(key) || tx?.has(key)) continue;
      (tx ?? committed).set(key, row);
      inserted++;
    }
    const results: TdsStatementResult[] = [];
    // A trigger's statements report their own counts, before the INSERT's.
    if (options.trigger && inserted > 0) results.push({ rowsAffected: inserted });
    results.push({ rowsAffected: inserted });
    const counted = /SELECT COUNT\(\*\) AS \[?(\w+)\]? FROM @\w+;\s*$/.exec(req.sql);
    if (counted) results.push({ resultSet: { columns: [{ name: counted[1], type: 'int' }], rows: [[inserted]] } });
    return { results };
  });
  return table;
}
