// The dashboard's pages come in modules of wasm loaded on first use (cargo leptos --split).
import { test, expect } from '@playwright/test';
import { signUp, strictConsole } from './helpers';

const SHOTS = process.env.ROSTER_SCREENSHOTS;

test('a page whose code cannot be loaded says so and offers a reload that works', async ({ page }) => {
  const problems = strictConsole(page);
  await signUp(page, `Split ${Date.now()}`);
  await expect(page.locator('body')).toHaveAttribute('data-hydrated', 'true');
  expect(problems).toEqual([]);

  // The settings pages' module is gone from the server (as after an upgrade, to a page opened
  // before it): a client-side move to one of them shows the notice, not a dead page.
  await page.route('**/pkg/split_settings_pages*.wasm', (route) => route.fulfill({ status: 404, body: '' }));
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'SCIM provisioning' }).click();
  await expect(page).toHaveURL(/\/scim$/);
  const notice = page.getByTestId('stale-page');
  await expect(notice).toContainText('This page could not be loaded.');
  if (SHOTS) await page.screenshot({ path: `${SHOTS}/stale-page.png` });
  // The rest of the dashboard still answers.
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Overview' }).click();
  await expect(page.getByTestId('stale-page')).toHaveCount(0);
  await page.goBack();
  await expect(notice).toBeVisible();

  // The link loads the page from the server, which now has the module again.
  await page.unroute('**/pkg/split_settings_pages*.wasm');
  await notice.getByRole('link', { name: 'Reload the page' }).click();
  await expect(page.getByRole('heading', { name: 'SCIM provisioning', level: 1 })).toBeVisible();
  await expect(page.locator('body')).toHaveAttribute('data-hydrated', 'true');
  await expect(page.getByTestId('stale-page')).toHaveCount(0);
  await page.getByTestId('scim-switch').click();
  await expect(page.getByTestId('scim-status')).toHaveText('On');
  // What the browser logged is the refused module (each of the two tries), nothing else.
  const refused = /compile' on 'WebAssembly': HTTP status code is not ok|status of 404/;
  expect(problems.filter((p) => refused.test(p)).length).toBeGreaterThan(0);
  const rest = problems.filter((p) => !refused.test(p));
  expect(rest).toEqual([]);
});
