/**
 * node-red-node-test-helper wired to the node-red dev dependency (node-red-notes §9), with a temporary
 * user directory per suite so cursors and other state stay out of the repo.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import helper = require('node-red-node-test-helper');

helper.init(require.resolve('node-red'));

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
