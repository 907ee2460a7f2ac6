// Single sign-on against real identity providers started here: npm `samlify` (SAML) and npm
// `oidc-provider` (OpenID Connect), each with a tiny login form (end2end/idp). An admin
// configures both connections in the dashboard; SCIM-provisioned people sign in through each and
// land where their role says: Member on *My access*, Admin in the dashboard (and administers it),
// Viewer in the dashboard read-only.
import { spawn, type ChildProcess } from 'node:child_process';
import * as path from 'node:path';
import { expect, test, type Browser, type Page } from '@playwright/test';
import { dashboardApi, strictConsole } from './helpers';

const PASSWORD = 'correct horse battery staple';
const SHOTS = process.env.ROSTER_SCREENSHOTS;

// One OIDC provider for the file; a SAML IdP per test, as an IdP (entity ID) belongs to one
// organization.
let oidc: { proc: ChildProcess; base: string };
const samlIdps: ChildProcess[] = [];

async function samlIdp() {
  const idp = await startIdp('saml.mjs', { SAML_PORT: '0' });
  samlIdps.push(idp.proc);
  return idp;
}

function startIdp(script: string, env: Record<string, string>): Promise<{ proc: ChildProcess; base: string }> {
  return new Promise((resolve, reject) => {
    const proc = spawn('node', [path.join(__dirname, '..', 'idp', script)], {
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    let out = '';
    proc.stdout!.on('data', (d) => {
      out += d.toString();
      const m = out.match(/listening (\d+)/);
      if (m) resolve({ proc, base: `http://127.0.0.1:${m[1]}` });
    });
    proc.on('exit', (code) => reject(new Error(`${script} exited (${code})`)));
  });
}

test.beforeAll(async ({}, info) => {
  const roster = info.project.use.baseURL!;
  oidc = await startIdp('oidc.mjs', { OIDC_PORT: '0', OIDC_REDIRECT_PREFIX: `${roster}/sso/oidc/` });
});

test.afterAll(() => {
  samlIdps.forEach((p) => p.kill());
  oidc?.proc.kill();
});

async function hydrated(page: Page) {
  await expect(page.locator('body')).toHaveAttribute('data-hydrated', 'true');
}

async function shot(page: Page, name: string) {
  if (SHOTS) await page.screenshot({ path: `${SHOTS}/${name}.png`, fullPage: true });
}

/** An organization with SCIM on, three provisioned people, and user groups with each role. */
async function organization(page: Page, org: string) {
  const email = `admin-${Date.now()}-${Math.floor(Math.random() * 1e6)}@example.test`;
  await page.goto('/sign-up');
  await hydrated(page);
  await page.getByLabel('Organization name').fill(org);
  await page.getByLabel('Your name').fill('Grace Hopper');
  await page.getByLabel('Work email').fill(email);
  await page.getByLabel('Password', { exact: true }).fill(PASSWORD);
  await page.getByRole('button', { name: 'Create organization' }).click();
  await expect(page.getByTestId('org-name')).toHaveText(org);
  const api = dashboardApi(page);
  expect((await api('scim_enable', { enabled: true })).status()).toBe(200);
  const made = await (await api('scim_credential_create', { kind: 'bearer', name: 'IdP', expires_in_days: 30 })).json();
  const suffix = Math.floor(Math.random() * 1e9);
  const people: Record<string, string> = {};
  for (const who of ['ada', 'root', 'vera']) {
    const userName = `${who}-${suffix}@acme.test`;
    const res = await page.request.post(`${made.scim_base_url}/Users`, {
      headers: { Authorization: `Bearer ${made.secret}`, 'Content-Type': 'application/scim+json' },
      data: { schemas: ['urn:ietf:params:scim:schemas:core:2.0:User'], userName, emails: [{ value: userName, primary: true }],
        name: { givenName: who[0].toUpperCase() + who.slice(1), familyName: 'Test' } },
    });
    expect(res.status()).toBe(201);
    people[who] = userName;
    const id = (await res.json()).id;
    const role = { ada: 'member', root: 'admin', vera: 'viewer' }[who]!;
    const group = await (await api('user_group_create', { input: { name: `${role} group`, description: '', role } })).json();
    expect((await api('user_group_assign', { group_id: group.id, user_ids: [id] })).status()).toBe(200);
  }
  return people;
}

/** A person's own browser: the organization's sign-in link, the connection, the IdP's form. */
async function signInAs(browser: Browser, link: string, connection: string, user: string, javaScriptEnabled = true) {
  const context = await browser.newContext({ javaScriptEnabled });
  const page = await context.newPage();
  const problems = strictConsole(page);
  await page.goto(link);
  // With one connection the link goes straight to the IdP; with several it offers a choice.
  const choice = page.getByRole('link', { name: `Sign in with ${connection}` });
  await expect(page.getByLabel('User name').or(choice)).toBeVisible();
  if (await choice.isVisible()) await choice.click();
  await page.getByLabel('User name').fill(user);
  await page.getByRole('button', { name: 'Sign in' }).click();
  if (!javaScriptEnabled) {
    // The IdP's auto-submitting form needs a click without JavaScript.
    const next = page.getByRole('button', { name: 'Continue' });
    if (await next.isVisible().catch(() => false)) await next.click();
  }
  return { page, problems, context };
}

test('an admin configures SAML and OIDC; people sign in through each and land by their role', async ({ page, browser }) => {
  test.setTimeout(120_000);
  const adminProblems = strictConsole(page);
  const saml = await samlIdp();
  const people = await organization(page, `Acme SSO ${Date.now()}`);

  // The admin adds both connections on the Single sign-on page.
  await page.getByRole('link', { name: 'Single sign-on' }).click();
  await expect(page.getByRole('heading', { name: 'Single sign-on', level: 1 })).toBeVisible();
  await hydrated(page);
  await page.getByTestId('add-saml').locator('summary').first().click();
  await page.locator('#saml-name').fill('Okta');
  await page.locator('#saml-metadata-url').fill(`${saml.base}/metadata`);
  await page.getByTestId('create-saml').click();
  await expect(page.getByTestId('connection-name')).toHaveText(['Okta']);
  await page.getByTestId('add-oidc').locator('summary').first().click();
  await expect(page.locator('#oidc-issuer')).toBeVisible();
  await page.locator('#oidc-name').fill('Entra');
  await page.locator('#oidc-issuer').fill(oidc.base);
  await page.locator('#oidc-client-id').fill('roster');
  await page.locator('#oidc-client-secret').fill('roster-secret');
  await page.getByTestId('create-oidc').click();
  await expect(page.getByTestId('connection-name')).toHaveText(['Okta', 'Entra']);
  await expect(page.getByTestId('sp-acs-url')).toContainText('/acs');
  await expect(page.getByTestId('sp-redirect-uri')).toContainText('/callback');
  const link = (await page.getByTestId('tenant-sign-in-url').textContent())!.trim();
  await shot(page, 'sso-configured');

  // A test sign-in reports on the page and signs nobody in.
  await page.getByTestId('test-sign-in').first().click();
  await page.getByLabel('User name').fill(people.ada);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await expect(page.getByTestId('test-result')).toContainText('Test sign-in succeeded');
  await expect(page.getByTestId('org-name')).toBeVisible();

  // Member, through SAML and through OIDC: My access.
  for (const connection of ['Okta', 'Entra']) {
    const ada = await signInAs(browser, link, connection, people.ada);
    await expect(ada.page).toHaveURL(/\/me$/);
    await expect(ada.page.getByTestId('my-role')).toHaveText('Member');
    await expect(ada.page.getByTestId('my-user-name')).toHaveText(people.ada);
    await hydrated(ada.page);
    await ada.page.setViewportSize({ width: 390, height: 800 });
    await shot(ada.page, `my-access-${connection}`);
    expect(ada.problems).toEqual([]);
    await ada.context.close();
  }

  // Admin: the dashboard, and changes in it.
  const root = await signInAs(browser, link, 'Okta', people.root);
  await expect(root.page).toHaveURL(/\/$/);
  await hydrated(root.page);
  await root.page.getByRole('link', { name: 'User groups' }).click();
  await root.page.getByTestId('new-group').click();
  await root.page.getByTestId('group-name').fill('Made through SSO');
  await root.page.getByTestId('save-group').click();
  await expect(root.page.getByText('Made through SSO').first()).toBeVisible();
  expect(root.problems).toEqual([]);
  await root.context.close();

  // Viewer: the dashboard read-only; a change is refused and nothing changes.
  const vera = await signInAs(browser, link, 'Entra', people.vera);
  await expect(vera.page).toHaveURL(/\/$/);
  await hydrated(vera.page);
  await expect(vera.page.getByTestId('read-only')).toBeVisible();
  await vera.page.getByRole('link', { name: 'Single sign-on' }).click();
  await hydrated(vera.page);
  await vera.page.getByTestId('delete-connection').first().click();
  await expect(vera.page.locator('.notice-error').first()).toBeVisible();
  await vera.page.reload();
  await expect(vera.page.getByTestId('connection-name')).toHaveText(['Okta', 'Entra']);
  expect((await dashboardApi(vera.page)('user_group_create', { input: { name: 'Nope', description: '', role: 'admin' } })).status()).toBe(403);
  await vera.context.close();

  // The sign-in log has every attempt.
  await page.goto('/sso');
  await expect(page.getByTestId('sign-in-row')).toHaveCount(5);
  expect(adminProblems).toEqual([]);
});

test('without JavaScript a person signs in through SAML; an unknown person is told why', async ({ page, browser }) => {
  const saml = await samlIdp();
  const people = await organization(page, `NoJS SSO ${Date.now()}`);
  const api = dashboardApi(page);
  const res = await page.request.post('/api/form/sso_saml_create', {
    form: { name: 'Okta', metadata_url: `${saml.base}/metadata` },
    headers: { 'sec-fetch-site': 'same-origin', Accept: 'application/json' },
  });
  expect(res.status()).toBe(200);
  const link = (await (await api('sso_setup', {})).json()).tenant_sign_in_url as string;

  const ada = await signInAs(browser, link, 'Okta', people.ada, false);
  await expect(ada.page).toHaveURL(/\/me$/);
  await expect(ada.page.getByTestId('my-role')).toHaveText('Member');
  await ada.context.close();

  const eve = await signInAs(browser, link, 'Okta', 'eve@elsewhere.test');
  await expect(eve.page).toHaveURL(/\/sign-in\?sso_error=/);
  await expect(eve.page.getByTestId('sso-error')).toContainText('No user of this organization');
  await eve.context.close();
});

test('an admin uploads the IdP metadata file; the setup guides name the connection values', async ({ page }) => {
  const problems = strictConsole(page);
  const saml = await samlIdp();
  await organization(page, `Upload SSO ${Date.now()}`);
  await page.goto('/sso');
  await hydrated(page);
  await page.getByTestId('add-saml').locator('summary').first().click();
  await page.locator('#saml-name').fill('PingOne');
  const xml = await (await page.request.get(`${saml.base}/metadata`)).text();
  await page.getByTestId('metadata-file').setInputFiles({ name: 'idp-metadata.xml', mimeType: 'application/xml', buffer: Buffer.from(xml) });
  await expect(page.locator('#saml-metadata')).toHaveValue(/EntityDescriptor/);
  await page.getByTestId('create-saml').click();
  await expect(page.getByTestId('connection-name')).toHaveText(['PingOne']);
  const acs = (await page.getByTestId('sp-acs-url').textContent())!.trim();
  await page.getByTestId('sso-guide-okta').locator('summary').click();
  await expect(page.getByTestId('sso-guide-okta')).toContainText(acs);
  await shot(page, 'sso-upload');
  expect(problems).toEqual([]);
});
