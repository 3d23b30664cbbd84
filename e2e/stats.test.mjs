// The statistics pages in a real browser, signed in as an administrator:
// each page shows its chart (an SVG image with a name) beside a table,
// passes the accessibility check, and is saved as a screenshot; the date
// window works from the keyboard; the CSV downloads.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { checkAccessibility, context, launch, open, screenshot, baseUrl } from './lib/browser.mjs';

const FIGURES = [
  'active-by-group',
  'by-service',
  'created-per-day',
  'created-per-month',
  'lifetimes',
  'groups-per-month',
  'attempts-by-provider',
];

let browser;
let admin;

before(async () => {
  browser = await launch();
  admin = await context(browser);
});

after(async () => {
  await browser?.close();
});

test('the statistics index links every figure and its CSV', async () => {
  const page = await admin.newPage();
  await open(page, '/stats');
  assert.equal(await page.locator('h1').innerText(), 'Statistics');
  for (const slug of FIGURES) {
    assert.equal(await page.locator(`a[href^="/stats/${slug}?"], a[href="/stats/${slug}"]`).count(), 1, slug);
    assert.equal(await page.locator(`a[href^="/stats/${slug}.csv"]`).count(), 1, `${slug} CSV`);
  }
  await checkAccessibility(page, 'stats-index');
  await screenshot(page, 'stats-index');
  await page.close();
});

for (const slug of FIGURES) {
  test(`statistics page ${slug}: a named chart beside its table, accessible`, async () => {
    const page = await admin.newPage();
    await open(page, `/stats/${slug}`);
    const title = await page.locator('h1').innerText();
    const chart = page.locator('svg[role="img"]');
    assert.equal(await chart.count(), 1);
    assert.equal(await chart.locator('title').first().textContent(), title);
    // The browser drew bars or a line: the chart has a size.
    const box = await chart.boundingBox();
    assert.ok(box && box.width > 300 && box.height > 50, `chart box ${JSON.stringify(box)}`);
    const rows = await page.locator('table tbody tr').count();
    assert.ok(rows > 0, 'the table has rows');
    assert.equal(await page.locator('table tbody td', { hasText: 'No data in this period.' }).count(), 0, 'data shown');
    await checkAccessibility(page, `stats-${slug}`);
    await screenshot(page, `stats-${slug}`);
    await page.close();
  });
}

test('the date window is set from the keyboard and narrows the figures', async () => {
  const page = await admin.newPage();
  await open(page, '/stats/created-per-day');
  await page.locator('#from').focus();
  await page.keyboard.type('01022026');
  await page.locator('#to').focus();
  await page.keyboard.type('02152026');
  // Tab to the button (past the date's own fields) and press it, as a
  // keyboard user would.
  for (let i = 0; i < 6 && (await page.evaluate(() => document.activeElement?.tagName)) !== 'BUTTON'; i++) {
    await page.keyboard.press('Tab');
  }
  assert.equal(await page.evaluate(() => document.activeElement?.textContent), 'Show');
  await Promise.all([page.waitForURL(/from=2026-01-02&to=2026-02-15/), page.keyboard.press('Enter')]);
  assert.equal(await page.locator('table tbody tr').count(), 45);
  await screenshot(page, 'stats-created-per-day-window');
  await page.close();
});

test('the skip link is the first stop and moves focus to the content', async () => {
  const page = await admin.newPage();
  await open(page, '/stats/lifetimes');
  await page.keyboard.press('Tab');
  assert.equal(await page.evaluate(() => document.activeElement?.textContent), 'Skip to content');
  await page.keyboard.press('Enter');
  assert.equal(await page.evaluate(() => document.activeElement?.id), 'main');
  await page.close();
});

test('a CSV downloads with its file name', async () => {
  const page = await admin.newPage();
  await open(page, '/stats/by-service');
  const [download] = await Promise.all([page.waitForEvent('download'), page.getByText('Download CSV').click()]);
  assert.match(download.suggestedFilename(), /^nuvola-by-service-\d{4}-\d{2}-\d{2}-to-\d{4}-\d{2}-\d{2}\.csv$/);
  const response = await admin.request.get(`${baseUrl}/stats/by-service.csv`);
  assert.equal(response.headers()['content-type'], 'text/csv; charset=utf-8');
  const lines = (await response.text()).trim().split('\r\n');
  assert.equal(lines[0], 'Service,Deployments,Share');
  assert.ok(lines.length > 2, 'several services');
  await page.close();
});

test('an unknown figure gets the error page, accessible too', async () => {
  const page = await admin.newPage();
  await open(page, '/stats/no-such-figure', 404);
  assert.match(await page.locator('main').innerText(), /no statistic called/);
  await checkAccessibility(page, 'error-not-found');
  await screenshot(page, 'error-not-found');
  await page.close();
});

test('the accessibility check fails a page with serious violations', async () => {
  const page = await admin.newPage();
  // An image with no text alternative and a field with no label.
  await page.setContent('<!doctype html><html lang="en"><title>t</title><main><img src="x.png"><input></main></html>');
  await assert.rejects(checkAccessibility(page, 'harness-self-check'), /image-alt[\s\S]*label|label[\s\S]*image-alt/);
  await page.close();
});
