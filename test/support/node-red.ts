/**
 * node-red-node-test-helper wired to the node-red dev dependency (helper.init with its path), with a temporary
 * user directory per suite so cursors and other state stay out of the repo.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import helper = require('node-red-node-test-helper');

helper.init(require.resolve('node-red'));

// The helper builds RED for the nodes from a mock runtime without the messaging hooks a real runtime gives
// every node (RED.hooks, which zk-mqtt-in uses). Hand it the runtime's own hooks instance.
{
  const registryUtil = (helper as unknown as { _registryUtil?: { init: (rt: Record<string, unknown>) => void } })
    ._registryUtil;
  if (registryUtil) {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { hooks } = require('@node-red/util') as { hooks: unknown };
    const init = registryUtil.init.bind(registryUtil);
    registryUtil.init = (rt) => {
      if (!rt.hooks) rt.hooks = hooks;
      init(rt);
    };
  }
}

export { helper };

/** A fresh temp user directory, set as RED.settings.userDir. */
export function useTempUserDir(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'punchflow-test-'));
  helper.settings({ userDir: dir });
  return dir;
}

export function removeDir(dir: string): void {
  fs.rmSync(dir, { recursive: true, force: true });
}

/**
 * The Node-RED lifecycle of a node spec: a fresh user directory and a started server before each test; after
 * it, flows unloaded, the server stopped, `cleanup` run (e.g. simulators stopped), settings reset and the user
 * directory removed. A test may replace `dir` (a restart on a new directory); the one in place is removed.
 */
export function useNodeRedServer(cleanup?: () => Promise<void>): { dir: string } {
  const state = { dir: '' };
  beforeEach(async () => {
    state.dir = useTempUserDir();
    await helper.startServer();
  });
  afterEach(async () => {
    await helper.unload();
    await helper.stopServer();
    if (cleanup) await cleanup();
    helper.settings({});
    removeDir(state.dir);
  });
  return state;
}
