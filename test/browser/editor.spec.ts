/**
 * The Node-RED editor in headless Chromium: the PunchFlow palette, every node's
 * edit dialog with a bad value flagged, zk-device's Test connection against a simulated device, no page
 * errors. Saves the editor screenshots used in the README (docs/screenshots/).
 */
import { strict as assert } from 'assert';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import type { Browser, Page } from 'playwright-core';
import { ZkSimulator } from '../../lib/sim';
import { launchChromium, PageErrors, skipWithoutChromium } from './chromium';
import { E2eRuntime, startRuntime } from '../e2e/runtime';
import { SCREENSHOTS, screenshot } from './screenshots';

const repoRoot = path.resolve(__dirname, '..', '..');
const SERIAL = 'PFSIM0000421';

type FlowNode = Record<string, unknown> & { id: string; type: string };

/** The node types package.json registers, and those that belong in the palette (all but the config node). */
const REGISTERED = Object.keys(
  (
    JSON.parse(fs.readFileSync(path.join(repoRoot, 'package.json'), 'utf8')) as {
      'node-red': { nodes: Record<string, string> };
    }
  )['node-red'].nodes,
);
const PALETTE_TYPES = REGISTERED.filter((t) => t !== 'zk-device').sort();
const HAS_PUSH = REGISTERED.includes('zk-push');

/** One complete node of `type` from examples/ (all its properties, so the editor finds nothing missing). */
function exampleNode(type: string): FlowNode {
  for (const f of fs.readdirSync(path.join(repoRoot, 'examples'))) {
    if (!f.endsWith('.json')) continue;
    const nodes = JSON.parse(fs.readFileSync(path.join(repoRoot, 'examples', f), 'utf8')) as FlowNode[];
    const n = nodes.find((x) => x.type === type);
    if (n) return JSON.parse(JSON.stringify(n)) as FlowNode;
  }
  throw new Error(`no ${type} node in examples/`);
}

/** Live capture and polling of one device → dedupe → file sink: the flow a user builds first. */
function editorFlow(port: number, dataDir: string): FlowNode[] {
  const node = (type: string, props: Record<string, unknown>): FlowNode =>
    ({ ...exampleNode(type), ...props }) as FlowNode;
  return [
    { id: 'tab1', type: 'tab', label: 'Attendance', disabled: false, info: '' },
    node('zk-device', { id: 'dev1', name: 'Front door', host: '127.0.0.1', port, tz: 'UTC', site: 'Head office' }),
    node('zk-live', { id: 'live1', z: 'tab1', device: 'dev1', x: 170, y: 100, wires: [['dedupe1'], []] }),
    node('zk-poll', {
      id: 'poll1',
      z: 'tab1',
      device: 'dev1',
      interval: 300,
      x: 170,
      y: 180,
      wires: [['dedupe1'], []],
    }),
    node('zk-dedupe', { id: 'dedupe1', z: 'tab1', x: 400, y: 140, wires: [['sink1'], []] }),
    node('zk-sink', { id: 'sink1', z: 'tab1', dir: dataDir, x: 620, y: 140, wires: [[], []] }),
    // Devices in push mode (ADMS) post to Node-RED's own HTTP server: no port of its own.
    ...(HAS_PUSH
      ? [
          node('zk-push', {
            id: 'push1',
            z: 'tab1',
            listen: 'node',
            basePath: '/iclock',
            x: 170,
            y: 260,
            wires: [['dedupe1'], []],
          }),
        ]
      : []),
    // Runs only on input: the dialog is what is tested here.
    node('zk-command', {
      id: 'cmd1',
      z: 'tab1',
      device: 'dev1',
      action: 'clear',
      allowClear: true,
      pollNode: 'poll1',
      x: 170,
      y: 340,
      wires: [[], []],
    }),
  ];
}

