// What every dashboard browser test shares: the server under test, a
// headless Debian chromium driven by playwright-core, a signed-in browser
// context, an axe-core accessibility check and full-page screenshots.
//
// Read from the environment (crates/nuvola/tests/browser.rs sets them):
//   NUVOLA_E2E_URL           base URL of the running `nuvola serve`
//   NUVOLA_E2E_COOKIE        `name=value` of an administrator's session
//   NUVOLA_E2E_CHROMIUM      the browser (default /usr/bin/chromium)
//   NUVOLA_E2E_NODE_MODULES  where playwright-core and axe-core are installed
//   NUVOLA_E2E_ARTIFACTS     folder for screenshots and accessibility reports

import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';

function need(name) {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set: run these tests through \`cargo test -p nuvola --test browser\``);
  return value;
}

export const baseUrl = need('NUVOLA_E2E_URL').replace(/\/$/, '');
const modules = need('NUVOLA_E2E_NODE_MODULES');
const artifacts = process.env.NUVOLA_E2E_ARTIFACTS || path.resolve('e2e-artifacts');
mkdirSync(artifacts, { recursive: true });

// The packages live in a cache folder outside the work tree (.ci/browser.sh).
const require = createRequire(path.join(modules, 'noop.js'));
const { chromium } = require('playwright-core');
const axeSource = readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');

/** A headless chromium, sandbox off (CI runs as root), no background traffic. */
export async function launch() {
  return chromium.launch({
    executablePath: process.env.NUVOLA_E2E_CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-background-networking',
      '--disable-gpu',
      '--disable-quic',
      '--disable-component-update',
      '--disable-default-apps',
      '--disable-sync',
      '--no-first-run',
      '--disable-dev-shm-usage',
    ],
  });
}

/** A browser context; signed in as the test's administrator unless `anonymous`. */
export async function context(browser, { anonymous = false } = {}) {
  const ctx = await browser.newContext({ viewport: { width: 1280, height: 900 }, locale: 'en-US', timezoneId: 'UTC' });
  if (!anonymous) {
    const cookie = need('NUVOLA_E2E_COOKIE');
    const cut = cookie.indexOf('=');
    await ctx.addCookies([
      { name: cookie.slice(0, cut), value: cookie.slice(cut + 1), url: baseUrl, httpOnly: true, sameSite: 'Lax' },
    ]);
  }
  return ctx;
}

/** Opens `pathname` and checks the answer's status. */
export async function open(page, pathname, status = 200) {
  const response = await page.goto(baseUrl + pathname, { waitUntil: 'load' });
  assert.ok(response, `no response for ${pathname}`);
  assert.equal(response.status(), status, `${pathname} answered ${response.status()}`);
  return response;
}

function fileName(name) {
  return name.replace(/[^a-z0-9._-]+/gi, '-').replace(/^-|-$/g, '');
}

/** Saves a full-page screenshot as `<artifacts>/<name>.png`. */
export async function screenshot(page, name) {
  const file = path.join(artifacts, `${fileName(name)}.png`);
  await page.screenshot({ path: file, fullPage: true });
  return file;
}

/**
 * Runs axe-core (WCAG 2.0/2.1 A and AA rules, plus best practices) in the
 * page; writes the whole report next to the screenshots and fails on any
 * serious or critical violation, listing each with its elements.
 */
export async function checkAccessibility(page, name) {
  await page.evaluate(axeSource);
  const results = await page.evaluate(async () =>
    // eslint-disable-next-line no-undef
    axe.run(document, { runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice'] } }),
  );
  writeFileSync(path.join(artifacts, `${fileName(name)}.axe.json`), JSON.stringify(results.violations, null, 2));
  const blocking = results.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  const report = blocking
    .map((v) => `${v.impact}: ${v.id} (${v.help}) at ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`)
    .join('\n');
  assert.equal(blocking.length, 0, `accessibility violations on ${name}:\n${report}`);
  return results;
}
