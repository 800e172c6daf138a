/**
 * Attendance records as CSV, one way for every writer (the file sink, `zk fetch --format csv`): RFC 4180
 * quoting, CRLF line ends, the canonical field order, and a guard against spreadsheet formulas.
 *
 * The guard: a payroll clerk opens these files in Excel or LibreOffice, which run a cell starting with
 * `=`, `+`, `-`, `@`, TAB or CR as a formula; a device name or user id set on a clock must not become one.
 * Such a text cell gets a leading `'` (plain numbers such as "-5" are left alone). It is reversible: a text
 * that already starts with `'`s before such a character gets one more, and unguardFormula() takes one off,
 * so the file sink can read its own ids back exactly.
 */
import { ATTENDANCE_RECORD_FIELDS, AttendanceRecord } from './canonical';

/** CRLF line ends, as RFC 4180 asks and spreadsheets expect. */
export const CSV_EOL = '\r\n';

const FORMULA_START = /^[=+\-@\t\r]/;
const GUARDED = /^'+[=+\-@\t\r]/;
const PLAIN_NUMBER = /^[+-]?\d+(?:\.\d+)?$/;
const NEEDS_QUOTES = /[",\r\n]|^\s|\s$/;

/** `s` made safe to open in a spreadsheet (see the module comment). */
export function guardFormula(s: string): string {
  if (FORMULA_START.test(s)) return PLAIN_NUMBER.test(s) ? s : `'${s}`;
  return GUARDED.test(s) ? `'${s}` : s;
}

/** The text guardFormula() was given. */
export function unguardFormula(s: string): string {
  return GUARDED.test(s) ? s.slice(1) : s;
}

/** One field: formula-guarded text, quoted when it holds a comma, quote, CR/LF or edge spaces; null → empty. */
export function csvField(value: unknown): string {
  if (value === null || value === undefined) return '';
  const s = typeof value === 'string' ? guardFormula(value) : String(value);
  return NEEDS_QUOTES.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

export function csvHeader(fields: readonly string[] = ATTENDANCE_RECORD_FIELDS): string {
  return fields.map(csvField).join(',') + CSV_EOL;
}

export function csvRecordRow(
  r: AttendanceRecord,
  fields: readonly (keyof AttendanceRecord)[] = ATTENDANCE_RECORD_FIELDS,
): string {
  let line = '';
  for (let i = 0; i < fields.length; i++) line += (i ? ',' : '') + csvField(r[fields[i]]);
  return line + CSV_EOL;
}

/** Splits CSV text into rows (quoted line breaks stay inside their row); the line end is not included. */
export function csvRows(text: string): string[] {
  const out: string[] = [];
  let start = 0;
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22) quoted = !quoted;
    else if (c === 0x0a && !quoted) {
      out.push(text.slice(start, i > start && text.charCodeAt(i - 1) === 0x0d ? i - 1 : i));
      start = i + 1;
    }
  }
  return out;
}

/** The first field of a row as it was written: unquoted and unguarded. */
export function firstCsvField(row: string): string {
  if (!row.startsWith('"')) {
    const i = row.indexOf(',');
    return unguardFormula(i === -1 ? row : row.slice(0, i));
  }
  let out = '';
  for (let i = 1; i < row.length; i++) {
    const c = row[i];
    if (c === '"') {
      if (row[i + 1] === '"') {
        out += '"';
        i++;
      } else break;
    } else out += c;
  }
  return unguardFormula(out);
}
