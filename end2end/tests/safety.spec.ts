import { expect, test, type Page } from '@playwright/test';
import { dashboardApi, strictConsole } from './helpers';

// Provisioning safety: the mass-deprovisioning brake holds a burst of deactivations; the admin
// sees the banner on every page, reviews the held changes, applies some and discards the rest
// (with JavaScript, and a decision without it).

const PASSWORD = 'correct horse battery staple';
const SCIM_JSON = 'application/scim+json';
const SHOTS = process.env.ROSTER_SCREENSHOTS;

async function hydrated(page: Page) {
  await expect(page.locator('body')).toHaveAttribute('data-hydrated', 'true', { timeout: 30_000 });
}

test('a burst of deactivations is held: the admin sees the banner, applies part and discards the rest', async ({ page, request, browser }) => {
  const problems = strictConsole(page);
  const stamp = `${Date.now()}${Math.floor(Math.random() * 1e6)}`;
  await page.goto('/sign-up');
  await hydrated(page);
  await page.getByLabel('Organization name').fill(`Brake ${stamp}`);
  await page.getByLabel('Your name').fill('Ada Lovelace');
  await page.getByLabel('Work email').fill(`ada-${stamp}@brake.test`);
  await page.getByLabel('Password', { exact: true }).fill(PASSWORD);
  await page.getByRole('button', { name: 'Create organization' }).click();
  await expect(page).toHaveURL(/\/$/);
  const api = dashboardApi(page);
  await api('scim_enable', { enabled: true });
  const made = await (await api('scim_credential_create', { kind: 'bearer', name: 'Entra ID', expires_in_days: 30 })).json();
  const headers = { Authorization: `Bearer ${made.secret}`, 'Content-Type': SCIM_JSON };

  // The IdP provisions 30 users, then (a wrong assignment scope) deactivates 15 of them, as
  // Entra ID does. The brake lets 10 through and holds 5; every answer is a 200.
  const ids: string[] = [];
  for (let i = 0; i < 30; i++) {
    const r = await request.post(`${made.scim_base_url}/Users`, {
      headers,
      data: { schemas: ['urn:ietf:params:scim:schemas:core:2.0:User'], userName: `person${String(i).padStart(2, '0')}@brake.test`, active: true },
    });
    expect(r.status()).toBe(201);
    ids.push((await r.json()).id);
  }
  for (const id of ids.slice(0, 15)) {
    const r = await request.patch(`${made.scim_base_url}/Users/${id}`, {
      headers,
      data: { schemas: ['urn:ietf:params:scim:api:messages:2.0:PatchOp'], Operations: [{ op: 'Replace', path: 'active', value: 'False' }] },
    });
    expect(r.status()).toBe(200);
  }

  // The banner is on every page, the navigation counts the held changes.
  await page.goto('/users');
  await hydrated(page);
  const banner = page.getByTestId('held-banner');
  await expect(banner).toContainText('Deprovisioning of 5 users is held.');
  await expect(page.getByTestId('held-count')).toHaveText('5');
  if (SHOTS) await page.screenshot({ path: `${SHOTS}/held-banner.png`, fullPage: true });
  await banner.getByRole('link', { name: 'Review held changes' }).click();
  await expect(page).toHaveURL(/\/safety$/);
  await hydrated(page);
  await expect(page.getByTestId('held-banner')).toHaveCount(0);
  await expect(page.getByTestId('held-row')).toHaveCount(5);
  await expect(page.getByTestId('held-changes')).toContainText('5 deprovisioning changes are held.');
  if (SHOTS) await page.screenshot({ path: `${SHOTS}/safety.png`, fullPage: true });

  // Apply two.
  await page.getByRole('checkbox', { name: 'Select person10@brake.test' }).check();
  await page.getByRole('checkbox', { name: 'Select person11@brake.test' }).check();
  await page.getByTestId('held-apply').click();
  await expect(page.getByText('Applied 2 changes.')).toBeVisible();
  await expect(page.getByTestId('held-row')).toHaveCount(3);
  await expect(page.getByTestId('held-count')).toHaveText('3');
  for (const [i, active] of [[10, false], [11, false], [12, true]] as const) {
    const u = await (await request.get(`${made.scim_base_url}/Users/${ids[i]}`, { headers })).json();
    expect(u.active, `person${i}`).toBe(active);
  }

  // Without JavaScript, the form still decides: discard one.
  const context = await browser.newContext({ javaScriptEnabled: false, storageState: await page.context().storageState() });
  const nojs = await context.newPage();
  await nojs.goto('/safety');
  await expect(nojs.getByTestId('held-row')).toHaveCount(3);
  await nojs.getByRole('checkbox', { name: 'Select person12@brake.test' }).check();
  await nojs.getByTestId('held-discard').click();
  await expect(nojs).toHaveURL(/\/safety/);
  await expect(nojs.getByTestId('held-row')).toHaveCount(2);
  await context.close();

  // Discard the rest: the users keep their access, and the page says what that means.
  await page.reload();
  await hydrated(page);
  await expect(page.getByTestId('held-row')).toHaveCount(2);
  await page.getByTestId('held-discard-all').click();
  await expect(page.getByText('Discarded 2 changes: these users keep their access.')).toBeVisible();
  await expect(page.getByTestId('held-none')).toBeVisible();
  await expect(page.getByTestId('held-count')).toHaveCount(0);
  const u = await (await request.get(`${made.scim_base_url}/Users/${ids[14]}`, { headers })).json();
  expect(u.active).toBe(true);

  // The activity log has it all.
  await page.goto('/activity');
  await hydrated(page);
  await expect(page.getByText(/held the deactivation of person14@brake.test/).first()).toBeVisible();
  expect(problems).toEqual([]);
});