describe('browser: Node-RED editor', function () {
  this.timeout(60_000);
  let sim: ZkSimulator;
  let rt: E2eRuntime;
  let browser: Browser;
  let page: Page;
  let errors: PageErrors;
  let dataDir: string;

  before(async function () {
    skipWithoutChromium(this);
    sim = new ZkSimulator({
      host: '127.0.0.1',
      port: 0,
      transports: 'tcp',
      serial: SERIAL,
      users: 8,
      records: 120,
      seed: 421,
    });
    const { port } = await sim.start();
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'punchflow-browser-data-'));
    [rt, browser] = await Promise.all([startRuntime({ flows: editorFlow(port, dataDir) }), launchChromium()]);
    page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    errors = new PageErrors(page);
    await page.goto(`${rt.adminUrl}/`);
    await page.waitForSelector('#red-ui-palette-container-PunchFlow .red-ui-palette-node', { timeout: 30_000 });
    // The deployed flow is drawn and the nodes report their status.
    await page.waitForSelector('[id="live1"] .red-ui-flow-node-status-label', { timeout: 15_000 });
  });

  after(async () => {
    await browser?.close();
    await rt?.stop();
    await sim?.stop();
    if (dataDir) fs.rmSync(dataDir, { recursive: true, force: true });
  });

  async function openEditor(id: string): Promise<void> {
    await page.dblclick(`[id="${id}"] .red-ui-flow-node`);
    await page.waitForSelector('#node-dialog-ok', { state: 'visible' });
    await page.waitForSelector('#node-input-name', { state: 'visible' });
  }

  async function closeEditor(): Promise<void> {
    await page.click('#node-dialog-cancel');
    await page.waitForSelector('#node-dialog-ok', { state: 'detached' });
  }

  /** Types a value the way Node-RED's validation listens for it (change/keyup). */
  async function setField(selector: string, value: string): Promise<void> {
    const input = page.locator(selector);
    await input.fill(value);
    await input.dispatchEvent('change');
  }

  async function isInvalid(selector: string): Promise<boolean> {
    return page.locator(selector).evaluate((el) => el.classList.contains('input-error'));
  }

  /** Sets a bad value, expects it flagged; restores the good one, expects the flag gone. */
  async function expectFlagged(selector: string, bad: string): Promise<void> {
    const good = await page.locator(selector).inputValue();
    assert.equal(await isInvalid(selector), false, `${selector} = ${good} should start valid`);
    await setField(selector, bad);
    assert.equal(await isInvalid(selector), true, `${selector} = ${JSON.stringify(bad)} should be flagged invalid`);
    await setField(selector, good);
    assert.equal(await isInvalid(selector), false, `${selector} = ${good} should be valid again`);
  }

  it(`shows the PunchFlow palette category with ${PALETTE_TYPES.join(', ')}`, async () => {
    const types = await page.$$eval('#red-ui-palette-container-PunchFlow .red-ui-palette-node', (els) =>
      els.map((e) => e.getAttribute('data-palette-type')),
    );
    for (const t of ['zk-dedupe', 'zk-live', 'zk-poll', 'zk-sink'])
      assert.ok(PALETTE_TYPES.includes(t), `${t} registered in package.json`);
    assert.deepEqual([...types].sort(), PALETTE_TYPES);
    // zk-device is a config node: never in the palette.
    assert.equal(await page.locator('.red-ui-palette-node[data-palette-type="zk-device"]').count(), 0);
    assert.equal((await page.locator('#red-ui-palette-header-PunchFlow').innerText()).trim(), 'PunchFlow');
    const labels = await page.$$eval('#red-ui-palette-container-PunchFlow .red-ui-palette-label', (els) =>
      els.map((e) => (e.textContent || '').replace(/\s+/g, ' ').trim()),
    );
    assert.deepEqual(
      [...labels].sort(),
      PALETTE_TYPES.map((t) => t.replace(/-/g, ' ')),
    );
  });

  it('draws the deployed flow with the devices online', async () => {
    for (const id of ['live1', 'poll1', 'dedupe1', 'sink1', ...(HAS_PUSH ? ['push1'] : [])]) {
      assert.equal(await page.locator(`[id="${id}"]`).count(), 1, `${id} drawn`);
    }
    // No node is marked invalid (the red triangle) in a flow built from the shipped examples.
    const invalid = await page.evaluate(() => {
      type EdNode = { id: string; type: string; valid?: boolean; validationErrors?: string[] };
      const RED = (
        window as unknown as {
          RED: { nodes: { eachNode(cb: (n: EdNode) => void): void; eachConfig(cb: (n: EdNode) => void): void } };
        }
      ).RED;
      const bad: string[] = [];
      const check = (n: EdNode) => {
        if (n.valid === false) bad.push(`${n.type} ${n.id}: ${(n.validationErrors || []).join(', ')}`);
      };
      RED.nodes.eachNode(check);
      RED.nodes.eachConfig(check);
      return bad;
    });
    assert.deepEqual(invalid, []);
    await page.waitForFunction(
      () => /online/.test(document.querySelector('[id="live1"] .red-ui-flow-node-status-label')?.textContent || ''),
      null,
      { timeout: 15_000 },
    );
    // For the README: the palette filtered to our nodes, nothing selected.
    await page.locator('#red-ui-palette-search input').pressSequentially('zk');
    await page.locator('.red-ui-palette-node[data-palette-type="inject"]').waitFor({ state: 'hidden' });
    await page.waitForTimeout(600); // the other categories slide shut
    await page.mouse.click(800, 600);
    await screenshot(page, 'editor-flow.png');
    await page.locator('#red-ui-palette-search input').fill('');
    await page.locator('#red-ui-palette-search input').press('Escape');
  });

  it('zk-poll: the dialog opens, offers zk-device in its device field, flags interval -1', async () => {
    await openEditor('poll1');
    const options = await page.$$eval('#node-input-device option', (els) =>
      els.map((o) => [(o as HTMLOptionElement).value, o.textContent]),
    );
    assert.ok(
      options.some(([v, t]) => v === 'dev1' && /Front door/.test(t || '')),
      `device options ${JSON.stringify(options)}`,
    );
    assert.ok(
      options.some(([v]) => v === '_ADD_'),
      'the device field offers "Add new zk-device"',
    );
    await expectFlagged('#node-input-interval', '-1');
    await expectFlagged('#node-input-chunkSize', '0');
    await closeEditor();
  });

  it('zk-live: the dialog opens and flags a zero backoff', async () => {
    await openEditor('live1');
    assert.equal(await page.locator('#node-input-device').inputValue(), 'dev1');
    await expectFlagged('#node-input-backoffInitial', '0');
    await expectFlagged('#node-input-failuresToError', 'abc');
    await closeEditor();
  });

  it('zk-dedupe: the dialog opens and flags retention 0 days', async () => {
    await openEditor('dedupe1');
    await expectFlagged('#node-input-retentionDays', '0');
    await expectFlagged('#node-input-maxKeys', '-5');
    await closeEditor();
  });

  it('zk-sink: the dialog opens and flags a bad table name and batch size', async () => {
    await openEditor('sink1');
    await expectFlagged('#node-input-batchSize', '0');
    await page.selectOption('#node-input-target', 'mysql');
    await page.locator('#node-input-table').dispatchEvent('change');
    await expectFlagged('#node-input-table', 'punches; drop table x');
    await closeEditor();
  });

  it('zk-push: the dialog opens and flags a zero delay and a bad base path', async function () {
    if (!HAS_PUSH) this.skip(); // not registered in package.json (yet)
    await openEditor('push1');
    await expectFlagged('#node-input-delay', '0');
    await expectFlagged('#node-input-basePath', '/iclock?x=1');
    await closeEditor();
  });

  it('zk-command: the dialog offers the zk-poll nodes for the safe clear, shows the fields of the action, flags bad values', async () => {
    await openEditor('cmd1');
    const polls = await page.$$eval('#node-input-pollNode option', (els) =>
      els.map((o) => (o as HTMLOptionElement).value),
    );
    assert.deepEqual(polls, ['', 'poll1']);
    assert.equal(await page.locator('#node-input-pollNode').inputValue(), 'poll1');
    assert.equal(await page.locator('#node-input-allowClear').isChecked(), true);
    assert.equal(await page.locator('#node-input-allowUnlock').isChecked(), false);
    assert.equal(await page.locator('.zk-command-row-unlock').isVisible(), false);
    await page.selectOption('#node-input-action', 'unlock');
    assert.equal(await page.locator('.zk-command-row-unlock').isVisible(), true);
    assert.equal(await page.locator('.zk-command-row-poll').isVisible(), false);
    await expectFlagged('#node-input-unlockSeconds', '61');
    await page.selectOption('#node-input-action', 'syncClock');
    await expectFlagged('#node-input-threshold', '-1');
    await closeEditor();
  });

  it('zk-device: flags port "abc"; Test connection shows the simulated device\'s serial', async () => {
    await openEditor('poll1');
    await page.click('#node-input-btn-device-edit');
    await page.waitForSelector('#node-config-zk-test', { state: 'visible' });
    assert.equal(await page.locator('#node-config-input-host').inputValue(), '127.0.0.1');
    await expectFlagged('#node-config-input-port', 'abc');
    await expectFlagged('#node-config-input-host', 'bad host!');
    await expectFlagged('#node-config-input-stateMap', '{not json');

    await page.click('#node-config-zk-test');
    const result = page.locator('#node-config-zk-test-result');
    await page.waitForFunction(
      (serial) => (document.querySelector('#node-config-zk-test-result')?.textContent || '').includes(serial),
      SERIAL,
      { timeout: 15_000 },
    );
    const text = (await result.innerText()).trim();
    assert.match(text, new RegExp(`${SERIAL}`));
    assert.match(text, /120 \/ /, `record count in ${JSON.stringify(text)}`);
    await result.scrollIntoViewIfNeeded();
    await screenshot(page, 'editor-zk-device-test.png');

    // A device that is not there: the result says so instead of a serial.
    const port = await page.locator('#node-config-input-port').inputValue();
    await setField('#node-config-input-port', '1');
    await page.click('#node-config-zk-test');
    await page.waitForFunction(
      (serial) => {
        const t = document.querySelector('#node-config-zk-test-result')?.textContent || '';
        return t !== '' && !t.includes(serial) && !/testing|running|…/i.test(t);
      },
      SERIAL,
      { timeout: 15_000 },
    );
    const failure = (await result.innerText()).trim();
    assert.match(failure, /127\.0\.0\.1:1\b/, `the failure names the device: ${JSON.stringify(failure)}`);
    await setField('#node-config-input-port', port);

    await page.click('#node-config-dialog-cancel');
    await page.waitForSelector('#node-config-zk-test', { state: 'detached' });
    await closeEditor();
  });

  it('raises no page errors and no console errors; the runtime logs no errors', () => {
    assert.deepEqual(errors.all(), []);
    assert.deepEqual(
      rt.errorsSince(0).map((e) => `${e.type ?? ''} ${e.msg}`),
      [],
    );
  });

  it('saves its screenshots', () => {
    for (const f of ['editor-flow.png', 'editor-zk-device-test.png']) {
      const s = fs.statSync(path.join(SCREENSHOTS, f));
      assert.ok(s.size > 5_000 && s.size <= 250_000, `${f}: ${s.size} bytes`);
    }
  });
});
