/**
 * Child process for the crash tests: a push server on the journal directory given, killed with SIGKILL
 * at a chosen moment of the first ATTLOG post: 'after-journal' (fsynced, before the OK is written) or
 * 'before-journal' (nothing written). Prints `{"port":N}` once it listens.
 */
import * as path from 'path';
import { PushJournal } from '../../../lib/push/journal';
import { listenPush } from '../../../lib/push/listener';
import { PushServer } from '../../../lib/push/server';
import { pushDefaults } from '../../../lib/push/settings';
import { PushState } from '../../../lib/push/state';

async function main(): Promise<void> {
  const [dir, mode] = process.argv.slice(2);
  const state = await PushState.open(path.join(dir, 'state.json'));
  const journal = await PushJournal.open(path.join(dir, 'journal'));
  const writer = {
    append: async (e: Parameters<PushJournal['append']>[0]) => {
      if (mode === 'before-journal') process.kill(process.pid, 'SIGKILL');
      await journal.append(e);
      process.kill(process.pid, 'SIGKILL');
    },
  };
  const server = new PushServer(pushDefaults({ unknownDevices: 'accept' }), writer, state, {});
  const l = await listenPush(server, 0, '127.0.0.1');
  process.stdout.write(JSON.stringify({ port: l.port }) + '\n');
}

main().catch((err: Error) => {
  process.stderr.write(`${err.stack}\n`);
  process.exit(1);
});
