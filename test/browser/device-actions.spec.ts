/**
 * The dashboards' device actions in headless Chromium against simulated devices: choose a device above the
 * device table, press "Unlock door" or "Sync clock", answer the browser's confirmation; a declined
 * confirmation sends nothing. Dashboard 1 (fleet-mysql-access.json, /ui) and Dashboard 2 (dashboard2.json).
 */
import { strict as assert } from 'assert';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import type { Browser, Dialog, Page } from 'playwright-core';
import { ZkSimulator, startSimulators } from '../../lib/sim';
import { Cmd } from '../../lib/protocol/constants';
import { E2eRuntime, loadFlowFile, startRuntime } from '../e2e/runtime';
import { launchChromium, PageErrors, skipWithoutChromium } from './chromium';
import { until } from '../../support/wait';

interface Dashboard {
  file: string;
  url: (rt: E2eRuntime) => string;
  /** Picks the device named `name` in the action widget. */
  choose: (page: Page, name: string) => Promise<void>;
}

const DASHBOARDS: Dashboard[] = [
  {
    file: 'flows/fleet-mysql-access.json',
    url: (rt) => rt.uiUrl,
    choose: async (page, name) => {
      const select = page.locator('select').first();
      await select.waitFor({ timeout: 20_000 });
      await page.waitForFunction(
        (n) => Array.from(document.querySelectorAll('select option')).some((o) => (o.textContent || '').startsWith(n)),
        name,
        { timeout: 20_000 },
      );
      const label = await page.$$eval(
        'select option',
        (os, n) => os.map((o) => o.textContent || '').find((t) => t.startsWith(n as string)) ?? '',
        name,
      );
      await select.selectOption({ label });
    },
  },
  {
    file: 'flows/dashboard2.json',
    url: (rt) => `${rt.baseUrl}/dashboard/punchflow`,
    choose: async (page, name) => {
      const select = page.locator('.v-select').first();
      await select.waitFor({ timeout: 20_000 });
      // The list fills from the device table's rows: open it until the device is offered.
      for (let i = 0; ; i++) {
        await select.click();
        const option = page.locator('.v-overlay .v-list-item', { hasText: name }).first();
        if (await option.isVisible().catch(() => false)) {
          await option.click();
          return;
        }
        await page.keyboard.press('Escape');
        if (i > 100) throw new Error(`${name} never appeared in the device list`);
        await page.waitForTimeout(200);
      }
    },
  },
];

for (const d of DASHBOARDS) {
  describe(`browser: device actions on ${d.file}`, function () {
    this.timeout(120_000);
    let sims: ZkSimulator[] = [];
    let rt: E2eRuntime;
    let browser: Browser;
    let page: Page;
    let errors: PageErrors;
    let dataDir: string;
    const dialogs: string[] = [];
    let answer: 'accept' | 'dismiss' = 'accept';

    before(async function () {
      skipWithoutChromium(this);
      sims = await startSimulators({
        devices: 2,
        host: '127.0.0.1',
        transports: 'tcp',
        users: 3,
        records: 10,
        seed: 77,
        clockOffsetSec: 900,
      });
      dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'punchflow-browser-actions-'));
      const csv = ['host,port,name,site,tz', ...sims.map((s, i) => `127.0.0.1,${s.port},Gate ${i + 1},HQ,UTC`)].join(
        '\n',
      );
      [rt, browser] = await Promise.all([
        startRuntime({ env: { PUNCHFLOW_FLEET: csv, PUNCHFLOW_DATA_DIR: dataDir }, flows: loadFlowFile(d.file) }),
        launchChromium(),
      ]);
      page = await browser.newPage({ viewport: { width: 1280, height: 1000 } });
      errors = new PageErrors(page);
      page.on('dialog', (dlg: Dialog) => {
        dialogs.push(dlg.message());
        void (answer === 'accept' ? dlg.accept() : dlg.dismiss());
      });
      await page.goto(d.url(rt));
    });

    after(async () => {
      await browser?.close();
      await rt?.stop();
      await Promise.all(sims.map((s) => s.stop()));
      if (dataDir) fs.rmSync(dataDir, { recursive: true, force: true });
    });

    it('a declined confirmation sends nothing; an accepted one unlocks that door and shows the answer', async () => {
      await d.choose(page, 'Gate 2');
      answer = 'dismiss';
      await page.getByText('Sync clock', { exact: true }).click();
      await until(() => dialogs.length === 1, 10_000, 'the confirmation');
      assert.match(dialogs[0], /^Set the clock of Gate 2 .*127\.0\.0\.1:\d+\) to this server's time\?$/);
      answer = 'accept';
      await page.getByText('Unlock door', { exact: true }).click();
      await until(() => sims[1].doorUnlocks.length === 1, 20_000, 'the door of Gate 2');
      assert.match(dialogs[1], /^Unlock the door of Gate 2 .* for 3 seconds\?$/);
      // Messages reach zk-command in order: the unlock arrived, so the declined sync was never sent.
      assert.equal(sims[1].counters.commandsSeen[Cmd.SET_TIME] ?? 0, 0);
      assert.equal(sims[0].doorUnlocks.length, 0, 'only the chosen device');
      await page
        .getByText(/door unlocked for 3 s/)
        .first()
        .waitFor({ timeout: 20_000 });
    });

    it('an accepted "Sync clock" sets that clock', async () => {
      await page.getByText('Sync clock', { exact: true }).click();
      await until(() => (sims[1].counters.commandsSeen[Cmd.SET_TIME] ?? 0) === 1, 20_000, 'SET_TIME on Gate 2');
      await page
        .getByText(/clock was \+\d+ s off; set to/)
        .first()
        .waitFor({ timeout: 20_000 });
      assert.equal(sims[0].counters.commandsSeen[Cmd.SET_TIME] ?? 0, 0);
    });

    it('raises no page errors and no console errors', () => {
      assert.deepEqual(errors.all(), []);
    });
  });
}
