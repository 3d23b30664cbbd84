// A user's whole journey in a real browser: sign in (the embedded issuer's
// demo account, and the real OIDC provider's authorization code flow),
// deploy Jupyter from its form after previewing the placement, watch it
// become ready without reloading, open its link, delete it; an
// administrator schedules maintenance. Every page passes the accessibility
// check and is saved as a screenshot.

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

/** Waits until the status badge reads `status` (the page refreshes itself). */
async function waitForStatus(page, status, timeout = 60_000) {
  await page.locator('dd .badge', { hasText: status }).waitFor({ timeout });
}

test('a new user signs in, deploys Jupyter, opens it and deletes it', async () => {
  const ctx = await context(browser, { anonymous: true });
  const page = await ctx.newPage();
  page.on('dialog', (dialog) => dialog.accept());

  // The catalogue is public; deploying asks to sign in first.
  await open(page, '/');
  await checkAccessibility(page, 'catalogue-anonymous');
  await page.getByRole('link', { name: 'Deploy Jupyter with persistent storage' }).click();
  await page.waitForURL(/\/login\?next=/);
  await checkAccessibility(page, 'login');
  await screenshot(page, 'login');

  // The demo account, typed in as a person would.
  await page.getByLabel('User name').fill('demo');
  await page.getByLabel('Password').fill(process.env.NUVOLA_E2E_DEMO_PASSWORD);
  await page.getByLabel('Password').press('Enter');
  await page.waitForURL(/\/deploy\/jupyter-persistent$/);
  assert.match(await page.locator('h1').innerText(), /Deploy Jupyter with persistent storage/);
  await checkAccessibility(page, 'deploy-form');
  await screenshot(page, 'deploy-form');

  // A value out of range: the browser refuses it before the server sees it.
  await page.getByLabel('Num cpus').fill('64');
  await page.getByRole('button', { name: 'Deploy', exact: true }).click();
  assert.equal(await page.locator('#in-num_cpus').evaluate((el) => el.validity.rangeOverflow), true);
  assert.match(page.url(), /\/deploy\/jupyter-persistent$/);

  // Preview the placement, then deploy.
  await page.getByLabel('Num cpus').fill('2');
  await page.getByLabel('Description').fill('browser journey');
  await page.getByRole('button', { name: 'Preview placement' }).click();
  await page.locator('#plan-title').waitFor();
  assert.ok((await page.locator('table .badge', { hasText: 'fits' }).count()) > 0, 'some provider fits');
  await checkAccessibility(page, 'placement-preview');
  await screenshot(page, 'placement-preview');
  await page.getByRole('button', { name: 'Deploy', exact: true }).click();
  await page.waitForURL(/\/deployments\/[0-9a-f-]{36}$/);
  const details = page.url();

  // The page follows the deployment until it is ready, without a reload.
  await waitForStatus(page, 'CREATE_COMPLETE');
  assert.equal(page.url(), details);
  const link = page.locator('a', { hasText: /^http:\/\/[0-9.]+:8000$/ });
  assert.equal(await link.count(), 1, 'the Jupyter URL is a link');
  // The actions and resources followed too: updating inputs is offered now.
  assert.equal(await page.locator('summary', { hasText: 'Update inputs' }).count(), 1);
  assert.equal(await page.locator('td', { hasText: /^(BUILD|creating)$/ }).count(), 0, 'resources settled');
  // The demo sites fail a few creates on purpose: earlier attempts, if
  // any, failed over; the last one is ready.
  const attempts = page.locator('ol.timeline li');
  const tried = await attempts.count();
  assert.ok(tried >= 1, 'an attempt is shown');
  for (let i = 0; i < tried - 1; i++) {
    assert.match(await attempts.nth(i).innerText(), new RegExp(`Attempt ${i + 1} on [a-z-]+: failed`));
  }
  assert.match(await attempts.nth(tried - 1).innerText(), new RegExp(`Attempt ${tried} on [a-z-]+: ready`));
  await checkAccessibility(page, 'deployment-ready');
  await screenshot(page, 'deployment-ready');

  // It is in the list.
  await open(page, '/deployments');
  assert.equal(await page.getByRole('link', { name: 'browser journey' }).count(), 1);
  await checkAccessibility(page, 'deployments');
  await screenshot(page, 'deployments');

  // Delete it (the confirmation is accepted) and watch it go.
  await page.getByRole('link', { name: 'browser journey' }).click();
  await page.getByRole('button', { name: 'Delete' }).click();
  await waitForStatus(page, 'DELETE_COMPLETE');
  await screenshot(page, 'deployment-deleted');

  // Requests and the policy page are there for every user.
  await open(page, '/requests');
  await checkAccessibility(page, 'requests');
  await open(page, '/policy');
  await checkAccessibility(page, 'policy');

  // Signing out ends the session.
  await page.getByRole('button', { name: 'Sign out' }).click();
  await page.waitForURL(/\/login$/);
  await open(page, '/deployments');
  assert.match(page.url(), /\/login\?next=/);
  await ctx.close();
});

