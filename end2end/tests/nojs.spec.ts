// The dashboard's main actions without JavaScript, and a click before hydration: the forms are
// real forms, so the browser posts them itself and gets the page back with the new state.
import { expect, test, type Page } from '@playwright/test';
import { signUp, strictConsole } from './helpers';

const SCIM_JSON = 'application/scim+json';
const SHOTS = process.env.ROSTER_SCREENSHOTS;

async function shot(page: Page, name: string) {
  if (SHOTS) await page.screenshot({ path: `${SHOTS}/${name}.png`, fullPage: true });
}

test.describe('without JavaScript', () => {
  test.use({ javaScriptEnabled: false });

  test('an admin sets up SCIM, makes a user group, assigns users, adds a rule and revokes the token', async ({
    page,
    request,
  }) => {
    const errors = strictConsole(page);
    await signUp(page, `NoScript ${Date.now()}`);

    // SCIM: the switch is a form.
    await page.goto('/scim');
    await expect(page.getByTestId('scim-status')).toHaveText('Off');
    await expect(page.getByTestId('scim-switch')).toHaveAttribute('aria-checked', 'false');
    await page.getByTestId('scim-switch').click();
    await expect(page.getByTestId('scim-status')).toHaveText('On');
    await expect(page.getByTestId('scim-switch')).toHaveAttribute('aria-checked', 'true');

    // Generate: the page comes back with the secret, once.
    await page.getByLabel('Name', { exact: true }).fill('Okta (no script)');
    await page.getByLabel('Expires').selectOption('90');
    await page.getByTestId('generate-token').click();
    const panel = page.getByTestId('new-secret');
    await expect(panel).toBeVisible();
    await expect(panel).toContainText('Okta (no script)');
    const base = (await page.getByTestId('secret-base-url').textContent())!.trim();
    const token = (await page.getByTestId('secret-value').textContent())!.trim();
    expect(token).toMatch(/^rst_/);
    await shot(page, 'nojs-scim-secret');
    await page.getByTestId('secret-stored').click();
    await expect(page.getByTestId('new-secret')).toHaveCount(0);
    await expect(page.getByTestId('credential-row')).toHaveCount(1);

    // The IdP pushes two users.
    for (const userName of ['ada@noscript.test', 'alan@noscript.test']) {
      const res = await request.post(`${base}/Users`, {
        headers: { Authorization: `Bearer ${token}`, 'Content-Type': SCIM_JSON },
        data: { schemas: ['urn:ietf:params:scim:schemas:core:2.0:User'], userName, active: true },
      });
      expect(res.status()).toBe(201);
    }

    // A user group: the disclosure opens without script.
    await page.goto('/user-groups');
    await page.getByTestId('new-group').click();
    await page.getByTestId('group-name').fill('Engineers');
    await page.getByTestId('group-role').selectOption('admin');
    await page.getByTestId('save-group').click();
    await expect(page.getByTestId('group-row')).toHaveCount(1);
    await expect(page.getByTestId('group-row')).toContainText('Engineers');

    // Assign one of the two.
    await page.goto('/unassigned');
    await expect(page.getByTestId('user-row')).toHaveCount(2);
    await page.getByRole('checkbox', { name: 'Select ada@noscript.test' }).check();
    await page.getByTestId('assign-target').selectOption({ label: 'Engineers (Admin)' });
    await page.getByTestId('assign').click();
    await expect(page.getByTestId('user-row')).toHaveCount(1);
    await expect(page.getByTestId('user-row')).toContainText('alan@noscript.test');

    // Assigning with nothing ticked says so.
    await page.getByTestId('assign-target').selectOption({ label: 'Engineers (Admin)' });
    await page.getByTestId('assign').click();
    await expect(page.getByRole('alert')).toContainText('Select the users to assign first.');

    // A rule: the form shows the field its "When" needs (CSS, no script). Without IdP groups
    // it starts with attributes.
    await page.goto('/mappings');
    await expect(page.getByTestId('rule-filter')).toBeVisible();
    await page.getByTestId('rule-kind').selectOption('idp_group');
    await expect(page.getByTestId('rule-filter')).toBeHidden();
    await expect(page.getByTestId('rule-idp-group')).toBeVisible();
    await page.getByTestId('rule-kind').selectOption('attribute');
    await expect(page.getByTestId('rule-idp-group')).toBeHidden();
    await expect(page.getByTestId('rule-filter')).toBeVisible();
    await page.getByTestId('rule-target').selectOption({ label: 'Engineers' });
    await page.getByTestId('rule-filter').fill('userName eq "alan@noscript.test"');
    await page.getByTestId('save-rule').click();
    await expect(page.getByTestId('rule-row')).toHaveCount(1);
    await shot(page, 'nojs-mappings');

    // Revoke: the confirmation is a disclosure.
    await page.goto('/scim');
    await page.getByTestId('revoke').click();
    await page.getByTestId('confirm-revoke').click();
    await expect(page.getByTestId('credential-row')).toContainText('Revoked');
    const refused = await request.get(`${base}/Users`, { headers: { Authorization: `Bearer ${token}` } });
    expect(refused.status()).toBe(401);

    expect(errors).toEqual([]);
  });
});

test('a click before the page is hydrated is not lost', async ({ page }) => {
  const errors = strictConsole(page);
  await signUp(page, `Early ${Date.now()}`);

  // Hold the dashboard's wasm until the switch has been clicked.
  let release: () => void = () => {};
  const held = new Promise<void>((r) => (release = r));
  await page.route('**/pkg/*.wasm', async (route) => {
    await held;
    // The first page's request is gone by then (the form post navigated away).
    await route.continue().catch(() => {});
  });
  await page.goto('/scim');
  await expect(page.locator('body')).not.toHaveAttribute('data-hydrated', 'true');
  await expect(page.getByTestId('scim-status')).toHaveText('Off');
  await page.getByTestId('scim-switch').click();
  // The browser posted the form itself and came back to the page, now on.
  await expect(page.getByTestId('scim-status')).toHaveText('On');
  release();
  await expect(page.locator('body')).toHaveAttribute('data-hydrated', 'true');
  await expect(page.getByTestId('scim-switch')).toHaveAttribute('aria-checked', 'true');
  expect(errors).toEqual([]);
});
