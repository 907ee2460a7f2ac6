import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { expect, test, type Page } from '@playwright/test';
import { strictConsole } from './helpers';

// Integrations: an admin creates an API key (shown once) and reads the events API with it, adds
// a webhook endpoint, sends a test event, sees the deliveries, resends one; without JavaScript
// the forms still work; at phone width the page fits.

const PASSWORD = 'correct horse battery staple';
const SHOTS = process.env.ROSTER_SCREENSHOTS;

async function hydrated(page: Page) {
  await expect(page.locator('body')).toHaveAttribute('data-hydrated', 'true', { timeout: 30_000 });
}

type Got = { type: string; id: string; signature: string };

/** A webhook receiver on loopback that answers 200 and records what it got. */
async function receiver(): Promise<{ url: string; got: Got[]; close: () => void }> {
  const got: Got[] = [];
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      try {
        const e = JSON.parse(body);
        got.push({ type: e.type, id: e.id, signature: String(req.headers['roster-signature'] ?? '') });
      } catch {
        got.push({ type: 'unparsable', id: '', signature: '' });
      }
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end('received <b>ok</b>');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return { url: `http://127.0.0.1:${port}/hooks/roster`, got, close: () => server.close() };
}

async function signUp(page: Page, stamp: string) {
  await page.goto('/sign-up');
  await hydrated(page);
  await page.getByLabel('Organization name').fill(`Integrations ${stamp}`);
  await page.getByLabel('Your name').fill('Grace Hopper');
  await page.getByLabel('Work email').fill(`grace-${stamp}@integrations.test`);
  await page.getByLabel('Password', { exact: true }).fill(PASSWORD);
  await page.getByRole('button', { name: 'Create organization' }).click();
  await expect(page).toHaveURL(/\/$/);
}

