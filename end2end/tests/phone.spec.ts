import { expect, test, type APIRequestContext, type Page } from '@playwright/test';
import { dashboardApi, roster, strictConsole } from './helpers';

// At the width of a phone (390 px), no page of the dashboard scrolls sideways, and the
// navigation sits behind a menu button.

const PASSWORD = 'correct horse battery staple';

const SHOTS = process.env.ROSTER_SCREENSHOTS;

test.use({ viewport: { width: 390, height: 844 } });

/** Loads `path` and checks that it hydrates without a console error and that nothing makes
 * the page wider than the phone. */
async function fits(page: Page, path: string, problems: string[]) {
  await page.goto(path);
  await expect(page.locator('body'), path).toHaveAttribute('data-hydrated', 'true', { timeout: 30_000 });
  await page.waitForLoadState('networkidle');
  expect(problems, `${path}: console`).toEqual([]);
  const overflow = await page.evaluate(() => {
    const doc = document.documentElement;
    // Elements past the right edge that no scrolling ancestor clips: the ones that widen the page.
    const clipped = (e: Element) => {
      for (let p = e.parentElement; p && p !== document.body; p = p.parentElement) {
        if (getComputedStyle(p).overflowX !== 'visible') return true;
      }
      return false;
    };
    const wide = [...document.querySelectorAll('body *')]
      .filter((e) => e.getBoundingClientRect().right > doc.clientWidth + 1 && !clipped(e))
      .map((e) => `${e.tagName.toLowerCase()}.${[...e.classList].join('.')}`)
      .slice(0, 5);
    if (wide.length === 0) {
      // Name the widest element instead, clipped or not.
      const all = [...document.querySelectorAll('body *')].map((e) => [e.getBoundingClientRect().right, e] as const);
      all.sort((a, b) => b[0] - a[0]);
      for (const [right, e] of all.slice(0, 3)) wide.push(`${e.tagName.toLowerCase()}.${[...e.classList].join('.')}@${Math.round(right)}`);
    }
    return { scroll: doc.scrollWidth, client: doc.clientWidth, wide };
  });
  if (SHOTS) await page.screenshot({ path: `${SHOTS}/phone-${path.replace(/[^a-z]+/g, '-')}.png`, fullPage: true });
  expect(overflow.scroll, `${path} scrolls sideways: ${overflow.wide.join(', ')}`).toBeLessThanOrEqual(overflow.client);
}

/** What both tests look at: an organization with SCIM on, a user with long names, an IdP group,
 * a user group and a rule. */
async function organization(page: Page, request: APIRequestContext, stamp: string) {
  await page.goto('/sign-up');
  await expect(page.locator('body')).toHaveAttribute('data-hydrated', 'true');
  await page.getByLabel('Organization name').fill(`Pocket ${stamp}`);
  await page.getByLabel('Your name').fill('Ada Lovelace');
  await page.getByLabel('Work email').fill(`ada-${stamp}@pocket.test`);
  await page.getByLabel('Password', { exact: true }).fill(PASSWORD);
  await page.getByRole('button', { name: 'Create organization' }).click();
  await expect(page).toHaveURL(/\/$/);
  const api = dashboardApi(page);
  await api('scim_enable', { enabled: true });
  const made = await (await api('scim_credential_create', { kind: 'bearer', name: 'Microsoft Entra ID production tenant', expires_in_days: 30 })).json();
  const u = await request.post(`${made.scim_base_url}/Users`, {
    headers: { Authorization: `Bearer ${made.secret}`, 'Content-Type': 'application/scim+json' },
    data: {
      schemas: ['urn:ietf:params:scim:schemas:core:2.0:User', 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User'],
      userName: `a.very.long.user.name.that.does.not.wrap-${stamp}@a-rather-long-company-domain.example.com`,
      name: { givenName: 'Grace', familyName: 'Hopper' },
      'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User': { department: 'Research and Development', employeeNumber: '1234567890' },
    },
  });
  const uid = (await u.json()).id as string;
  const group = await (await api('user_group_create', { input: { name: 'Engineers', description: '', role: 'member' } })).json();
  const idpGroup = await (await request.post(`${made.scim_base_url}/Groups`, {
    headers: { Authorization: `Bearer ${made.secret}`, 'Content-Type': 'application/scim+json' },
    data: { schemas: ['urn:ietf:params:scim:schemas:core:2.0:Group'], displayName: 'Research and Development (all sites)', members: [{ value: uid }] },
  })).json();
  const rule = { id: '', condition: { kind: 'attribute', filter: 'department eq "Research and Development"' }, user_group_id: group.id, enabled: true };
  expect((await api('mapping_rule_create', { rule })).status()).toBe(200);
  const tenant = (await (await api('viewer', {})).json()).tenant.id as string;
  return { uid, groupId: group.id as string, idpGroupId: idpGroup.id as string, tenant };
}

// Each test loads its pages from the debug build (every load fetches a main wasm and a page
// module of several MB) on a 2-core CI machine that may be running the hydration spec's busy
// loops at the same time: a load there can take several seconds, so the budget is generous.
// It bounds a hang, it times nothing.
const BUDGET = 180_000;

test('every admin page fits a 390 px phone, and the navigation opens from a menu button', async ({ page, request }) => {
  test.setTimeout(BUDGET);
  const stamp = `${Date.now()}${Math.floor(Math.random() * 1e6)}`;
  const problems = strictConsole(page);
  const { uid, groupId, idpGroupId } = await organization(page, request, stamp);

  const admin = ['/', '/scim', '/users', `/users?idp_group=${idpGroupId}`, `/users/${uid}`, '/users/new', '/users/import', '/unassigned', '/user-groups', `/user-groups/${groupId}`, '/mappings', '/safety', '/integrations', '/activity', '/admins'];
  for (const path of admin) await fits(page, path, problems);
  // The navigation is behind the menu button.
  await page.goto('/');
  await expect(page.locator('body')).toHaveAttribute('data-hydrated', 'true', { timeout: 30_000 });
  const nav = page.getByRole('navigation', { name: 'Main' });
  await expect(nav).toBeHidden();
  await page.getByRole('button', { name: 'Menu' }).click();
  await expect(nav).toBeVisible();
  await nav.getByRole('link', { name: 'Users', exact: true }).click();
  await expect(page).toHaveURL(/\/users$/);
  await expect(nav).toBeHidden();
});

test('every page of the support console and the sign-in page fit a 390 px phone', async ({ page, request }) => {
  test.setTimeout(BUDGET);
  const stamp = `${Date.now()}${Math.floor(Math.random() * 1e6)}`;
  const problems = strictConsole(page);
  const { uid, tenant } = await organization(page, request, stamp);

  const staffEmail = `staff-${stamp}@roster.test`;
  roster(['staff', 'create', '--email', staffEmail, '--name', 'Sam Support', '--password-stdin'], `${PASSWORD}\n`);
  await page.getByRole('button', { name: 'Sign out' }).click();
  await expect(page).toHaveURL(/\/sign-in$/);
  await fits(page, '/sign-in', problems);
  await page.getByLabel('Work email').fill(staffEmail);
  await page.getByLabel('Password', { exact: true }).fill(PASSWORD);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await expect(page).toHaveURL(/\/support$/);
  const t = `/support/t/${tenant}`;
  for (const path of ['/support', t, `${t}/users`, `${t}/users/${uid}`, `${t}/unassigned`, `${t}/groups`, `${t}/mappings`, `${t}/activity`]) {
    await fits(page, path, problems);
  }
});