test('a Kubernetes cluster: its admin token is a password, checked, and never shown back', async () => {
  const ctx = await context(browser);
  const page = await ctx.newPage();
  page.on('dialog', (dialog) => dialog.accept());
  await open(page, '/deploy/kubernetes');
  const token = page.locator('#in-admin_token');
  assert.equal(await token.getAttribute('type'), 'password');
  assert.equal(await token.evaluate((el) => el.required), true);
  await checkAccessibility(page, 'deploy-kubernetes');

  // The placement preview does not wait for the token: it changes nothing of it.
  await page.getByRole('button', { name: 'Preview placement' }).click();
  await page.locator('#plan-title').waitFor();
  assert.ok((await page.locator('table .badge', { hasText: 'fits' }).count()) > 0, 'some provider fits');

  // Too short: the server says which input and why, and keeps the others.
  await page.getByLabel('Workers').fill('3');
  await token.fill('short');
  await page.getByRole('button', { name: 'Deploy', exact: true }).click();
  await page.locator('#in-admin_token[aria-invalid="true"]').waitFor();
  assert.equal(await page.getByLabel('Workers').inputValue(), '3');
  assert.equal(await token.inputValue(), '', 'a secret is not written back into the page');

  const secret = 'e2e-token-0123456789abcdef';
  await token.fill(secret);
  await page.getByRole('button', { name: 'Deploy', exact: true }).click();
  await page.waitForURL(/\/deployments\/[0-9a-f-]{36}$/);
  await waitForStatus(page, 'CREATE_COMPLETE');
  assert.equal(await page.locator('ul.plain li').count(), 3, 'one private address per worker, as a list');
  assert.ok(!(await page.content()).includes(secret), 'the token is nowhere in the page');
  await checkAccessibility(page, 'deployment-kubernetes');
  await screenshot(page, 'deployment-kubernetes');
  await page.getByRole('button', { name: 'Delete' }).click();
  await waitForStatus(page, 'DELETE_COMPLETE');
  await ctx.close();
});

test('sign-in through the real OIDC provider (authorization code + PKCE)', { skip: !process.env.NUVOLA_E2E_OIDC }, async () => {
  const ctx = await context(browser, { anonymous: true });
  const page = await ctx.newPage();
  await open(page, '/login');
  await page.getByRole('link', { name: 'Sign in with Test IAM' }).click();
  // The provider's own pages: sign in, then consent.
  await page.waitForURL((url) => url.href.startsWith(process.env.NUVOLA_E2E_OIDC));
  await screenshot(page, 'oidc-provider-login');
  await page.locator('input[name="login"]').fill('alice');
  await page.locator('input[name="password"]').fill('any');
  await page.locator('button[type="submit"]').click();
  for (let i = 0; i < 3 && !page.url().startsWith(baseUrl); i++) {
    await page.locator('button[type="submit"]').click(); // consent
    await page.waitForLoadState('load');
  }
  await page.waitForURL((url) => url.href.startsWith(baseUrl));
  assert.equal(await page.getByRole('button', { name: 'Sign out' }).count(), 1);
  assert.match(await page.locator('.who').innerText(), /alice/);
  assert.equal(await page.locator('#active-group option[value="physics"]').count(), 1, 'groups from the token');
  await checkAccessibility(page, 'catalogue-signed-in');
  await screenshot(page, 'catalogue-signed-in');
  await ctx.close();
});

test('an administrator puts a provider in maintenance', async () => {
  const ctx = await context(browser);
  const page = await ctx.newPage();
  await open(page, '/admin/providers');
  await checkAccessibility(page, 'admin-providers');
  await page.locator('summary', { hasText: 'Schedule maintenance on recas-bari' }).click();
  await page.locator('#start-recas-bari').fill('2030-01-01T08:00');
  await page.locator('#end-recas-bari').fill('2030-01-01T18:00');
  await page.locator('#reason-recas-bari').fill('GPU firmware');
  await page.locator('#p-recas-bari ~ details form button[type="submit"]', { hasText: 'Schedule' }).first().click();
  await page.waitForURL(/\/admin\/providers$/);
  assert.equal(await page.locator('li', { hasText: '2030-01-01 08:00 – 2030-01-01 18:00 UTC (outage): GPU firmware' }).count(), 1);
  await screenshot(page, 'admin-providers');
  for (const [path, name] of [
    ['/admin/deployments', 'admin-deployments'],
    ['/admin/groups', 'admin-groups'],
    ['/admin/audit', 'admin-audit'],
  ]) {
    await open(page, path);
    await checkAccessibility(page, name);
    await screenshot(page, name);
  }
  await ctx.close();
});
