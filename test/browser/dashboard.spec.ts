/**
 * The demo's dashboard tab (flows/demo.json, node-red-dashboard 3 at /ui) in headless Chromium against
 * three simulated devices: one row per device, a device taken off the network
 * turns red within the heartbeat period and green again once it is back, no page errors. Saves the
 * dashboard screenshot used in the README.
 */
import { strict as assert } from 'assert';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import type { Browser, Page } from 'playwright-core';
import { normaliseDeviceConfig } from '../../lib/device';
import { ZkSimulator, startSimulators } from '../../lib/sim';
import { E2eRuntime, loadFlowFile, startRuntime } from '../e2e/runtime';
import { launchChromium, PageErrors, skipWithoutChromium } from './chromium';
import { SCREENSHOTS, screenshot } from './screenshots';

/** zk-live's heartbeat period: the demo flow keeps the default, so read it from where it is defined. */
const HEARTBEAT_MS = normaliseDeviceConfig({ host: '127.0.0.1' }).heartbeatMs ?? 15_000;

interface Row {
  serial: string;
  name: string;
  site: string;
  state: string;
  /** The state dot's colour, classified from its computed background colour. */
  dot: 'red' | 'green' | 'other';
}

describe('browser: the demo dashboard (/ui)', function () {
  this.timeout(90_000);
  let sims: ZkSimulator[] = [];
  let rt: E2eRuntime;
  let browser: Browser;
  let page: Page;
  let errors: PageErrors;
  let dataDir: string;

  before(async function () {
    skipWithoutChromium(this);
    // Three devices on two sites, a live punch every couple of seconds so the chart has something to show.
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
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'punchflow-browser-dash-'));
    const names = ['Front door', 'Loading bay', 'Canteen'];
    const sites = ['Head office', 'Head office', 'Warehouse'];
    const csv = [
      'host,port,name,site,tz',
      ...sims.map((s, i) => `127.0.0.1,${s.port},${names[i]},${sites[i]},UTC`),
    ].join('\n');
    [rt, browser] = await Promise.all([
      startRuntime({
        env: { PUNCHFLOW_FLEET: csv, PUNCHFLOW_DATA_DIR: dataDir },
        flows: loadFlowFile('flows/demo.json'),
      }),
      launchChromium(),
    ]);
    page = await browser.newPage({ viewport: { width: 1440, height: 900 } });
    errors = new PageErrors(page);
    await page.goto(rt.uiUrl);
  });

  after(async () => {
    await browser?.close();
    await rt?.stop();
    await Promise.all(sims.map((s) => s.stop()));
    if (dataDir) fs.rmSync(dataDir, { recursive: true, force: true });
  });

  async function rows(): Promise<Row[]> {
    return page.$$eval('tr.pf-row', (trs) =>
      trs.map((tr) => {
        const dot = tr.querySelector('.pf-dot') as HTMLElement | null;
        const m = /rgba?\((\d+),\s*(\d+),\s*(\d+)/.exec(dot ? getComputedStyle(dot).backgroundColor : '');
        const [r, g, b] = m ? [Number(m[1]), Number(m[2]), Number(m[3])] : [0, 0, 0];
        const colour =
          r > 150 && r > 2 * g && r > 2 * b ? 'red' : g > 90 && g > 1.5 * r && g > 1.5 * b ? 'green' : 'other';
        return {
          serial: tr.getAttribute('data-serial') || '',
          name: (tr.querySelector('.pf-name')?.textContent || '').trim(),
          site: (tr.querySelector('.pf-site')?.textContent || '').trim(),
          state: tr.getAttribute('data-state') || '',
          dot: colour as Row['dot'],
        };
      }),
    );
  }

  /** Waits until the row of `serial` shows `dot`; returns how long it took. */
  async function waitForDot(serial: string, dot: Row['dot'], timeoutMs: number): Promise<number> {
    const t0 = Date.now();
    for (;;) {
      const row = (await rows()).find((r) => r.serial === serial);
      if (row?.dot === dot) return Date.now() - t0;
      if (Date.now() - t0 > timeoutMs) {
        throw new Error(`row ${serial} did not turn ${dot} within ${timeoutMs} ms (now ${JSON.stringify(row)})`);
      }
      await page.waitForTimeout(100);
    }
  }

  it('shows one row per simulated device, all green', async () => {
    await page.waitForSelector('tr.pf-row', { timeout: 20_000 });
    const t0 = Date.now();
    let current: Row[] = [];
    while (Date.now() - t0 < 20_000) {
      current = await rows();
      if (current.length === sims.length && current.every((r) => r.serial && r.dot === 'green')) break;
      await page.waitForTimeout(200);
    }
    assert.deepEqual(current.map((r) => r.serial).sort(), sims.map((s) => s.serial).sort(), JSON.stringify(current));
    assert.deepEqual(
      current.map((r) => [r.state, r.dot]),
      sims.map(() => ['online', 'green']),
      JSON.stringify(current),
    );
    const bySerial = new Map(current.map((r) => [r.serial, r]));
    assert.equal(bySerial.get(sims[0].serial)?.name, 'Front door');
    assert.equal(bySerial.get(sims[2].serial)?.site, 'Warehouse');
  });

  it(`turns a device that goes off the network red within the heartbeat period (${HEARTBEAT_MS / 1000} s), green again when it is back`, async () => {
    const sim = sims[1];
    // Off the network: every connection dropped, new ones refused (as a powered-off or unplugged clock).
    const refusing = sim.setFaults({ tcpMode: 'refuse' });
    sim.restart();
    await refusing;
    const toRed = await waitForDot(sim.serial, 'red', HEARTBEAT_MS);
    const others = (await rows()).filter((r) => r.serial !== sim.serial);
    assert.deepEqual(
      others.map((r) => r.dot),
      ['green', 'green'],
      'the other devices stay green',
    );
    await screenshot(page, 'dashboard-offline.png');

    // Back: zk-live reconnects after its first backoff step (the demo flow: 5 s).
    await sim.setFaults({ tcpMode: undefined });
    const toGreen = await waitForDot(sim.serial, 'green', 20_000);
    // eslint-disable-next-line no-console
    console.log(`      red after ${toRed} ms, green again ${toGreen} ms after the device returned`);
  });

  it('saves the dashboard screenshot', async () => {
    await page.waitForTimeout(300);
    await screenshot(page, 'dashboard.png');
    for (const f of ['dashboard.png', 'dashboard-offline.png']) {
      const s = fs.statSync(path.join(SCREENSHOTS, f));
      assert.ok(s.size > 5_000 && s.size <= 250_000, `${f}: ${s.size} bytes`);
    }
  });

  it('raises no page errors and no console errors', () => {
    assert.deepEqual(errors.all(), []);
  });
});
