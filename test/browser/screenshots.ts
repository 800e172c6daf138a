/**
 * Where the browser tests put their screenshots. The README's images live in docs/screenshots/; a plain
 * test run must not rewrite tracked files, so they are refreshed only with UPDATE_SCREENSHOTS=1.
 * Otherwise the screenshots go to a temp folder (printed once), handy when a test fails.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import type { Page } from 'playwright-core';

const docsDir = path.resolve(__dirname, '..', '..', 'docs', 'screenshots');

export const UPDATE = /^(1|true|yes)$/i.test(process.env.UPDATE_SCREENSHOTS || '');
export const SCREENSHOTS = UPDATE ? docsDir : path.join(os.tmpdir(), 'punchflow-screenshots');

let announced = false;

/** A viewport screenshot (PNG, device scale 1) saved as SCREENSHOTS/name. */
export async function screenshot(
  page: Page,
  name: string,
  clip?: { x: number; y: number; width: number; height: number },
): Promise<string> {
  fs.mkdirSync(SCREENSHOTS, { recursive: true });
  if (!announced) {
    announced = true;
    // eslint-disable-next-line no-console
    console.log(`      screenshots: ${SCREENSHOTS}${UPDATE ? '' : ' (UPDATE_SCREENSHOTS=1 writes docs/screenshots/)'}`);
  }
  const file = path.join(SCREENSHOTS, name);
  await page.screenshot({ path: file, clip, animations: 'disabled', caret: 'hide' });
  return file;
}
