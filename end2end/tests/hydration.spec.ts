import { spawn, type ChildProcess } from 'node:child_process';
import { expect, test, type Page, type Request } from '@playwright/test';
import { dashboardApi, roster, strictConsole } from './helpers';

// Every page of the dashboard and of the support console, loaded again and again while the
// machine is busy: each load must hydrate without a single console error, page error or
// hydration warning, and then answer a click. (A page whose hydration panicked still looks
// complete and still gets `data-hydrated`, so that attribute alone proves nothing.)

const PASSWORD = 'correct horse battery staple';
const SCIM_JSON = 'application/scim+json';
const ENTERPRISE = 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User';
const RELOADS = Number(process.env.ROSTER_E2E_RELOADS ?? 3);

/** Two busy loops for the length of a test: hydration must not depend on a quiet machine. */
function burnCpu(): ChildProcess[] {
  return [0, 1].map(() => spawn(process.execPath, ['-e', 'const end = Date.now() + 120000; while (Date.now() < end) {}'], { stdio: 'ignore' }));
}

/**
 * Loads `path`, waits for hydration, checks nothing went wrong, then proves the page is alive:
 * a client-side navigation through the sidebar keeps the page's JavaScript state (a full reload
 * or a dead page would not).
 */
async function loadAndClick(page: Page, path: string, link: string, expectUrl: RegExp, problems: string[]) {
  // Server function calls while the page loads and hydrates: none, because every resource
  // decodes the value the server rendered into the page. (A resource whose value does not
  // decode, or one created in another order than on the server, loads again from here.)
  const calls: string[] = [];
  // The page before (the one that signed up, or the page the last click opened) may still be
  // loading its data client-side; its calls are not this load's. Leaving it first ends it, and
  // its events come in before this navigation's end (seen: the Overview's three calls after
  // sign-up, counted against the first load of `/` on a busy machine).
  await page.goto('about:blank');
  const onRequest = (r: Request) => {
    const u = new URL(r.url());
    if (u.pathname.startsWith('/api/')) calls.push(u.pathname);
  };
  page.on('request', onRequest);
  const res = await page.goto(path);
  expect(res?.status(), path).toBe(200);
  await expect(page.locator('body'), `${path}: ${problems.join(' | ')}`).toHaveAttribute('data-hydrated', 'true', { timeout: 30_000 });
  // Let any late hydration of deferred parts happen before judging.
  await page.waitForLoadState('networkidle');
  page.off('request', onRequest);
  expect(problems, `${path}: console`).toEqual([]);
  expect(calls, `${path}: server calls while hydrating`).toEqual([]);
  await page.evaluate(() => ((window as unknown as { __alive?: boolean }).__alive = true));
  await page.getByRole('link', { name: link, exact: true }).first().click();
  await expect(page, `${path}: the click navigates`).toHaveURL(expectUrl);
  expect(await page.evaluate(() => (window as unknown as { __alive?: boolean }).__alive), `${path}: client-side`).toBe(true);
  expect(problems, `${path}: after the click`).toEqual([]);
}

