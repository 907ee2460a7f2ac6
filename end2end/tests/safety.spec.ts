import { expect, test, type Page } from '@playwright/test';
import { dashboardApi, roster, strictConsole } from './helpers';

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

/** Loads `path`, then reloads it twice: each load must hydrate, fit the width, and log nothing. */
async function reloadCleanly(page: Page, path: string, width: number) {
  await page.goto(path);
  for (let i = 0; i < 3; i++) {
    if (i > 0) await page.reload();
    await hydrated(page);
  }
  const { scroll, client } = await page.evaluate(() => ({ scroll: document.documentElement.scrollWidth, client: document.documentElement.clientWidth }));
  expect(scroll, `${path} scrolls sideways at ${width} px`).toBeLessThanOrEqual(client);
  if (SHOTS) await page.screenshot({ path: `${SHOTS}/${width}-${path.replace(/[^a-z0-9]+/gi, '-')}.png`, fullPage: true });
}

test('the pages of provisioning safety hydrate cleanly on every reload, at desktop and phone width', async ({ page, request, browser }) => {
  // 60 full loads of the debug build (each fetches the main wasm and a page module of ~7 MB):
  // 2.1 minutes on the 2-core CI machine beside the hydration spec's busy loops.
  test.setTimeout(300_000);
  const problems = strictConsole(page);
  const stamp = `${Date.now()}${Math.floor(Math.random() * 1e6)}`;
  await page.goto('/sign-up');
  await hydrated(page);
  await page.getByLabel('Organization name').fill(`Reload ${stamp}`);
  await page.getByLabel('Your name').fill('Ada Lovelace');
  await page.getByLabel('Work email').fill(`ada-${stamp}@reload.test`);
  await page.getByLabel('Password', { exact: true }).fill(PASSWORD);
  await page.getByRole('button', { name: 'Create organization' }).click();
  await expect(page).toHaveURL(/\/$/);
  const api = dashboardApi(page);
  const form = (name: string, data: Record<string, string>) =>
    page.request.post(`/api/form/${name}`, { form: data, headers: { 'sec-fetch-site': 'same-origin', Accept: 'application/json' } });
  await api('scim_enable', { enabled: true });
  const made = await (await api('scim_credential_create', { kind: 'bearer', name: 'Entra ID', expires_in_days: 10 })).json();
  const headers = { Authorization: `Bearer ${made.secret}`, 'Content-Type': SCIM_JSON };

  // 12 users, all deactivated at once: 10 go through, 2 are held.
  const ids: string[] = [];
  for (let i = 0; i < 12; i++) {
    const r = await request.post(`${made.scim_base_url}/Users`, {
      headers,
      data: { schemas: ['urn:ietf:params:scim:schemas:core:2.0:User'], userName: `p${i}-${stamp}@reload.test`, active: true },
    });
    ids.push((await r.json()).id);
  }
  for (const id of ids) {
    await request.patch(`${made.scim_base_url}/Users/${id}`, {
      headers,
      data: { schemas: ['urn:ietf:params:scim:api:messages:2.0:PatchOp'], Operations: [{ op: 'Replace', path: 'active', value: 'False' }] },
    });
  }
  // The IdP sends one held deactivation again (as Entra ID repeats its requests): still one held
  // change, shown as asked again.
  await new Promise((r) => setTimeout(r, 5));
  await request.patch(`${made.scim_base_url}/Users/${ids[11]}`, {
    headers,
    data: { schemas: ['urn:ietf:params:scim:api:messages:2.0:PatchOp'], Operations: [{ op: 'Replace', path: 'active', value: 'False' }] },
  });
  // A manual user, adoptable; a group of one seat that the manual user fills; a SCIM user kept out.
  const manual = await (await api('user_create', { input: { user_name: `m-${stamp}@reload.test`, given_name: 'Max', family_name: 'Manual', email: `m-${stamp}@reload.test`, external_id: '', active: true } })).json();
  expect((await form('adopt_set', { user_id: manual, by: 'email' })).status()).toBe(200);
  const group = await (await api('user_group_create', { input: { name: 'Licensed', description: '', role: 'member' } })).json();
  expect((await form('user_group_seats', { group_id: group.id, seat_limit: '1' })).status()).toBe(200);
  expect((await api('user_group_assign', { group_id: group.id, user_ids: [manual] })).status()).toBe(200);
  expect((await api('user_group_assign', { group_id: group.id, user_ids: [ids[0]] })).status()).toBe(400);

  const pages = ['/safety', '/safety?adopt_by=email', '/scim', `/users/${manual}`, `/users/${ids[11]}`, `/users/${ids[0]}`, '/user-groups', `/user-groups/${group.id}`, '/admins'];
  for (const width of [1280, 390]) {
    await page.setViewportSize({ width, height: 900 });
    for (const path of pages) await reloadCleanly(page, path, width);
  }
  // A page whose hydration panicked still sets data-hydrated: the console says so.
  expect(problems, 'console errors or warnings while the pages loaded').toEqual([]);
  // What each shows, once hydrated.
  await page.setViewportSize({ width: 1280, height: 900 });
  await page.goto(`/users/${ids[11]}`);
  await hydrated(page);
  await expect(page.getByTestId('user-held')).toContainText('Deactivate held.');
  await expect(page.getByTestId('user-held')).toContainText('(and again at');
  await page.goto(`/users/${ids[0]}`);
  await hydrated(page);
  await expect(page.getByTestId('user-refused')).toContainText('seat limit of Licensed reached (1 user)');
  await page.goto(`/users/${manual}`);
  await hydrated(page);
  await expect(page.getByTestId('adoptable')).toContainText(`m-${stamp}@reload.test`);
  await page.goto(`/user-groups/${group.id}`);
  await hydrated(page);
  await expect(page.getByTestId('seats')).toHaveText('1 of 1 seats used');
  await expect(page.getByTestId('seats-full')).toBeVisible();
  await page.goto('/scim');
  await hydrated(page);
  await expect(page.getByTestId('credential-expiring')).toContainText('expires in 10 days');
  // The page answers: a client-side navigation from it works.
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: /Safety/ }).click();
  await expect(page.getByRole('heading', { name: 'Provisioning safety', level: 1 })).toBeVisible();
  await expect(page.getByTestId('held-row')).toHaveCount(2);
  await expect(page.getByTestId('held-asked-again')).toHaveCount(1);
  await expect(page.getByTestId('held-asked-again')).toContainText('asked again');

  // The support console's page of the organization.
  const tenant = (await (await api('viewer', {})).json()).tenant.id as string;
  const staffEmail = `staff-${stamp}@roster.test`;
  roster(['staff', 'create', '--email', staffEmail, '--name', 'Sam Support', '--password-stdin'], `${PASSWORD}\n`);
  const context = await browser.newContext();
  const staff = await context.newPage();
  const staffProblems = strictConsole(staff);
  await staff.goto('/sign-in');
  await hydrated(staff);
  await staff.getByLabel('Work email').fill(staffEmail);
  await staff.getByLabel('Password', { exact: true }).fill(PASSWORD);
  await staff.getByRole('button', { name: 'Sign in' }).click();
  await expect(staff).toHaveURL(/\/support$/);
  for (const width of [1280, 390]) {
    await staff.setViewportSize({ width, height: 900 });
    await reloadCleanly(staff, `/support/t/${tenant}`, width);
  }
  await expect(staff.getByTestId('support-held-table')).toBeVisible();
  await expect(staff.getByTestId('support-held-table')).toContainText('asked again');
  await expect(staff.getByTestId('diagnostics')).toBeVisible();
  await context.close();
  expect(staffProblems).toEqual([]);
  expect(problems).toEqual([]);
});
