import { expect, test, type Page } from '@playwright/test';
import { roster } from './helpers';

const PASSWORD = 'correct horse battery staple';
const SCIM_JSON = 'application/scim+json';
const SHOTS = process.env.ROSTER_SCREENSHOTS;

async function shot(page: Page, name: string) {
  if (SHOTS) await page.screenshot({ path: `${SHOTS}/${name}.png`, fullPage: true });
}

/** An organization with SCIM on and a token, made on the command line: [tenant, base URL, token]. */
function organization(name: string): [string, string, string] {
  const suffix = `${Date.now()}${Math.floor(Math.random() * 1e6)}`;
  const tenant = JSON.parse(
    roster(['tenant', 'create', '--name', name, '--admin-email', `admin-${suffix}@example.test`, '--admin-password-stdin', '--json'], `${PASSWORD}\n`),
  ).tenant_id as string;
  roster(['scim', 'enable', '--tenant', tenant]);
  const made = JSON.parse(
    roster(['scim', 'token', 'create', '--tenant', tenant, '--name', 'Okta', '--json', '--public-url', test.info().project.use.baseURL!]),
  );
  return [tenant, made.scim_base_url, made.token];
}

test('support staff find a failing organization, open its activity and read why the last SCIM request failed', async ({
  page,
  request,
}) => {
  const stamp = Date.now();
  const failing = `Umbrella ${stamp}`;
  const [, badBase, badToken] = organization(failing);
  const [, goodBase, goodToken] = organization(`Wayne ${stamp}`);
  const headers = (token: string) => ({ Authorization: `Bearer ${token}`, 'Content-Type': SCIM_JSON });
  const user = (userName: string) => ({ schemas: ['urn:ietf:params:scim:schemas:core:2.0:User'], userName, active: true });
  expect((await request.post(`${goodBase}/Users`, { headers: headers(goodToken), data: user(`bruce-${stamp}@wayne.test`) })).status()).toBe(201);
  const alice = await request.post(`${badBase}/Users`, { headers: headers(badToken), data: user(`alice-${stamp}@umbrella.test`) });
  expect(alice.status()).toBe(201);
  const group = await request.post(`${badBase}/Groups`, {
    headers: headers(badToken),
    data: { schemas: ['urn:ietf:params:scim:schemas:core:2.0:Group'], displayName: 'Researchers', members: [{ value: (await alice.json()).id }] },
  });
  expect(group.status()).toBe(201);
  // The IdP sends a user without userName: refused, and the reason is recorded.
  const bad = await request.post(`${badBase}/Users`, {
    headers: headers(badToken),
    data: { schemas: ['urn:ietf:params:scim:schemas:core:2.0:User'], name: { givenName: 'Nemo' }, password: 'Hunter2-Hunter2' },
  });
  expect(bad.status()).toBe(400);

  const email = `staff-${stamp}@roster.test`;
  roster(['staff', 'create', '--email', email, '--name', 'Sam Support', '--password-stdin'], `${PASSWORD}\n`);

  // Staff sign in on the usual page and land in the console.
  await page.goto('/sign-in');
  await expect(page.locator('body')).toHaveAttribute('data-hydrated', 'true');
  await page.getByLabel('Work email').fill(email);
  await page.getByLabel('Password', { exact: true }).fill(PASSWORD);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await expect(page).toHaveURL(/\/support$/);
  await expect(page.getByTestId('read-only')).toBeVisible();
  await expect(page.locator('body')).toHaveAttribute('data-hydrated', 'true');

  // The failing organization, found by name; its row says so.
  await page.getByPlaceholder('Organization name or tenant key').fill(failing);
  await page.getByRole('button', { name: 'Search', exact: true }).click();
  const row = page.getByTestId('tenant-row');
  await expect(row).toHaveCount(1);
  await expect(row.getByTestId('tenant-health')).toHaveText('Failing');
  await page.getByPlaceholder('Organization name or tenant key').fill('');
  await page.getByRole('button', { name: 'Search', exact: true }).click();
  await expect(page.getByTestId('tenant-row').filter({ hasText: `Wayne ${stamp}` }).getByTestId('tenant-health')).toHaveText('Healthy');
  await shot(page, 'support-overview');

  // A user search across organizations finds Alice in the failing one.
  await page.getByPlaceholder('Exact userName, email address or externalId').fill(`ALICE-${stamp}@umbrella.test`);
  await page.getByRole('button', { name: 'Find' }).click();
  await expect(page.getByTestId('user-hits')).toContainText(failing);

  // Alice's page: why she has no role (no user group, in IdP group Researchers), her timeline.
  await page.getByRole('link', { name: `alice-${stamp}@umbrella.test` }).click();
  await expect(page.getByTestId('user-title')).toHaveText(`alice-${stamp}@umbrella.test`);
  await expect(page.getByTestId('effective-role')).toHaveText('none (unassigned)');
  await expect(page.getByText('Researchers')).toBeVisible();
  await expect(page.getByTestId('timeline')).toContainText('create');
  await shot(page, 'support-user');
  await page.getByRole('link', { name: 'Groups', exact: true }).click();
  await expect(page.getByTestId('scim-groups')).toContainText('Researchers');
  await shot(page, 'support-groups');

  // Its overview, then its activity, errors only, and the latest error's record.
  await page.getByRole('link', { name: 'Overview', exact: true }).click();
  await expect(page.getByTestId('tenant-name')).toHaveText(failing);
  await expect(page.getByTestId('recent-errors')).toContainText('400');
  await shot(page, 'support-tenant');
  await page.getByRole('link', { name: 'Activity', exact: true }).click();
  await page.getByTestId('filter-outcome').selectOption('error');
  const errorRow = page.getByTestId('activity-row').first();
  await expect(errorRow).toContainText('POST /Users');
  await expect(errorRow).toContainText('400');
  await errorRow.getByRole('link').first().click();
  await expect(page.getByTestId('activity-error-detail')).toContainText('userName');
  const body = page.getByTestId('request-body');
  await expect(body).toContainText('Nemo');
  await expect(body).toContainText('[removed]');
  await expect(body).not.toContainText('Hunter2-Hunter2');
  await shot(page, 'support-activity-record');

  // The organization's own log shows that support looked.
  await page.getByRole('link', { name: '← Activity' }).click();
  await page.getByTestId('filter-outcome').selectOption('');
  await expect(page.getByTestId('activity-row').filter({ hasText: 'support viewed' }).first()).toContainText(email);
});
