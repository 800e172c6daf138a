/**
 * Numeric settings from a node's flow JSON, where the editor stores numbers as strings or numbers and a
 * blank field means the default. One parser for every node, so each says the same thing about a bad value.
 */

/** `v` as a number in [min, max] (blank, null or missing: `fallback`); throws a RangeError naming the field. */
export function settingNumber(v: unknown, fallback: number, field: string, min: number, max: number): number {
  if (v === undefined || v === null || v === '') return fallback;
  const n = Number(v);
  if (!Number.isFinite(n) || n < min || n > max)
    throw new RangeError(`${field} must be a number from ${min} to ${max} (got "${String(v)}")`);
  return n;
}

/** The same for whole numbers (ports, batch sizes, timeouts in seconds). */
export function settingInteger(v: unknown, fallback: number, field: string, min: number, max: number): number {
  const n = settingNumber(v, fallback, field, min, max);
  if (!Number.isInteger(n))
    throw new RangeError(`${field} must be a whole number from ${min} to ${max} (got "${String(v)}")`);
  return n;
}
