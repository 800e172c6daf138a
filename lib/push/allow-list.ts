/**
 * The device allow-list: one device per line, `serial[,name[,site[,tz[,code page]]]]` (commas or tabs), `#` comments.
 * Errors name the line so an operator can fix the table in the editor.
 */
import { isValidTimeZone } from '../record/zone';
import { codePageName } from './body';

export interface AllowedDevice {
  sn: string;
  name: string | null;
  site: string | null;
  /** null: the node's default zone. */
  tz: string | null;
  /** Character set of the device's text (e.g. windows-1252, gbk); null or absent: the node's default. */
  codePage?: string | null;
}

/** Serial numbers as devices report them: letters, digits, `-` and `_`. Anything else never reaches a file or reply. */
export const SERIAL_RE = /^[A-Za-z0-9_-]{1,64}$/;

export function isValidSerial(v: unknown): v is string {
  return typeof v === 'string' && SERIAL_RE.test(v);
}

export function parseAllowList(text: string | undefined): Map<string, AllowedDevice> {
  const out = new Map<string, AllowedDevice>();
  const lines = (text ?? '').split(/\r\n|\n|\r/);
  lines.forEach((raw, i) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) return;
    const cells = line.split(/[,\t]/).map((c) => c.trim());
    const [sn, name, site, tz, codePage] = cells;
    const where = `device list line ${i + 1}`;
    // A header row is allowed and skipped.
    if (i === 0 && /^(sn|serial)$/i.test(sn)) return;
    if (!isValidSerial(sn))
      throw new RangeError(`${where}: ${JSON.stringify(sn)} is not a serial number (letters, digits, - and _)`);
    if (out.has(sn)) throw new RangeError(`${where}: serial ${sn} is listed twice`);
    if (tz && !isValidTimeZone(tz))
      throw new RangeError(`${where}: ${JSON.stringify(tz)} is not an IANA time zone (e.g. Asia/Kolkata)`);
    let cp: string | null = null;
    if (codePage) {
      try {
        cp = codePageName(codePage);
      } catch (err) {
        throw new RangeError(`${where}: ${(err as Error).message}`);
      }
    }
    out.set(sn, { sn, name: name || null, site: site || null, tz: tz || null, codePage: cp });
  });
  return out;
}