test('an admin creates an API key and a webhook endpoint, sends a test event, sees and resends deliveries', async ({ page, request, browser }) => {
  const problems = strictConsole(page);
  const stamp = `${Date.now()}${Math.floor(Math.random() * 1e6)}`;
  const hook = await receiver();
  await signUp(page, stamp);

  await page.getByRole('link', { name: 'Integrations' }).click();
  await expect(page).toHaveURL(/\/integrations$/);
  await hydrated(page);
  await expect(page.getByTestId('no-keys')).toBeVisible();
  await expect(page.getByTestId('no-endpoints')).toBeVisible();

  // An API key, shown once; it reads the events API (a name with markup stays text).
  await page.getByTestId('key-name').fill('<script>alert(1)</script> Billing');
  await page.getByTestId('create-key').click();
  const secretBox = page.getByTestId('new-integration-secret');
  await expect(secretBox).toBeVisible();
  const key = (await page.getByTestId('integration-secret').textContent())!.trim();
  expect(key).toMatch(/^rk_/);
  await expect(page.getByTestId('key-row')).toHaveCount(1);
  await expect(page.getByTestId('key-row')).toContainText('<script>alert(1)</script> Billing');
  await page.getByTestId('integration-secret-stored').click();
  await expect(secretBox).toHaveCount(0);
  const apiUrl = (await page.getByTestId('api-url').textContent())!.trim();
  const events = await request.get(`${apiUrl}/events`, { headers: { Authorization: `Bearer ${key}` } });
  expect(events.status()).toBe(200);
  expect((await events.json()).data).toEqual([]);
  expect((await request.get(`${apiUrl}/events`)).status()).toBe(401);

  // A webhook endpoint for every event; its secret is shown once.
  await page.getByTestId('hook-url').fill(hook.url);
  await page.getByTestId('hook-description').fill('Billing service');
  await page.getByTestId('create-endpoint').click();
  await expect(page.getByTestId('new-integration-secret')).toContainText('Signing secret');
  const secret = (await page.getByTestId('integration-secret').textContent())!.trim();
  expect(secret).toMatch(/^whsec_/);
  await page.getByTestId('integration-secret-stored').click();
  const endpoint = page.getByTestId('endpoint');
  await expect(endpoint).toHaveCount(1);
  await expect(endpoint.getByTestId('endpoint-status')).toHaveText('Active');
  await expect(endpoint.getByTestId('no-deliveries')).toBeVisible();

  // A test event arrives, signed, and the delivery is listed.
  await endpoint.getByTestId('endpoint-test').click();
  await expect(page.getByText(/The test event was delivered \(HTTP 200/)).toBeVisible();
  expect(hook.got.map((g) => g.type)).toEqual(['webhook.test']);
  expect(hook.got[0].signature).toMatch(/^t=\d+,v1=[0-9a-f]{64}$/);
  await expect(endpoint.getByTestId('delivery')).toHaveCount(1);
  await expect(endpoint.getByTestId('delivery').first()).toContainText('webhook.test');
  await expect(endpoint.getByTestId('delivery').first()).toContainText('received <b>ok</b>');

  // A change in the organization (an API key revoked is not an event; a new user group
  // assignment is): activate SCIM, which is a connection event, and see it delivered.
  const csrf = { 'sec-fetch-site': 'same-origin', Accept: 'application/json' };
  expect((await page.request.post('/api/form/scim_enable', { form: { enabled: 'true' }, headers: csrf })).status()).toBe(200);
  await expect.poll(() => hook.got.map((g) => g.type), { timeout: 20_000 }).toContain('connection.activated');
  // The receiver has the event before Roster has read its answer and recorded the delivery (a
  // reload at once, on a busy machine, listed only the test event): reload until it is listed.
  await expect
    .poll(
      async () => {
        await page.reload();
        await hydrated(page);
        return endpoint.getByTestId('delivery').count();
      },
      { timeout: 20_000 },
    )
    .toBe(2);
  await expect(endpoint.getByTestId('delivery').first()).toContainText('connection.activated');
  if (SHOTS) await page.screenshot({ path: `${SHOTS}/integrations.png`, fullPage: true });

  // Resend it: the same event arrives again.
  await endpoint.getByTestId('delivery').first().getByTestId('resend').click();
  await expect(page.getByText(/The event was delivered \(HTTP 200/)).toBeVisible();
  const activated = hook.got.filter((g) => g.type === 'connection.activated');
  expect(activated).toHaveLength(2);
  expect(activated[0].id).toBe(activated[1].id);
  await expect(endpoint.getByTestId('delivery')).toHaveCount(3);

  // Without JavaScript: revoke the key, turn the endpoint off.
  const context = await browser.newContext({ javaScriptEnabled: false, storageState: await page.context().storageState() });
  const nojs = await context.newPage();
  await nojs.goto('/integrations');
  await nojs.getByTestId('revoke-key').click();
  await nojs.getByTestId('confirm-revoke-key').click();
  await expect(nojs).toHaveURL(/\/integrations/);
  await expect(nojs.getByTestId('key-row')).toContainText('Revoked');
  await nojs.getByTestId('endpoint-disable').click();
  await expect(nojs.getByTestId('endpoint-status')).toHaveText('Off');
  // And an API key made without JavaScript is shown once on the page it comes back to.
  await nojs.getByTestId('key-name').fill('Made without JavaScript');
  await nojs.getByTestId('create-key').click();
  await expect(nojs.getByTestId('new-integration-secret')).toContainText('Made without JavaScript');
  await nojs.goto('/integrations');
  await expect(nojs.getByTestId('new-integration-secret')).toHaveCount(0);
  await context.close();
  expect((await request.get(`${apiUrl}/events`, { headers: { Authorization: `Bearer ${key}` } })).status()).toBe(401);

  // Deleting the endpoint asks first.
  await page.reload();
  await hydrated(page);
  await endpoint.getByTestId('endpoint-delete').click();
  await endpoint.getByTestId('endpoint-delete-confirm').click();
  await expect(page.getByTestId('no-endpoints')).toBeVisible();

  // At phone width the page fits its width.
  await page.setViewportSize({ width: 390, height: 844 });
  await page.reload();
  await hydrated(page);
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
  expect(overflow).toBeLessThanOrEqual(0);
  if (SHOTS) await page.screenshot({ path: `${SHOTS}/integrations-phone.png`, fullPage: true });
  hook.close();
  expect(problems).toEqual([]);
});
