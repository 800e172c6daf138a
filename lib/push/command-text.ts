/**
 * What may be queued for a device (docs/adms.md §5). Commands go out as `C:<id>:<command>` lines, so a
 * line break inside one would smuggle in a second command: such text is rejected, never cleaned up.
 * Destructive commands need the node's explicit opt-in.
 */

/** First words of commands that delete data, change settings, reboot, or touch files. */
const DESTRUCTIVE: readonly RegExp[] = [
  /^CLEAR\b/i,
  /^REBOOT\b/i,
  /^DATA\s+DELETE\b/i,
  /^DATA\s+UPDATE\b/i,
  /^SET\s+OPTION\b/i,
  /^RELOAD\s+OPTIONS\b/i,
  /^SHELL\b/i,
  /^PUTFILE\b/i,
  /^GETFILE\b/i,
  /^UPGRADE\b/i,
  /^ENROLL_FP\b/i,
  /^USER\s+(ADD|DEL)\b/i,
  /ICLOCKSVRURL/i,
];

export function isDestructive(command: string): boolean {
  return DESTRUCTIVE.some((re) => re.test(command.trim()));
}

export const MAX_COMMAND_LENGTH = 2000;

export type CommandCheck = { ok: true; command: string } | { ok: false; reason: string };

/** Tabs separate arguments (`StartTime=…\tEndTime=…`); any other control character is refused. */
export function checkCommand(value: unknown, allowDestructive: boolean): CommandCheck {
  if (typeof value !== 'string') return { ok: false, reason: 'command must be a string' };
  const command = value.trim();
  if (command === '') return { ok: false, reason: 'command is empty' };
  if (command.length > MAX_COMMAND_LENGTH)
    return { ok: false, reason: `command is longer than ${MAX_COMMAND_LENGTH} characters` };
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u0008\u000a-\u001f\u007f]/.test(command))
    return {
      ok: false,
      reason: 'command contains a line break or control character (only tabs may separate arguments)',
    };
  if (!allowDestructive && isDestructive(command)) {
    return {
      ok: false,
      reason: `"${command.split(/\s/)[0]}" changes or deletes data on the device: enable "allow destructive commands" on the zk-push node to send it`,
    };
  }
  return { ok: true, command };
}

export interface CommandResult {
  id: number;
  /** Return code: 0 ok, negative errors (-1 unsupported, -1002 syntax, …). NaN when absent. */
  returnCode: number;
  /** The command name as the device echoes it. */
  cmd: string;
  /** Every key=value of the result (e.g. Content for Shell/GetFile, AttlogCount for VERIFY SUM). */
  fields: Record<string, string>;
}

/** Field names as keys: `~` marks read-only options on some firmware (`~DeviceName`) and is dropped. */
function fieldKey(raw: string): string {
  return raw.trim().replace(/^~/, '');
}

function addField(out: Record<string, string>, part: string): void {
  const eq = part.indexOf('=');
  if (eq <= 0) return;
  const k = fieldKey(part.slice(0, eq));
  // `in` also keeps out inherited names (__proto__, constructor): a device cannot reach the prototype.
  if (k !== '' && !(k in out) && k.length <= 64) out[k] = part.slice(eq + 1);
}

function parseFields(text: string, sep: RegExp): Record<string, string> {
  const out: Record<string, string> = {};
  for (const part of text.split(sep)) addField(out, part);
  return out;
}

/**
 * `key=value` pairs separated by commas or line ends: an options post (`table=options`, how some firmware
 * answers INFO) or a Push 3.x registry body.
 */
export function parseOptionList(body: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const part of body.split(/[,\r\n]/)) addField(out, part.trim());
  return out;
}

/**
 * `devicecmd` bodies: one `ID=<id>&Return=<code>&CMD=<name>` per line, several per post; or the multi-line
 * form (`ID=…`, `Return=…`, `CMD=…`, `Content=…` on separate lines) of Shell/GetFile. Lines after an `ID=`
 * line that are not one themselves belong to that result: INFO answers list the device's details that way
 * (`~DeviceName=…`, `FWVersion=…`, `UserCount=…`). Unparseable text yields no result rather than an error:
 * the device only needs its `OK`.
 */
export function parseCommandResults(body: string): CommandResult[] {
  const lines = body.split(/\r\n|\n|\r/).filter((l) => l.trim() !== '');
  const results: CommandResult[] = [];
  const toResult = (f: Record<string, string>): void => {
    const id = Number(f.ID);
    if (!Number.isSafeInteger(id) || id <= 0) return;
    const rc = f.Return !== undefined && /^-?\d{1,10}$/.test(f.Return.trim()) ? Number(f.Return.trim()) : NaN;
    results.push({ id, returnCode: rc, cmd: (f.CMD ?? '').trim(), fields: f });
  };
  let cur: Record<string, string> | null = null;
  for (const l of lines) {
    if (/^ID=/.test(l)) {
      if (cur) toResult(cur);
      cur = parseFields(l, /&/);
      continue;
    }
    // A detail line of the current result: one key=value, taken whole (a value may hold '&').
    if (cur) addField(cur, l);
  }
  if (cur) toResult(cur);
  return results;
}
