// Email, clicked through as people do: an admin invites another, who follows the emailed link;
// an admin who forgot their password asks for a link and sets a new one; an admin chooses their
// notices. With JavaScript on, off, and at phone width. The server sends to a real SMTP server
// (end2end/idp/smtp.py) whose mail the specs read.
import { expect, test, type Page } from '@playwright/test';
import { linkIn, mailTo, strictConsole } from './helpers';

const PASSWORD = 'correct horse battery staple';
const SHOTS = process.env.ROSTER_SCREENSHOTS;

async function shot(page: Page, name: string) {
  if (SHOTS) await page.screenshot({ path: `${SHOTS}/${name}.png`, fullPage: true });
}

function uniqueEmail(prefix: string): string {
  return `${prefix}-${Date.now()}-${Math.floor(Math.random() * 1e6)}@example.test`;
}

async function signUp(page: Page, org: string, email: string) {
  await page.goto('/sign-up');
  await page.getByLabel('Organization name').fill(org);
  await page.getByLabel('Your name').fill('Ada Lovelace');
  await page.getByLabel('Work email').fill(email);
  await page.getByLabel('Password', { exact: true }).fill(PASSWORD);
  await page.getByRole('button', { name: 'Create organization' }).click();
  await expect(page.getByTestId('org-name')).toHaveText(org);
}

/** The path of an emailed link (the server's public URL is its bind address here). */
function pathOf(link: string): string {
  return new URL(link).pathname;
}

for (const javaScriptEnabled of [true, false]) {
  test.describe(`JavaScript ${javaScriptEnabled ? 'on' : 'off'}`, () => {
    test.use({ javaScriptEnabled });

    test('an emailed invitation is accepted, and a forgotten password is reset by an emailed link', async ({
      page,
      browser,
    }) => {
      const errors = strictConsole(page);
      const org = `Mail <i>${Date.now()}</i>`;
      const admin = uniqueEmail('ada');
      await signUp(page, org, admin);

      // Invite: the link is emailed (and still shown once, to copy).
      const invitee = uniqueEmail('grace');
      await page.goto('/admins');
      await page.getByLabel('Email', { exact: true }).fill(invitee);
      await page.getByTestId('invite').click();
      await expect(page.getByTestId('invitation')).toContainText(`The invitation is emailed to ${invitee}.`);
      await shot(page, `email-invited-js-${javaScriptEnabled}`);
      const invitation = await mailTo(invitee, 'You are invited');
      expect(invitation.subject).toBe(`You are invited to administer ${org} on Roster`);
      const other = await browser.newContext({ javaScriptEnabled });
      const grace = await other.newPage();
      await grace.goto(pathOf(linkIn(invitation.text, 'http')));
      await expect(grace.getByRole('heading', { level: 1 })).toHaveText(`Join ${org}`);
      await grace.getByLabel('Your name').fill('Grace Hopper');
      await grace.getByLabel('Password', { exact: true }).fill(PASSWORD);
      await grace.getByTestId('accept-invitation').click();
      await expect(grace.getByTestId('org-name')).toHaveText(org);
      await other.close();

      // Notices: both on by default; one switched off stays off.
      await expect(page.getByTestId('notice-credentials')).toBeChecked();
      if (javaScriptEnabled) await expect(page.locator('body')).toHaveAttribute('data-hydrated', 'true', { timeout: 30_000 });
      await page.getByTestId('notice-credentials').uncheck();
      await page.getByTestId('save-notices').click();
      // Wait for the save before leaving the page (a navigation would cancel it).
      if (javaScriptEnabled) await expect(page.getByText('Saved.', { exact: true })).toBeVisible();
      else await page.waitForLoadState('load');
      await page.goto('/admins');
      await expect(page.getByTestId('notice-credentials')).not.toBeChecked();
      await expect(page.getByTestId('notice-idp')).toBeChecked();

      // Forgot password, from the sign-in page.
      await page.getByRole('button', { name: 'Sign out' }).click();
      await expect(page).toHaveURL(/\/sign-in$/);
      await page.getByRole('link', { name: 'Forgot your password?' }).click();
      await expect(page.getByRole('heading', { name: 'Forgot your password?' })).toBeVisible();
      await page.getByLabel('Work email').fill(admin);
      await page.getByTestId('send-reset-link').click();
      await expect(page.getByTestId('reset-link-sent')).toBeVisible();
      await shot(page, `email-reset-sent-js-${javaScriptEnabled}`);
      const reset = await mailTo(admin, 'Reset your Roster password');
      await page.goto(pathOf(linkIn(reset.text, 'http')));
      await expect(page.getByRole('heading', { name: 'Choose a new password' })).toBeVisible();
      await shot(page, `email-reset-form-js-${javaScriptEnabled}`);
      const fresh = 'a fresh passphrase for ada';
      await page.getByLabel('New password').fill(fresh);
      await page.getByTestId('reset-password').click();
      await expect(page.getByTestId('password-reset-done')).toBeVisible();
      await page.getByLabel('Work email').fill(admin);
      await page.getByLabel('Password', { exact: true }).fill(fresh);
      await page.getByRole('button', { name: 'Sign in' }).click();
      await expect(page.getByTestId('org-name')).toHaveText(org);

      // The link works once.
      await page.goto(pathOf(linkIn(reset.text, 'http')));
      await expect(page.getByText('This password reset link is not valid')).toBeVisible();
      // With JavaScript off, Chromium notes that the preloaded wasm went unused when a page
      // stays open a few seconds (here, while the mail arrives): expected, not a fault.
      const unusedPreload = (e: string) => !javaScriptEnabled && e.includes('preloaded using link preload but not used');
      expect(errors.filter((e) => !unusedPreload(e))).toEqual([]);
    });
  });
}

// The signed-out pages this change touched, reloaded a few times at desktop and phone width:
// each hydrates (the app sets data-hydrated from an Effect) without a console error or warning.
for (const width of [1280, 390]) {
  test(`the signed-out pages hydrate cleanly on every reload at ${width} px`, async ({ page }) => {
    await page.setViewportSize({ width, height: 900 });
    const errors = strictConsole(page);
    for (const path of ['/sign-in', '/sign-up', '/forgot-password', '/forgot-password?sent=1', '/reset-password/rsr_not-a-real-link']) {
      for (let i = 0; i < 3; i++) {
        await page.goto(path);
        await expect(page.locator('body')).toHaveAttribute('data-hydrated', 'true');
        expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(width);
      }
      await shot(page, `signed-out-${width}-${path.replace(/[^a-z]+/g, '-')}`);
    }
    expect(errors).toEqual([]);
  });
}

test.describe('at phone width', () => {
  test.use({ viewport: { width: 390, height: 844 } });

  test('the forgot-password and reset pages fit the screen', async ({ page }) => {
    const errors = strictConsole(page);
    await page.goto('/forgot-password');
    await expect(page.getByRole('heading', { name: 'Forgot your password?' })).toBeVisible();
    expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(390);
    await shot(page, 'email-forgot-phone');
    await page.goto('/reset-password/rsr_not-a-real-link');
    await expect(page.getByText('This password reset link is not valid')).toBeVisible();
    expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(390);
    expect(errors).toEqual([]);
  });
});
