/**
 * The shipped dashboards' layout, measured in headless Chromium at a desktop (1440 px) and a phone (390 px)
 * width against three simulated devices: no tall blank space under a short device table, no group wider
 * than a phone's screen (the tables scroll sideways inside their group instead), charts inside the screen.
 * Saves the phone screenshot (docs/screenshots/ with UPDATE_SCREENSHOTS=1; the wide one is dashboard.spec.ts's).
 */
import { strict as assert } from 'assert';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import type { Browser, Page } from 'playwright-core';
import { ZkSimulator, startSimulators } from '../../lib/sim';
import { E2eRuntime, loadFlowFile, startRuntime } from '../e2e/runtime';
import { launchChromium, PageErrors, skipWithoutChromium } from './chromium';
import { screenshot } from './screenshots';

interface Box {
  x: number;
  y: number;
  right: number;
  bottom: number;
  width: number;
  height: number;
}

/** Rectangles of the dashboard's groups (by title), their tables, scroll boxes and charts. */
async function measure(page: Page): Promise<{
  viewport: number;
  groups: Record<string, Box>;
  tables: Box[];
  scrollers: Array<Box & { scrolls: boolean }>;
  charts: Box[];
}> {
  return page.evaluate(() => {
    const box = (e: Element) => {
      const r = e.getBoundingClientRect();
      return { x: r.x, y: r.y, right: r.right, bottom: r.bottom, width: r.width, height: r.height };
    };
    const groups: Record<string, Box> = {};
    for (const g of Array.from(document.querySelectorAll('ui-card-panel'))) {
      const title = (g.querySelector('.nr-dashboard-cardtitle')?.textContent || g.id).trim();
      groups[title] = box(g);
    }
    return {
      viewport: window.innerWidth,
      groups,
      tables: Array.from(document.querySelectorAll('ui-card-panel table')).map(box),
      scrollers: Array.from(document.querySelectorAll('.pf-devices, .pf-scroll')).map((e) => ({
        ...box(e),
        scrolls: e.scrollWidth > e.clientWidth,
      })),
      charts: Array.from(document.querySelectorAll('ui-card-panel canvas')).map(box),
    };
  });
}