test('the SCIM page names Entra ID and explains the mode its job runs in', async ({ page, request }) => {
  const problems = strictConsole(page);
  const stamp = `${Date.now()}${Math.floor(Math.random() * 1e6)}`;
  await page.goto('/sign-up');
  await hydrated(page);
  await page.getByLabel('Organization name').fill(`Contoso ${stamp}`);
  await page.getByLabel('Your name').fill('Ada Lovelace');
  await page.getByLabel('Work email').fill(`ada-${stamp}@contoso.test`);
  await page.getByLabel('Password', { exact: true }).fill(PASSWORD);
  await page.getByRole('button', { name: 'Create organization' }).click();
  await expect(page).toHaveURL(/\/$/);
  const api = dashboardApi(page);
  await api('scim_enable', { enabled: true });
  const made = await (await api('scim_credential_create', { kind: 'bearer', name: 'Entra ID', expires_in_days: 30 })).json();
  const headers = { Authorization: `Bearer ${made.secret}`, 'Content-Type': SCIM_JSON };

  // Entra ID's default dialect (no aadOptscim062020): a user, then its deactivation and an
  // enterprise manager, exactly as Entra ID sends them.
  const a = await (await request.post(`${made.scim_base_url}/Users`, {
    headers,
    data: { schemas: ['urn:ietf:params:scim:schemas:core:2.0:User'], userName: 'alex@contoso.test', active: true },
  })).json();
  const b = await (await request.post(`${made.scim_base_url}/Users`, {
    headers,
    data: { schemas: ['urn:ietf:params:scim:schemas:core:2.0:User'], userName: 'blake@contoso.test', active: true },
  })).json();
  const manager = await request.patch(`${made.scim_base_url}/Users/${a.id}`, {
    headers,
    data: {
      schemas: ['urn:ietf:params:scim:api:messages:2.0:PatchOp'],
      Operations: [{ op: 'Add', path: 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager', value: b.id }],
    },
  });
  expect(manager.status()).toBe(200);
  const off = await request.patch(`${made.scim_base_url}/Users/${b.id}`, {
    headers,
    data: { schemas: ['urn:ietf:params:scim:api:messages:2.0:PatchOp'], Operations: [{ op: 'Replace', path: 'active', value: 'False' }] },
  });
  expect(off.status()).toBe(200);

  await page.getByRole('link', { name: 'SCIM provisioning' }).click();
  await hydrated(page);
  const card = page.getByTestId('diagnostics');
  await expect(card.getByTestId('detected-idp')).toContainText('Microsoft Entra ID');
  await expect(card.getByTestId('entra-mode')).toContainText('Entra ID runs without the aadOptscim062020 flag.');
  await expect(card.getByTestId('entra-flag-url')).toHaveText(`${made.scim_base_url}?aadOptscim062020`);
  await card.scrollIntoViewIfNeeded();
  if (SHOTS) await page.screenshot({ path: `${SHOTS}/diagnostics.png`, fullPage: true });
  expect(problems).toEqual([]);
});
