/**
 * Arguments of the user and template writes of the `zk` command line:
 *   zk users set HOST FILE [--dry-run]          create or update the users in FILE
 *   zk users sync HOST FILE [--dry-run] [--delete-missing]
 *                                               make the device's users equal FILE (others disabled, or deleted)
 *   zk users delete HOST PIN... [--dry-run]
 *   zk templates backup HOST FILE [--user PIN]  (file mode 0600: biometric data)
 *   zk templates restore HOST FILE [--user PIN] [--dry-run]
 */
import type { DeviceTarget } from './args';

/** args.ts passes its UsageError in: importing it here would make the two modules load each other. */
type Usage = (message: string) => Error;

export const USER_ACTIONS = ['set', 'sync', 'delete'] as const;
export type UserAction = (typeof USER_ACTIONS)[number];

export interface UserWriteArgs {
  action: UserAction;
  /** set / sync: the list (a JSON array, or one JSON object per line). */
  file: string | null;
  /** delete: the PINs. */
  userIds: string[];
  dryRun: boolean;
  /** sync: delete users not in the list instead of disabling them. */
  deleteMissing: boolean;
}

export interface TemplatesCommand extends DeviceTarget {
  command: 'templates';
  action: 'backup' | 'restore';
  file: string;
  /** Only this user's templates. */
  userId: string | null;
  dryRun: boolean;
}

export const USER_WRITE_OPTIONS = {
  'dry-run': { type: 'boolean' },
  'delete-missing': { type: 'boolean' },
} as const;

export const TEMPLATE_OPTIONS = {
  'dry-run': { type: 'boolean' },
  user: { type: 'string' },
} as const;

export const USER_WRITE_HELP = `  zk users set    HOST[:PORT] FILE [--dry-run] [device options]
                  create or update the users in FILE (a JSON array, or one JSON object per line, of
                  {"userId", "name", "password", "cardNo", "group", "privilege", "enabled"}); users not in FILE are left alone
  zk users sync   HOST[:PORT] FILE [--dry-run] [--delete-missing] [device options]
                  make the device's users equal FILE: users not in it are disabled (deleted with --delete-missing;
                  some firmware deletes a user's punches with the user)
  zk users delete HOST[:PORT] PIN [PIN...] [--dry-run] [device options]
  zk templates backup  HOST[:PORT] FILE [--user PIN] [device options]
  zk templates restore HOST[:PORT] FILE [--user PIN] [--dry-run] [device options]
                  fingerprint templates (face templates are not supported). A backup holds biometric data and
                  device passwords: it is written with file mode 0600 (owner only); keep it that way.
                  restore creates users missing on the device from the backup, then writes their templates.
  --dry-run       show what would change and write nothing`;

type Values = Record<string, string | boolean | undefined>;

/** `zk users …` positionals after the action word; null when the first positional is not an action. */
export function parseUserWrite(
  values: Values,
  positionals: string[],
  usage: Usage,
): { write: UserWriteArgs; rest: string[] } | null {
  const [action, target, ...more] = positionals;
  if (!(USER_ACTIONS as readonly string[]).includes(action)) {
    if (values['dry-run'] === true || values['delete-missing'] === true) {
      throw usage('--dry-run and --delete-missing go with zk users set|sync|delete');
    }
    return null;
  }
  if (target === undefined)
    throw usage(
      `zk users ${action} needs a device: zk users ${action} HOST[:PORT] ${action === 'delete' ? 'PIN...' : 'FILE'}`,
    );
  const dryRun = values['dry-run'] === true;
  const deleteMissing = values['delete-missing'] === true;
  if (deleteMissing && action !== 'sync') throw usage('--delete-missing goes with zk users sync');
  if (action === 'delete') {
    if (more.length === 0) throw usage('zk users delete needs the PIN of at least one user');
    return { write: { action, file: null, userIds: more, dryRun, deleteMissing }, rest: [target] };
  }
  if (more.length === 0) throw usage(`zk users ${action} needs a FILE with the users`);
  if (more.length > 1) throw usage(`unexpected argument ${JSON.stringify(more[1])}`);
  return { write: { action: action as UserAction, file: more[0], userIds: [], dryRun, deleteMissing }, rest: [target] };
}

export function parseTemplates(
  values: Values,
  positionals: string[],
  target: (rest: string[]) => DeviceTarget,
  usage: Usage,
): TemplatesCommand {
  const [action, host, file, ...more] = positionals;
  if (action !== 'backup' && action !== 'restore') {
    throw usage(`zk templates needs an action: backup or restore (got ${JSON.stringify(action ?? '')})`);
  }
  if (host === undefined) throw usage(`zk templates ${action} needs a device: zk templates ${action} HOST[:PORT] FILE`);
  if (file === undefined || file === '') throw usage(`zk templates ${action} needs a FILE`);
  if (more.length > 0) throw usage(`unexpected argument ${JSON.stringify(more[0])}`);
  const dryRun = values['dry-run'] === true;
  if (dryRun && action === 'backup')
    throw usage('--dry-run goes with zk templates restore (a backup writes nothing to the device)');
  const user = typeof values.user === 'string' ? values.user : null;
  if (user === '') throw usage('--user needs a PIN');
  return { command: 'templates', ...target([host]), action, file, userId: user, dryRun };
}
