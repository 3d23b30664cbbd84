// The accounting page in a real browser, signed in as an administrator,
// over records sent through the ingest endpoint as a site would (an A100
// VM on recas-bari and a small VM on cloudveneto in March 2025): the chart
// (an SVG image with a name) and the table of every metric show them, GPU
// hours by model included; the page and its day-by-day view pass the
// accessibility check; at 390 px the page does not scroll sideways, the
// table scrolls in its own box.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { baseUrl, checkAccessibility, context, launch, open, screenshot } from './lib/browser.mjs';

const MARCH_10 = 1741564800; // 2025-03-10 00:00 UTC
const DAY = 86400;

const CLOUD = `APEL-cloud-message: v0.4
VMUUID: e2e-gpu-vm
SiteName: recas-bari
Status: completed
StartTime: ${MARCH_10}
EndTime: ${MARCH_10 + 2 * DAY}
WallDuration: ${2 * DAY}
CpuDuration: ${32 * DAY}
CpuCount: 16
Memory: 131072
Disk: 200
FQAN: /physics/Role=NULL/Capability=NULL
GlobalUserName: alice@nuvola
%%
VMUUID: e2e-small-vm
SiteName: cloudveneto
Status: completed
StartTime: ${MARCH_10}
EndTime: ${MARCH_10 + DAY}
WallDuration: ${DAY}
CpuDuration: ${DAY}
CpuCount: 1
Memory: 2048
Disk: 20
FQAN: /chemistry/Role=NULL/Capability=NULL
GlobalUserName: carol@nuvola
%%
`;

const GPU = {
  Type: 'APEL-accelerator-message',
  Version: '0.1',
  UsageRecords: [
    {
      SiteName: 'recas-bari', AssociatedRecord: 'e2e-gpu-vm', AssociatedRecordType: 'cloud',
      GlobalUserName: 'alice@nuvola', FQAN: '/physics/Role=NULL/Capability=NULL', Count: 1,
      AvailableDuration: 2 * DAY, ActiveDuration: 2 * DAY, MeasurementMonth: 3, MeasurementYear: 2025,
      Type: 'GPU', Model: 'A100',
    },
  ],
};

let browser;
let admin;

async function send(body) {
  const response = await fetch(`${baseUrl}/api/v1/accounting/messages`, {
    method: 'POST',
    headers: { authorization: `Bearer ${process.env.NUVOLA_E2E_ADMIN_TOKEN}` },
    body,
  });
  assert.equal(response.status, 200, await response.text());
}

before(async () => {
  browser = await launch();
  admin = await context(browser);
  await send(CLOUD);
  await send(JSON.stringify(GPU));
});

after(async () => {
  await browser?.close();
});

test('the accounting page charts and tabulates the usage, GPU hours by model, accessibly', async () => {
  const page = await admin.newPage();
  await open(page, '/accounting?from=2025-03&to=2025-03&by=provider&metric=gpu_hours');
  assert.equal(await page.locator('h1').innerText(), 'Accounting');
  const chart = page.locator('svg[role="img"]');
  assert.equal(await chart.count(), 1);
  assert.equal(await chart.locator('title').first().textContent(), 'GPU hours per month');
  const box = await chart.boundingBox();
  assert.ok(box && box.width > 300 && box.height > 50, `chart box ${JSON.stringify(box)}`);
  assert.equal(await page.locator('table thead th', { hasText: 'GPU hours (A100)' }).count(), 1);
  const bari = page.locator('table tbody tr', { hasText: 'recas-bari' });
  assert.match(await bari.innerText(), /768\.0[\s\S]*48\.0/);
  await checkAccessibility(page, 'accounting');
  await screenshot(page, 'accounting');

  await open(page, '/accounting?month=2025-03&by=provider&metric=gpu_hours');
  assert.equal(await page.locator('svg[role="img"] title').first().textContent(), 'GPU hours per day');
  assert.equal(await page.locator('table tbody tr', { hasText: '2025-03-10' }).count(), 2);
  await checkAccessibility(page, 'accounting-daily');
  await screenshot(page, 'accounting-daily');
  await page.close();
});

test('at 390 px the accounting page does not scroll sideways; its table scrolls in its box', async () => {
  const page = await admin.newPage();
  await page.setViewportSize({ width: 390, height: 844 });
  await open(page, '/accounting?from=2025-03&to=2025-03&by=provider');
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  assert.ok(overflow <= 0, `the page is ${overflow} px wider than the screen`);
  const scroller = page.locator('.table-scroll');
  const widths = await scroller.evaluate((e) => [e.scrollWidth, e.clientWidth]);
  assert.ok(widths[0] > widths[1], `the table scrolls in its box: ${widths}`);
  await checkAccessibility(page, 'accounting-390');
  await screenshot(page, 'accounting-390');
  await page.close();
});
