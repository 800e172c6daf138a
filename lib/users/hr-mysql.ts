/**
 * The master list from an HR database: one SELECT on MySQL/MariaDB whose columns are named (or aliased) as the
 * list's fields, e.g. `SELECT emp_no AS userId, full_name AS name, badge AS card, 'user' AS privilege,
 * active AS enabled FROM employees`. Read-only: one connection per read, closed after it.
 */
import * as mysql from 'mysql2/promise';

export interface HrMysqlOptions {
  host: string;
  port: number;
  user: string;
  /** From a credential; never logged. */
  password: string;
  database: string;
  query: string;
  timeoutMs?: number;
}

/** Statements other than a plain read are refused: this connection only ever reads the employee table. */
export function checkHrQuery(query: string): string {
  const q = query.trim().replace(/;\s*$/, '');
  if (!/^(select|with)\b/i.test(q))
    throw new Error('HR query must be a SELECT (e.g. SELECT emp_no AS userId, full_name AS name FROM employees)');
  if (q.includes(';')) throw new Error('HR query must be one statement (no ";" inside)');
  return q;
}

export async function readHrRows(o: HrMysqlOptions): Promise<Record<string, unknown>[]> {
  const sql = checkHrQuery(o.query);
  let conn: mysql.Connection;
  try {
    conn = await mysql.createConnection({
      host: o.host,
      port: o.port,
      user: o.user,
      password: o.password,
      database: o.database,
      connectTimeout: o.timeoutMs ?? 10_000,
      charset: 'utf8mb4',
      supportBigNumbers: true,
      bigNumberStrings: true,
      multipleStatements: false,
    });
  } catch (err) {
    throw new Error(
      `HR database ${o.user}@${o.host}:${o.port}/${o.database}: cannot connect: ${(err as Error).message} (check host, port, user, password and database)`,
    );
  }
  try {
    const [rows] = await conn.query({ sql, timeout: o.timeoutMs ?? 30_000 });
    if (!Array.isArray(rows)) throw new Error('the HR query returned no rows (is it a SELECT?)');
    // Plain objects: mysql2's row objects carry a constructor the list check does not need.
    return (rows as Record<string, unknown>[]).map((r) => ({ ...r }));
  } catch (err) {
    throw new Error(`HR database ${o.host}:${o.port}/${o.database}: query failed: ${(err as Error).message}`);
  } finally {
    await conn.end().catch(() => undefined);
  }
}
