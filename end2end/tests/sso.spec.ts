// Single sign-on against real identity providers started here: npm `samlify` (SAML) and npm
// `oidc-provider` (OpenID Connect), each with a tiny login form (end2end/idp). An admin
// configures both connections in the dashboard; SCIM-provisioned people sign in through each and
// land where their role says: Member on *My access*, Admin in the dashboard (and administers it),
// Viewer in the dashboard read-only.
import { spawn, type ChildProcess } from 'node:child_process';
import * as path from 'node:path';
import { expect, test, type Browser, type Page } from '@playwright/test';
import { dashboardApi, roster, strictConsole } from './helpers';

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

/** Adds and verifies (on the operator's word: DNS has a test of its own) an email domain. */
function verifiedDomain(tenant: string, domain: string) {
  roster(['tenant', 'domain', 'add', '--tenant', tenant, '--domain', domain]);
  roster(['tenant', 'domain', 'verify', '--tenant', tenant, '--domain', domain, '--force']);
}

/** An organization with SCIM on, a verified domain of its own (`people.domain`), three
 * provisioned people there, and user groups with each role. */
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
  const domain = `acme-${suffix}.test`;
  const tenant = made.scim_base_url.split('/scim/v2/')[1].split('/')[0] as string;
  verifiedDomain(tenant, domain);
  const people: Record<string, string> = { domain, tenant, scim: made.scim_base_url, token: made.secret };
  for (const who of ['ada', 'root', 'vera']) {
    const userName = `${who}@${domain}`;
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
async function signInAs(browser: Browser, link: string, connection: string, user: string, javaScriptEnabled = true,
  extra?: Record<string, string | string[]>) {
  const context = await browser.newContext({ javaScriptEnabled });
  const page = await context.newPage();
  const problems = strictConsole(page);
  await page.goto(link);
  // With one connection the link goes straight to the IdP; with several it offers a choice.
  const choice = page.getByRole('link', { name: `Sign in with ${connection}` });
  await expect(page.getByLabel('User name').or(choice)).toBeVisible();
  if (await choice.isVisible()) await choice.click();
  await page.getByLabel('User name').fill(user);
  if (extra) await page.getByLabel(/(Attributes|Claims) \(JSON\)/).fill(JSON.stringify(extra));
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
  await expect(eve.page.getByTestId('sso-error')).toContainText('not been given access yet');
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

/** Creates a SAML connection (IdP metadata by URL) and, given an OIDC provider of the test's
 * own (an issuer belongs to one organization), an OIDC one, through the forms' API. */
async function connections(page: Page, saml: { base: string }, oidcBase?: string) {
  const headers = { 'sec-fetch-site': 'same-origin', Accept: 'application/json' };
  let res = await page.request.post('/api/form/sso_saml_create', { form: { name: 'Okta', metadata_url: `${saml.base}/metadata` }, headers });
  expect(res.status()).toBe(200);
  const samlId = await res.json();
  let oidcId = '';
  if (oidcBase) {
    res = await page.request.post('/api/form/sso_oidc_create', {
      form: { name: 'Entra', issuer: oidcBase, client_id: 'roster', client_secret: 'roster-secret', scopes: '' }, headers });
    expect(res.status(), await res.text()).toBe(200);
    oidcId = await res.json();
  }
  const link = (await (await dashboardApi(page)('sso_setup', {})).json()).tenant_sign_in_url as string;
  return { samlId, oidcId, link };
}

async function jitSettings(page: Page, id: string, fields: Record<string, string>) {
  const res = await page.request.post('/api/form/sso_connection_jit', {
    form: { id, update: 'every_sign_in', link_key: 'user_name', ...fields },
    headers: { 'sec-fetch-site': 'same-origin', Accept: 'application/json' },
  });
  expect(res.status(), await res.text()).toBe(200);
}

test('just in time: new people get a user at their first sign-in, with the default role and group or their rule', async ({ page, browser }) => {
  test.setTimeout(150_000);
  const adminProblems = strictConsole(page);
  const saml = await samlIdp();
  const people = await organization(page, `JIT ${Date.now()}`);
  const api = dashboardApi(page);
  const ownOidc = await startIdp('oidc.mjs', { OIDC_PORT: '0', OIDC_REDIRECT_PREFIX: `${new URL(page.url()).origin}/sso/oidc/` });
  samlIdps.push(ownOidc.proc);
  const { samlId, link } = await connections(page, saml, ownOidc.base);
  const everyone = await (await api('user_group_create', { input: { name: 'Everyone', description: '', role: 'member' } })).json();
  expect((await api('user_group_default', { id: everyone.id })).status()).toBe(200);
  const research = await (await api('user_group_create', { input: { name: 'Research', description: '', role: 'admin' } })).json();
  expect((await api('mapping_rule_create', { rule: { id: '', condition: { kind: 'attribute', filter: 'department eq "Research"' },
    user_group_id: research.id, enabled: true } })).status()).toBe(200);
  const nia = `nia@${people.domain}`;

  // JIT off (the default): a new person is told they have no access yet; nobody is created.
  let nobody = await signInAs(browser, link, 'Entra', nia);
  await expect(nobody.page).toHaveURL(/\/sign-in\?sso_error=/);
  await expect(nobody.page.getByTestId('sso-error')).toContainText('not been given access yet');
  await nobody.context.close();

  // The admin switches JIT on for the OIDC connection on the Single sign-on page.
  await page.goto('/sso');
  await hydrated(page);
  const entra = page.getByTestId('connection').filter({ has: page.getByTestId('connection-name').filter({ hasText: /^Entra$/ }) });
  await entra.getByTestId('jit').locator('summary').click();
  await expect(entra.getByTestId('jit-preset')).toHaveValue('oidc');
  await entra.getByTestId('jit-enabled').check();
  await entra.getByTestId('jit-attributes').fill('department = department');
  await shot(page, 'sso-jit-form');
  await entra.getByTestId('jit-save').click();
  await expect(entra.getByTestId('jit-state')).toHaveText('On');

  // OIDC: a new person lands on My access with the default user group's role.
  const niaSession = await signInAs(browser, link, 'Entra', nia, true, { department: 'Engineering' });
  await expect(niaSession.page).toHaveURL(/\/me$/);
  await expect(niaSession.page.getByTestId('my-role')).toHaveText('Member');
  await expect(niaSession.page.getByText('Everyone')).toBeVisible();
  await hydrated(niaSession.page);
  await shot(niaSession.page, 'jit-my-access');
  expect(niaSession.problems).toEqual([]);
  await niaSession.context.close();

  // SAML with Entra ID's claim URIs: the department claim matches the attribute rule (Admin).
  await jitSettings(page, samlId, { enabled: 'on', preset: 'entra', attributes: 'dept = department' });
  const claims = 'http://schemas.xmlsoap.org/ws/2005/05/identity/claims';
  const rex = `rex@${people.domain}`;
  const rexSession = await signInAs(browser, link, 'Okta', rex, true, {
    'http://schemas.microsoft.com/identity/claims/objectidentifier': 'oid-rex',
    [`${claims}/givenname`]: 'Rex', [`${claims}/surname`]: 'Research', [`${claims}/emailaddress`]: rex, dept: 'Research' });
  await expect(rexSession.page).toHaveURL(/\/$/);
  await expect(rexSession.page.getByTestId('org-name')).toBeVisible();
  expect(rexSession.problems).toEqual([]);
  await rexSession.context.close();

  // Flosum's spelling (userUniqueId) with the generic preset.
  await jitSettings(page, samlId, { enabled: 'on', preset: 'generic' });
  const flo = `flo@${people.domain}`;
  const floSession = await signInAs(browser, link, 'Okta', flo, true,
    { userUniqueId: 'flo-1', firstName: 'Flo', lastName: 'Sum', email: flo });
  await expect(floSession.page).toHaveURL(/\/me$/);
  await expect(floSession.page.getByTestId('my-user-name')).toHaveText(flo);
  await floSession.context.close();

  // The admin sees the three under Just-in-time, placed where their claims say.
  await page.goto('/users?filter=jit');
  await hydrated(page);
  await expect(page.getByTestId('user-row')).toHaveCount(3);
  await expect(page.getByTestId('user-row').filter({ hasText: rex })).toContainText('Research');
  await expect(page.getByTestId('user-row').filter({ hasText: nia })).toContainText('Everyone');
  await shot(page, 'jit-users');
  expect(adminProblems).toEqual([]);
});

test('a SCIM user is linked, not duplicated; deactivation ends their session; a manual user is linked only by an admin', async ({ page, browser }) => {
  test.setTimeout(150_000);
  const saml = await samlIdp();
  const people = await organization(page, `Link ${Date.now()}`);
  const api = dashboardApi(page);
  const { samlId, link } = await connections(page, saml);
  await jitSettings(page, samlId, { enabled: 'on', preset: 'generic' });

  // Ada (provisioned over SCIM) signs in with JIT on: her own user, no second one.
  const ada = await signInAs(browser, link, 'Okta', people.ada, true, { uniqueUserId: 'u-ada', email: people.ada, firstName: 'Someone else' });
  await expect(ada.page).toHaveURL(/\/me$/);
  await expect(ada.page.getByTestId('my-role')).toHaveText('Member');
  const found = await (await api('users', { query: { search: 'ada@', filter: 'all', sort: 'created', descending: true, page: 1, page_size: 10, user_group: null } })).json();
  expect(found.total).toBe(1);
  expect(found.rows[0].display_name).toBe('Ada Test');

  // The IdP deactivates her: her open session ends at once, and the next sign-in is refused.
  const scimUser = found.rows[0].id;
  const res = await page.request.patch(`${people.scim}/Users/${scimUser}`, {
    headers: { Authorization: `Bearer ${people.token}`, 'Content-Type': 'application/scim+json' },
    data: { schemas: ['urn:ietf:params:scim:api:messages:2.0:PatchOp'], Operations: [{ op: 'replace', value: { active: false } }] },
  });
  expect(res.status()).toBe(200);
  await ada.page.reload();
  await expect(ada.page).toHaveURL(/\/sign-in/);
  await ada.context.close();
  const again = await signInAs(browser, link, 'Okta', people.ada, true, { uniqueUserId: 'u-ada', email: people.ada });
  await expect(again.page.getByTestId('sso-error')).toContainText('deactivated');
  await again.context.close();

  // A manual user with the same email: refused, never taken over.
  const mia = `mia@${people.domain}`;
  const made = await api('user_create', { input: { user_name: mia, given_name: 'Mia', family_name: 'Manual', email: mia, external_id: '', active: true } });
  expect(made.status()).toBe(200);
  const miaId = await made.json();
  let miaSession = await signInAs(browser, link, 'Okta', mia, true, { uniqueUserId: 'u-mia', email: mia });
  await expect(miaSession.page.getByTestId('sso-error')).toContainText('created by hand');
  await miaSession.context.close();

  // The admin links the refused identity from Mia's page; then she signs in.
  await page.goto(`/users/${miaId}`);
  await hydrated(page);
  await expect(page.getByTestId('link-suggestion')).toContainText(mia);
  await shot(page, 'jit-link-suggestion');
  await page.getByTestId('link-suggested').click();
  await expect(page.getByTestId('linked-identity')).toContainText(mia);
  miaSession = await signInAs(browser, link, 'Okta', mia, true, { uniqueUserId: 'u-mia', email: mia });
  await expect(miaSession.page).toHaveURL(/\/me$/);
  await expect(miaSession.page.getByTestId('my-user-name')).toHaveText(mia);
  await miaSession.context.close();
});
