/**
 * The per-device command channel (docs/adms.md §5): queue → sent in a `getrequest` reply as
 * `C:<id>:<command>` → answered on `devicecmd`, or timed out. Commands live in PushState, so a restart
 * keeps both the queue and the ids that results refer to.
 */
import type { CommandResult } from './command-text';
import type { PushState, QueuedCommand } from './state';

export const MAX_QUEUED_PER_DEVICE = 100;

export interface AnsweredCommand {
  sn: string;
  command: QueuedCommand;
  result: CommandResult;
}

export class CommandBook {
  /** Commands not yet on disk: not handed out, so a result can never arrive before the queueing is reported. */
  private readonly saving = new Set<string>();

  constructor(private readonly state: PushState) {}

  /** Queues a (checked) command; persisted before it resolves, so its id is never handed out twice. */
  async enqueue(sn: string, command: string): Promise<QueuedCommand> {
    const d = this.state.get(sn);
    const open = d.commands.filter((c) => c.state === 'queued' || c.state === 'sent').length;
    if (open >= MAX_QUEUED_PER_DEVICE)
      throw new Error(
        `device ${sn} already has ${open} commands waiting (limit ${MAX_QUEUED_PER_DEVICE}): is it polling?`,
      );
    const c: QueuedCommand = {
      id: d.nextCommandId,
      command,
      state: 'queued',
      queuedAt: new Date().toISOString(),
      sentAt: null,
    };
    d.nextCommandId += 1;
    d.commands.push(c);
    const key = `${sn}|${c.id}`;
    this.saving.add(key);
    try {
      await this.state.flush();
    } catch (err) {
      d.commands = d.commands.filter((x) => x !== c);
      throw err;
    } finally {
      this.saving.delete(key);
    }
    return { ...c };
  }

  /** The `getrequest` body: up to `max` queued commands as `C:<id>:<cmd>` lines (marked sent), or `OK`. */
  take(sn: string, max: number, now = new Date()): { body: string; sent: QueuedCommand[] } {
    if (!this.state.has(sn)) return { body: 'OK', sent: [] };
    const d = this.state.get(sn);
    const sent: QueuedCommand[] = [];
    for (const c of d.commands) {
      if (sent.length >= max) break;
      if (c.state !== 'queued' || this.saving.has(`${sn}|${c.id}`)) continue;
      c.state = 'sent';
      c.sentAt = now.toISOString();
      sent.push(c);
    }
    if (sent.length === 0) return { body: 'OK', sent };
    this.state.changed();
    return { body: sent.map((c) => `C:${c.id}:${c.command}`).join('\n') + '\n', sent };
  }

  /** Matches results to sent commands; answered ones leave the queue. Unknown ids come back unmatched. */
  answer(sn: string, results: CommandResult[]): { answered: AnsweredCommand[]; unmatched: CommandResult[] } {
    const answered: AnsweredCommand[] = [];
    const unmatched: CommandResult[] = [];
    if (!this.state.has(sn)) return { answered, unmatched: results };
    const d = this.state.get(sn);
    for (const r of results) {
      const c = d.commands.find((x) => x.id === r.id && (x.state === 'sent' || x.state === 'queued'));
      if (!c) {
        unmatched.push(r);
        continue;
      }
      c.state = 'answered';
      answered.push({ sn, command: { ...c }, result: r });
    }
    if (answered.length > 0) {
      d.commands = d.commands.filter((c) => c.state !== 'answered');
      this.state.changed();
    }
    return { answered, unmatched };
  }

  /** Sent commands older than `timeoutMs` become 'timeout' and leave the queue. */
  expire(nowMs: number, timeoutMs: number): { sn: string; command: QueuedCommand }[] {
    const out: { sn: string; command: QueuedCommand }[] = [];
    for (const d of this.state.all()) {
      let changed = false;
      for (const c of d.commands) {
        if (c.state === 'sent' && c.sentAt !== null && nowMs - Date.parse(c.sentAt) > timeoutMs) {
          c.state = 'timeout';
          out.push({ sn: d.sn, command: { ...c } });
          changed = true;
        }
      }
      if (changed) {
        d.commands = d.commands.filter((c) => c.state !== 'timeout');
        this.state.changed();
      }
    }
    return out;
  }

  pending(sn: string): QueuedCommand[] {
    return this.state.has(sn) ? this.state.get(sn).commands.map((c) => ({ ...c })) : [];
  }
}