test('every page hydrates cleanly on every load under load, and answers a click', async ({ page, request }) => {
  // 75 loads of the debug build (each fetches a main wasm and a page module of several MB) with
  // both cores busy: on the 2-core CI machine this took 3.7 of the old 4 minutes. The budget
  // bounds a hang; it times nothing.
  test.setTimeout(420_000);
  const problems = strictConsole(page);
  const stamp = `${Date.now()}${Math.floor(Math.random() * 1e6)}`;

  // The signed-out pages first: three modules of their own (sign-in, sign-up, the others).
  for (let round = 0; round < RELOADS; round++) {
    await loadAndClick(page, '/sign-in', 'Create your organization', /\/sign-up$/, problems);
    await loadAndClick(page, '/sign-up', 'Sign in', /\/sign-in$/, problems);
    await loadAndClick(page, '/forgot-password', 'Back to sign in', /\/sign-in$/, problems);
  }

  await page.goto('/sign-up');
  await expect(page.locator('body')).toHaveAttribute('data-hydrated', 'true');
  await page.getByLabel('Organization name').fill(`Hydra ${stamp}`);
  await page.getByLabel('Your name').fill('Ada Lovelace');
  await page.getByLabel('Work email').fill(`ada-${stamp}@hydra.test`);
  await page.getByLabel('Password', { exact: true }).fill(PASSWORD);
  await page.getByRole('button', { name: 'Create organization' }).click();
  await expect(page).toHaveURL(/\/$/);

  const api = dashboardApi(page);
  expect((await api('scim_enable', { enabled: true })).status()).toBe(200);
  const made = await (await api('scim_credential_create', { kind: 'bearer', name: 'Okta', expires_in_days: 30 })).json();
  const headers = { Authorization: `Bearer ${made.secret}`, 'Content-Type': SCIM_JSON };
  const ids: string[] = [];
  for (const name of ['grace', 'linus', 'barbara']) {
    const u = await request.post(`${made.scim_base_url}/Users`, {
      headers,
      data: {
        schemas: ['urn:ietf:params:scim:schemas:core:2.0:User', ENTERPRISE],
        userName: `${name}-${stamp}@hydra.test`,
        name: { givenName: name, familyName: 'Hopper' },
        emails: [{ value: `${name}-${stamp}@hydra.test`, primary: true }],
        // Attributes, so that the rule form's picker of values renders too.
        addresses: [{ type: 'work', country: name === 'linus' ? 'FI' : 'US' }],
        [ENTERPRISE]: { department: name === 'grace' ? 'Engineering' : 'Sales' },
      },
    });
    expect(u.status()).toBe(201);
    ids.push((await u.json()).id);
  }
  const idpGroup = await (await request.post(`${made.scim_base_url}/Groups`, {
    headers,
    data: { schemas: ['urn:ietf:params:scim:schemas:core:2.0:Group'], displayName: 'Engineering', members: [{ value: ids[0] }] },
  })).json();
  const group = await (await api('user_group_create', { input: { name: 'Engineers', description: 'Builders', role: 'member' } })).json();
  expect((await api('user_group_assign', { group_id: group.id, user_ids: [ids[0], ids[1]] })).status()).toBe(200);
  // A rule written with a friendly name: the mappings banner and the rules table render with data.
  const rule = { id: '', condition: { kind: 'attribute', filter: 'department eq "Sales"' }, user_group_id: group.id, enabled: true };
  expect((await api('mapping_rule_create', { rule })).status()).toBe(200);
  const tenant = (await (await api('viewer', {})).json()).tenant.id as string;
  problems.length = 0;

  const burners = burnCpu();
  try {
    const admin = ['/', '/scim', '/sso', '/admins', '/users', `/users?idp_group=${idpGroup.id}`, `/users/${ids[0]}`, '/users/new', '/users/import', '/unassigned', '/user-groups', `/user-groups/${group.id}`, '/mappings', '/safety', '/integrations', '/activity'];
    for (let round = 0; round < RELOADS; round++) {
      for (const path of admin) {
        const [link, url] = path === '/activity' ? ['Users', /\/users$/] : ['Activity', /\/activity$/];
        await loadAndClick(page, path, link, url, problems);
      }
    }

    const staffEmail = `staff-${stamp}@roster.test`;
    roster(['staff', 'create', '--email', staffEmail, '--name', 'Sam Support', '--password-stdin'], `${PASSWORD}\n`);
    await page.getByRole('button', { name: 'Sign out' }).click();
    await expect(page).toHaveURL(/\/sign-in$/);
    await expect(page.locator('body')).toHaveAttribute('data-hydrated', 'true', { timeout: 30_000 });
    await page.getByLabel('Work email').fill(staffEmail);
    await page.getByLabel('Password', { exact: true }).fill(PASSWORD);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await expect(page).toHaveURL(/\/support$/);
    // The sign-in lands on /support in the browser, which loads its data from the server: let
    // it finish, or the first load below counts that page's calls as its own.
    await expect(page.getByRole('link', { name: `Hydra ${stamp}`, exact: true }).first()).toBeVisible({ timeout: 30_000 });
    await expect(page.getByText('Sam Support').first()).toBeVisible();
    const t = `/support/t/${tenant}`;
    const support = ['/support', t, `${t}/users`, `${t}/users/${ids[0]}`, `${t}/unassigned`, `${t}/groups`, `${t}/mappings`, `${t}/sso`, `${t}/activity`];
    for (let round = 0; round < RELOADS; round++) {
      for (const path of support) {
        const [link, url] = path === '/support' ? [`Hydra ${stamp}`, /\/support\/t\//] : ['Organizations', /\/support$/];
        await loadAndClick(page, path, link, url, problems);
      }
    }
  } finally {
    burners.forEach((b) => b.kill());
  }
});
