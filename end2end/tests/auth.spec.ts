import { expect, test, type Page } from '@playwright/test';

const PASSWORD = 'correct horse battery staple';

function uniqueEmail(prefix: string): string {
  return `${prefix}-${Date.now()}-${Math.floor(Math.random() * 1e6)}@example.test`;
}

/** Waits until the Leptos app has hydrated (the App sets this attribute from an Effect). */
async function hydrated(page: Page) {
  await expect(page.locator('body')).toHaveAttribute('data-hydrated', 'true');
}

test('sign up, sign out, sign in: the organization is shown and the page is hydrated', async ({ page }) => {
  const org = `Acme ${Date.now()}`;
  const email = uniqueEmail('ada');

  await page.goto('/sign-up');
  await expect(page.getByRole('heading', { name: 'Create your organization' })).toBeVisible();
  await hydrated(page);

  // Client-side interactions that only work when hydrated: the live password hint and the
  // show/hide toggle.
  const password = page.getByLabel('Password', { exact: true });
  await password.fill('short');
  const hint = page.getByTestId('password-hint');
  await expect(hint).toHaveText('7 more characters needed.');
  await expect(hint).toHaveAttribute('data-ok', 'false');
  await password.fill(' '.repeat(12));
  await expect(hint).toHaveText('The password cannot be only spaces.');
  await expect(hint).toHaveAttribute('data-ok', 'false');
  await password.fill('short');
  await page.getByRole('button', { name: 'Show' }).click();
  await expect(password).toHaveAttribute('type', 'text');
  await page.getByRole('button', { name: 'Hide' }).click();
  await expect(password).toHaveAttribute('type', 'password');

  await page.getByLabel('Organization name').fill(org);
  await page.getByLabel('Your name').fill('Ada Lovelace');
  await page.getByLabel('Work email').fill(email);
  await password.fill(PASSWORD);
  await expect(hint).toHaveText('Long enough.');
  await expect(hint).toHaveAttribute('data-ok', 'true');
  // The colour of a hint the policy accepts.
  const colours = await hint.evaluate((el) => {
    const ok = getComputedStyle(el).color;
    el.setAttribute('data-ok', 'false');
    const pending = getComputedStyle(el).color;
    el.setAttribute('data-ok', 'true');
    return { ok, pending };
  });
  expect(colours.ok).not.toBe(colours.pending);
  await page.getByRole('button', { name: 'Create organization' }).click();

  await expect(page).toHaveURL(/\/$/);
  await expect(page.getByTestId('org-name')).toHaveText(org);
  await expect(page.getByRole('heading', { level: 1 })).toHaveText(org);

  await page.getByRole('button', { name: 'Sign out' }).click();
  await expect(page).toHaveURL(/\/sign-in$/);
  await expect(page.getByRole('heading', { name: 'Sign in' })).toBeVisible();

  // Signed out: the dashboard sends us back to sign-in.
  await page.goto('/');
  await expect(page).toHaveURL(/\/sign-in$/);
  await hydrated(page);

  await page.getByLabel('Work email').fill(email);
  await page.getByLabel('Password', { exact: true }).fill(PASSWORD);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await expect(page).toHaveURL(/\/$/);
  await expect(page.getByTestId('org-name')).toHaveText(org);
});

test('a wrong password shows one clear message and keeps the visitor signed out', async ({ page }) => {
  await page.goto('/sign-in');
  await hydrated(page);
  await page.getByLabel('Work email').fill(uniqueEmail('nobody'));
  await page.getByLabel('Password', { exact: true }).fill('not the password at all');
  await page.getByRole('button', { name: 'Sign in' }).click();
  await expect(page.getByRole('alert')).toContainText('The email address or password is not correct.');
  await expect(page).toHaveURL(/\/sign-in$/);
});

test('signing up with an address that already has an account says so', async ({ page, browser }) => {
  const email = uniqueEmail('grace');
  await page.goto('/sign-up');
  await hydrated(page);
  await page.getByLabel('Organization name').fill('First Org');
  await page.getByLabel('Your name').fill('Grace Hopper');
  await page.getByLabel('Work email').fill(email);
  await page.getByLabel('Password', { exact: true }).fill(PASSWORD);
  await page.getByRole('button', { name: 'Create organization' }).click();
  await expect(page.getByTestId('org-name')).toHaveText('First Org');

  const other = await browser.newPage();
  await other.goto('/sign-up');
  await hydrated(other);
  await other.getByLabel('Organization name').fill('Second Org');
  await other.getByLabel('Your name').fill('Grace Hopper');
  await other.getByLabel('Work email').fill(email.toUpperCase());
  await other.getByLabel('Password', { exact: true }).fill(PASSWORD);
  await other.getByRole('button', { name: 'Create organization' }).click();
  await expect(other.getByRole('alert')).toContainText('already exists');
  await expect(other).toHaveURL(/\/sign-up$/);
  await other.close();
});