describe('browser: dashboard layout at 1440 and 390 px', function () {
  this.timeout(180_000);
  let sims: ZkSimulator[] = [];
  let rt: E2eRuntime;
  let browser: Browser;
  let dataDir: string;

  before(async function () {
    skipWithoutChromium(this);
    sims = await startSimulators({
      devices: 3,
      host: '127.0.0.1',
      transports: 'tcp',
      users: 12,
      records: 150,
      seed: 5150,
      liveEveryMs: 2_500,
      userIds: 'plain',
    });
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'punchflow-browser-layout-'));
    const names = ['Front door', 'Loading bay', 'Canteen'];
    const sites = ['Head office', 'Head office', 'Warehouse'];
    const csv = [
      'host,port,name,site,tz',
      ...sims.map((s, i) => `127.0.0.1,${s.port},${names[i]},${sites[i]},UTC`),
    ].join('\n');
    [rt, browser] = await Promise.all([
      startRuntime({ env: { PUNCHFLOW_FLEET: csv, PUNCHFLOW_DATA_DIR: dataDir, PUNCHFLOW_MYSQL_PORT: '9' } }),
      launchChromium(),
    ]);
  });

  after(async () => {
    await browser?.close();
    await rt?.stop();
    await Promise.all(sims.map((s) => s.stop()));
    if (dataDir) fs.rmSync(dataDir, { recursive: true, force: true });
  });

  /** Opens /ui at `width` once the device table shows every device. */
  async function open(width: number, rowSelector: string): Promise<{ page: Page; errors: PageErrors }> {
    const page = await browser.newPage({ viewport: { width, height: width < 600 ? 844 : 900 } });
    const errors = new PageErrors(page);
    await page.goto(rt.uiUrl);
    await page.waitForFunction((sel) => document.querySelectorAll(sel).length >= 3, rowSelector, { timeout: 30_000 });
    await page.waitForSelector('ui-card-panel canvas', { timeout: 30_000 });
    // The dashboard lays groups out in timers after content changes: wait until two looks 200 ms apart agree.
    let last = '';
    for (let i = 0; i < 100; i++) {
      const now = JSON.stringify(await measure(page));
      if (now === last) break;
      last = now;
      await page.waitForTimeout(200);
    }
    return { page, errors };
  }

  function assertNoOverlap(groups: Record<string, Box>): void {
    const list = Object.entries(groups);
    for (const [a, ra] of list) {
      for (const [b, rb] of list) {
        if (a >= b) continue;
        const overlap = ra.x < rb.right - 1 && rb.x < ra.right - 1 && ra.y < rb.bottom - 1 && rb.y < ra.bottom - 1;
        assert.ok(!overlap, `groups "${a}" and "${b}" overlap: ${JSON.stringify([ra, rb])}`);
      }
    }
  }

  function assertFitsPhone(m: Awaited<ReturnType<typeof measure>>, flow: string): void {
    for (const [name, g] of Object.entries(m.groups))
      assert.ok(
        g.x >= 0 && g.right <= m.viewport + 1,
        `${flow}: group "${name}" runs past the screen (${Math.round(g.x)}…${Math.round(g.right)} of ${m.viewport})`,
      );
    for (const c of m.charts)
      assert.ok(
        c.right <= m.viewport + 1,
        `${flow}: a chart is cut off at the right (${Math.round(c.right)} of ${m.viewport})`,
      );
    for (const s of m.scrollers) assert.ok(s.right <= m.viewport + 1, `${flow}: a table box runs past the screen`);
    assertNoOverlap(m.groups);
  }

  it('demo: no blank space under the device table at 1440 px; nothing cut off at 390 px', async () => {
    await rt.deploy(loadFlowFile('flows/demo.json'), { settleMs: 500 });
    const wide = await open(1440, 'tr.pf-row');
    try {
      const m = await measure(wide.page);
      const devices = m.groups.Devices;
      const table = m.tables[0];
      assert.ok(devices && table, JSON.stringify(m));
      assert.ok(table.bottom <= devices.bottom, 'the table is inside its group');
      assert.ok(
        devices.bottom - table.bottom < 48,
        `${Math.round(devices.bottom - table.bottom)} px of blank space under the device table`,
      );
      assertNoOverlap(m.groups);
      assert.deepEqual(wide.errors.all(), []);
    } finally {
      await wide.page.close();
    }
    const phone = await open(390, 'tr.pf-row');
    try {
      const m = await measure(phone.page);
      assertFitsPhone(m, 'demo');
      assert.ok(
        m.scrollers.some((s) => s.scrolls),
        'the wide device table scrolls sideways inside its group',
      );
      assert.deepEqual(phone.errors.all(), []);
      await screenshot(phone.page, 'dashboard-phone.png');
    } finally {
      await phone.page.close();
    }
  });

  for (const [flow, rowSelector] of [
    ['fleet-mysql-access', 'ui-card-panel table tr:not(:first-child)'],
    ['workhours', 'ui-card-panel table tr:not(:first-child)'],
  ] as const) {
    it(`${flow}: groups fit at 390 px, the device table's group has no tall blank space at 1440 px`, async () => {
      await rt.deploy(loadFlowFile(`flows/${flow}.json`), { settleMs: 500 });
      const wide = await open(1440, rowSelector);
      try {
        const m = await measure(wide.page);
        assertNoOverlap(m.groups);
        if (flow === 'fleet-mysql-access') {
          const devices = m.groups.Devices;
          assert.ok(
            devices.bottom - m.tables[0].bottom < 48,
            `${Math.round(devices.bottom - m.tables[0].bottom)} px of blank space under the device table`,
          );
        }
      } finally {
        await wide.page.close();
      }
      const phone = await open(390, rowSelector);
      try {
        assertFitsPhone(await measure(phone.page), flow);
        assert.deepEqual(phone.errors.all(), []);
      } finally {
        await phone.page.close();
      }
    });
  }
});
