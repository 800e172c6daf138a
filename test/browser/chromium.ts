/**
 * Debian's headless Chromium driven by playwright-core. No browser download:
 * the system binary (/usr/bin/chromium, or CHROMIUM_PATH) with the flags that work on our machines.
 *
 * Without a Chromium the browser suites skip with a reason, except under CI=true, where a missing
 * Chromium is a failure (CI installs it).
 */
import * as fs from 'fs';
import { chromium, Browser, Page, ConsoleMessage } from 'playwright-core';

export const CHROMIUM_PATH = process.env.CHROMIUM_PATH || '/usr/bin/chromium';

const ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

function isCi(): boolean {
  const ci = (process.env.CI || '').toLowerCase();
  return ci !== '' && ci !== '0' && ci !== 'false';
}

/**
 * Why the browser tests cannot run here, or null when they can. Throws under CI, where a missing
 * Chromium must fail the run rather than skip it.
 */
export function chromiumMissing(): string | null {
  if (fs.existsSync(CHROMIUM_PATH)) return null;
  const reason = `no Chromium at ${CHROMIUM_PATH} (apt-get install chromium, or set CHROMIUM_PATH)`;
  if (isCi()) throw new Error(`browser tests: ${reason}; CI must run them`);
  return reason;
}

/**
 * For a suite's before(): skips the suite (with the reason in the title) when Chromium is missing.
 * Call as `before(function () { skipWithoutChromium(this); })`.
 */
export function skipWithoutChromium(ctx: Mocha.Context): void {
  const reason = chromiumMissing();
  if (reason) {
    // eslint-disable-next-line no-console
    console.log(`      skipped: ${reason}`);
    ctx.skip();
  }
}

/**
 * Headless Chromium. Playwright gives every launch a fresh, empty profile (its own temporary
 * --user-data-dir), removed on close.
 */
export async function launchChromium(): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM_PATH, headless: true, args: ARGS, timeout: 30_000 });
}

/**
 * Console messages we accept: the browser's own favicon/manifest fetches, and two of
 * node-red-dashboard 3's own: "SideNav 'left' is not available" with a single tab, and the 404 of its
 * `loading.html` placeholder (ng-include of a file its 3.6.6 package does not ship). Page errors are never
 * accepted.
 */
const HARMLESS = [
  /favicon\.ico/i,
  /manifest\.json/i,
  /SideNav 'left' is not available/,
  /404 \(Not Found\) \(http:\/\/127\.0\.0\.1:\d+\/ui\/loading\.html\)/,
];

/** Collects console errors and uncaught page errors of one page. */
export class PageErrors {
  readonly console: string[] = [];
  readonly page: string[] = [];

  constructor(p: Page) {
    p.on('console', (m: ConsoleMessage) => {
      if (m.type() !== 'error') return;
      const loc = m.location();
      const text = `${m.text()}${loc?.url ? ` (${loc.url})` : ''}`;
      if (HARMLESS.some((re) => re.test(text))) return;
      this.console.push(text);
    });
    p.on('pageerror', (err: Error) => this.page.push(err.stack || err.message));
  }

  /** Everything collected, one line each: an empty list is a clean page. */
  all(): string[] {
    return [...this.page.map((e) => `pageerror: ${e}`), ...this.console.map((e) => `console.error: ${e}`)];
  }
}
