// The status page in a real browser. An administrator schedules an outage
// maintenance of backbone-cnaf two days ahead, opens an incident on
// cloudveneto from /admin/status and overrides recas-bari; then anyone,
// signed out, reads /status: the banner, the incident with its update,
// "due to start in 2 days", every component with its 90-day bar; the Atom
// feed says the same. Both pages pass the accessibility check and are
// saved as screenshots.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { baseUrl, checkAccessibility, context, launch, open, screenshot } from './lib/browser.mjs';

let browser;

before(async () => {
  browser = await launch();
});

after(async () => {
  await browser?.close();
});

/** `YYYY-MM-DDTHH:MM` in UTC, as the maintenance form takes it. */
function local(ms) {
  return new Date(ms).toISOString().slice(0, 16);
}

/** Reloads `path` until the watcher's first round has listed components. */
async function openWatched(page, path) {
  for (let i = 0; i < 60; i++) {
    await open(page, path);
    if ((await page.locator('text=No component has been checked yet.').count()) === 0) return;
    await page.waitForTimeout(500);
  }
  assert.fail(`${path} listed no component after 30 s`);
}

test('an administrator runs the status page, and anyone reads it', async () => {
  const ctx = await context(browser);
  const page = await ctx.newPage();
  await open(page, '/admin/providers');
  await page.locator('summary', { hasText: 'Schedule maintenance on backbone-cnaf' }).click();
  const start = Date.now() + 2 * 86_400_000 + 3_600_000;
  await page.locator('#start-backbone-cnaf').fill(local(start));
  await page.locator('#end-backbone-cnaf').fill(local(start + 4 * 3_600_000));
  await page.locator('#reason-backbone-cnaf').fill('storage upgrade');
  await page.locator('#p-backbone-cnaf ~ details form button[type="submit"]', { hasText: 'Schedule' }).first().click();
  await page.waitForURL(/\/admin\/providers$/);

  await openWatched(page, '/admin/status');
  await page.locator('#title').fill('Cloud Veneto refuses new VMs');
  await page.locator('#impact').selectOption('major');
  await page.locator('#body').fill('Creates fail with a quota error; running VMs are fine.');
  await page.locator('#aff-clouds-cloudveneto').selectOption('partial_outage');
  await Promise.all([page.waitForURL(/\/status\/incidents\/[a-z0-9]{12}$/), page.locator('button', { hasText: 'Open the incident' }).click()]);
  assert.equal(await page.locator('h1').innerText(), 'Cloud Veneto refuses new VMs');

  await open(page, '/admin/status');
  await page.locator('#ov-clouds-recas-bari').selectOption('degraded_performance');
  await page.locator('#ov-clouds-recas-bari-note').fill('GPU nodes slow to boot');
  await Promise.all([page.waitForURL(/\/admin\/status$/), page.locator('#ov-clouds-recas-bari ~ button').click()]);
  assert.equal(await page.locator('td', { hasText: 'GPU nodes slow to boot' }).count(), 1);
  await checkAccessibility(page, 'admin-status');
  await screenshot(page, 'admin-status');
  await ctx.close();

  const anyone = await context(browser, { anonymous: true });
  const reader = await anyone.newPage();
  await openWatched(reader, '/status');
  assert.equal(await reader.locator('.banner').innerText(), 'Partial System Outage');
  assert.equal(await reader.locator('#active ~ article h3').innerText(), 'Cloud Veneto refuses new VMs');
  const maintenance = reader.locator('ul.maintenances li', { hasText: 'backbone-cnaf' });
  assert.match(await maintenance.innerText(), /Maintenance of backbone-cnaf: storage upgrade — Outage: due to start in 2 days/);
  assert.ok((await reader.locator('li.component').count()) >= 5, 'the demo federation and the PaaS services');
  assert.equal(await reader.locator('li.component svg.days[role="img"]').count(), await reader.locator('li.component').count());
  const bar = await reader.locator('li.component svg.days').first().boundingBox();
  assert.ok(bar && bar.width > 200, `a 90-day bar is drawn: ${JSON.stringify(bar)}`);
  assert.equal(await reader.locator('li.component', { hasText: 'GPU nodes slow to boot' }).locator('.badge').innerText(), 'Degraded performance');
  // The open incident's state shows on the component it affects.
  assert.equal(await reader.locator('li.component', { hasText: 'cloudveneto' }).locator('.badge').innerText(), 'Partial outage');
  await checkAccessibility(reader, 'status');
  await screenshot(reader, 'status');

  const feed = await reader.request.get(`${baseUrl}/status/feed.atom`);
  assert.equal(feed.status(), 200);
  assert.match(await feed.text(), /<summary>Outage: due to start in 2 days<\/summary>/);
  await anyone.close();
});
