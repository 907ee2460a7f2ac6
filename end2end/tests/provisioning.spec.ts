import { expect, test, type APIRequestContext, type Page } from '@playwright/test';
import { dashboardApi } from './helpers';

const PASSWORD = 'correct horse battery staple';
const SCIM_JSON = 'application/scim+json';
const SHOTS = process.env.ROSTER_SCREENSHOTS; // a folder: save screenshots of each page there

async function hydrated(page: Page) {
  await expect(page.locator('body')).toHaveAttribute('data-hydrated', 'true');
}

async function shot(page: Page, name: string) {
  if (SHOTS) await page.screenshot({ path: `${SHOTS}/${name}.png`, fullPage: true });
}

async function signUp(page: Page, org: string) {
  const email = `admin-${Date.now()}-${Math.floor(Math.random() * 1e6)}@example.test`;
  await page.goto('/sign-up');
  await hydrated(page);
  await page.getByLabel('Organization name').fill(org);
  await page.getByLabel('Your name').fill('Grace Hopper');
  await page.getByLabel('Work email').fill(email);
  await page.getByLabel('Password', { exact: true }).fill(PASSWORD);
  await page.getByRole('button', { name: 'Create organization' }).click();
  await expect(page.getByTestId('org-name')).toHaveText(org);
}

/** What an identity provider does: push a user over SCIM. */
async function pushUser(request: APIRequestContext, base: string, token: string, userName: string, name: string) {
  const [given, family] = name.split(' ');
  const res = await request.post(`${base}/Users`, {
    headers: { Authorization: `Bearer ${token}`, 'Content-Type': SCIM_JSON },
    data: {
      schemas: ['urn:ietf:params:scim:schemas:core:2.0:User'],
      userName,
      name: { givenName: given, familyName: family },
      emails: [{ value: userName, type: 'work', primary: true }],
      active: true,
    },
  });
  expect(res.status()).toBe(201);
  return (await res.json()).id as string;
}

test('an admin activates SCIM, an IdP pushes users, the admin assigns them, then revokes the token', async ({
  page,
  request,
}) => {
  page.on('console', (m) => {
    if (m.type() === 'error') console.log(`browser: ${m.text()}`);
  });
  page.on('pageerror', (e) => console.log(`page error: ${e.message}`));
  await signUp(page, `Initech ${Date.now()}`);

  // SCIM setup: activate, generate a token, read the URL and the token once.
  await page.getByRole('link', { name: 'SCIM provisioning' }).click();
  await expect(page.getByRole('heading', { name: 'SCIM provisioning', level: 1 })).toBeVisible();
  await hydrated(page);
  await expect(page.getByTestId('scim-status')).toHaveText('Off');
  await expect(page.getByTestId('scim-switch')).toHaveAttribute('aria-checked', 'false');
  await page.getByTestId('scim-switch').click();
  await expect(page.getByTestId('scim-status')).toHaveText('On');
  await expect(page.getByTestId('scim-switch')).toHaveAttribute('aria-checked', 'true');
  await page.getByLabel('Name', { exact: true }).fill('Okta production');
  await page.getByTestId('generate-token').click();
  const panel = page.getByTestId('new-secret');
  await expect(panel).toBeVisible();
  await expect(panel).toContainText('will not be shown again');
  const base = (await page.getByTestId('secret-base-url').textContent())!.trim();
  const token = (await page.getByTestId('secret-value').textContent())!.trim();
  expect(token).toMatch(/^rst_/);
  await expect(page.getByTestId('credential-row')).toHaveCount(1);
  await shot(page, 'scim-setup');

  // The IdP pushes three users and a group with two of them.
  const ids = [
    await pushUser(request, base, token, 'alan@initech.test', 'Alan Turing'),
    await pushUser(request, base, token, 'barbara@initech.test', 'Barbara Liskov'),
    await pushUser(request, base, token, 'claude@initech.test', 'Claude Shannon'),
  ];
  const group = await request.post(`${base}/Groups`, {
    headers: { Authorization: `Bearer ${token}`, 'Content-Type': SCIM_JSON },
    data: {
      schemas: ['urn:ietf:params:scim:schemas:core:2.0:Group'],
      displayName: 'Engineering',
      members: [{ value: ids[0] }, { value: ids[1] }],
    },
  });
  expect(group.status()).toBe(201);

  // A user group to put them in.
  await page.getByRole('link', { name: 'User groups' }).click();
  await hydrated(page);
  await expect(page.getByTestId('groups-empty')).toBeVisible();
  await page.getByTestId('new-group').click();
  await page.getByTestId('group-name').fill('Engineers');
  await page.getByTestId('group-role').selectOption('member');
  await page.getByTestId('save-group').click();
  await expect(page.getByTestId('group-row')).toHaveCount(1);
  await shot(page, 'user-groups');

  // They arrived unassigned; the navigation counts them.
  await page.getByRole('link', { name: /Unassigned/ }).click();
  await hydrated(page);
  await expect(page.getByTestId('unassigned-count')).toHaveText('3');
  await expect(page.getByTestId('user-row')).toHaveCount(3);

  // Assign two at once.
  await page.getByRole('checkbox', { name: 'Select alan@initech.test' }).check();
  await page.getByRole('checkbox', { name: 'Select barbara@initech.test' }).check();
  await expect(page.getByTestId('selected-count')).toHaveText('2 selected');
  await page.getByTestId('assign-target').selectOption({ label: 'Engineers (Member)' });
  await page.getByTestId('assign').click();
  await expect(page.getByText('Assigned 2 users to “Engineers”.')).toBeVisible();
  await expect(page.getByTestId('user-row')).toHaveCount(1);
  await expect(page.getByTestId('user-row')).toContainText('claude@initech.test');
  await expect(page.getByTestId('unassigned-count')).toHaveText('1');
  await shot(page, 'unassigned');

  // The users table shows everyone, with their groups; search narrows it.
  await page.getByRole('link', { name: 'Users', exact: true }).click();
  await hydrated(page);
  await expect(page.getByTestId('user-row')).toHaveCount(3);
  await page.getByTestId('user-search').fill('liskov');
  await page.getByRole('button', { name: 'Search' }).click();
  await expect(page.getByTestId('user-row')).toHaveCount(1);
  await expect(page.getByTestId('user-row')).toContainText('Engineers');
  await shot(page, 'users');

  // The user's detail: read-only SCIM user, the reason for the membership, the IdP group.
  await page.getByRole('link', { name: 'barbara@initech.test' }).click();
  await expect(page.getByTestId('user-title')).toHaveText('Barbara Liskov');
  await expect(page.getByTestId('source-note')).toContainText('Managed by your identity provider');
  await expect(page.getByTestId('user-groups')).toContainText('Assigned by');
  await expect(page.getByText('Engineering')).toBeVisible();
  await expect(page.getByTestId('effective-role')).toHaveText('Member');
  await expect(page.getByTestId('timeline')).toContainText('assigned to user group "Engineers"');
  await shot(page, 'user-detail');

  // Revoke the token: the next SCIM call is refused.
  await page.getByRole('link', { name: 'SCIM provisioning' }).click();
  await hydrated(page);
  await page.getByTestId('revoke').click();
  await page.getByTestId('confirm-revoke').click();
  await expect(page.getByTestId('credential-row')).toContainText('Revoked');
  await expect(page.getByTestId('requests-24h')).not.toHaveText('0');
  const refused = await request.get(`${base}/Users`, { headers: { Authorization: `Bearer ${token}` } });
  expect(refused.status()).toBe(401);

  // The activity log has the IdP's requests and the admin's actions.
  await page.getByRole('link', { name: 'Activity' }).click();
  await hydrated(page);
  await expect(page.getByTestId('activity-row').first()).toBeVisible();
  await expect(page.getByTestId('activity-table')).toContainText('revoked "Okta production"');
  await expect(page.getByTestId('activity-table')).toContainText('POST /Users');
  await shot(page, 'activity');

  // The group's page: find the last unassigned user and add them; nobody is unassigned now.
  await page.getByRole('link', { name: 'User groups' }).click();
  await hydrated(page);
  await page.getByRole('link', { name: 'Engineers' }).click();
  await expect(page.getByTestId('group-title')).toHaveText('Engineers');
  await page.getByTestId('member-search').fill('shannon');
  await page.getByRole('button', { name: 'Find' }).click();
  await page.getByTestId('member-candidates').getByRole('button', { name: 'Add' }).click();
  await expect(page.getByTestId('group-members')).toContainText('claude@initech.test');
  await expect(page.getByTestId('unassigned-count')).toHaveCount(0);
  await shot(page, 'user-group');
});

test('CSV: import manual users with a per-line report, then export them', async ({ page }) => {
  await signUp(page, `Globex ${Date.now()}`);
  await page.goto('/users/import');
  await hydrated(page);

  // A file with a bad row imports nothing and says which line.
  await page.getByTestId('csv-file').setInputFiles({
    name: 'bad.csv',
    mimeType: 'text/csv',
    buffer: Buffer.from('userName,givenName,familyName,email,active\nhank@globex.test,Hank,Scorpio,hank@globex.test,true\nbad@globex.test,Bad,Row,not-an-email,true\n'),
  });
  await page.getByTestId('import').click();
  await expect(page.getByTestId('import-errors')).toContainText('valid email');
  await expect(page.getByTestId('import-errors')).toContainText('3');

  // The fixed file imports both.
  await page.getByTestId('csv-file').setInputFiles({
    name: 'good.csv',
    mimeType: 'text/csv',
    buffer: Buffer.from('userName,givenName,familyName,email,active\nhank@globex.test,Hank,Scorpio,hank@globex.test,true\nfrank@globex.test,Frank,Grimes,frank@globex.test,false\n'),
  });
  await page.getByTestId('import').click();
  await expect(page.getByText('Imported 2 users.')).toBeVisible();
  await shot(page, 'import');

  // They are in the table as manual users; the export holds them.
  await page.getByRole('link', { name: 'Users', exact: true }).click();
  await hydrated(page);
  await page.getByTestId('filter-manual').click();
  await expect(page.getByTestId('user-row')).toHaveCount(2);
  const [download] = await Promise.all([page.waitForEvent('download'), page.getByTestId('export').click()]);
  const path = await download.path();
  const fs = await import('node:fs');
  const csv = fs.readFileSync(path, 'utf8');
  expect(csv.split('\n')[0]).toContain('userName');
  expect(csv).toContain('hank@globex.test');
  expect(csv).toContain('frank@globex.test');
  expect(csv).toContain('manual');
});

test('mappings: a rule with a bad filter is refused, a good one places a pushed user', async ({ page, request }) => {
  await signUp(page, `Umbrella ${Date.now()}`);
  await page.getByRole('link', { name: 'SCIM provisioning' }).click();
  await hydrated(page);
  await expect(page.getByTestId('scim-switch')).toHaveAttribute('aria-checked', 'false');
  await page.getByTestId('scim-switch').click();
  await expect(page.getByTestId('scim-status')).toHaveText('On');
  await expect(page.getByTestId('scim-switch')).toHaveAttribute('aria-checked', 'true');
  await page.getByTestId('generate-token').click();
  const base = (await page.getByTestId('secret-base-url').textContent())!.trim();
  const token = (await page.getByTestId('secret-value').textContent())!.trim();

  await page.getByRole('link', { name: 'User groups' }).click();
  await hydrated(page);
  await page.getByTestId('new-group').click();
  await page.getByTestId('group-name').fill('US staff');
  await page.getByTestId('save-group').click();
  await expect(page.getByTestId('group-row')).toHaveCount(1);

  await page.getByRole('link', { name: 'Mappings' }).click();
  await hydrated(page);
  await expect(page.getByTestId('rules-empty')).toBeVisible();
  await page.getByTestId('rule-kind').selectOption('attribute');
  await page.getByTestId('rule-target').selectOption({ label: 'US staff' });
  await page.getByTestId('rule-filter').fill('addresses[type eq "work".country eq "US"');
  await page.getByTestId('save-rule').click();
  await expect(page.getByRole('alert')).toContainText('position');
  await page.getByTestId('rule-filter').fill('addresses[type eq "work"].country eq "US"');
  // Preview: nobody is in the organization yet.
  await page.getByTestId('preview-rule').click();
  await expect(page.getByTestId('preview')).toContainText('change nobody');
  await page.getByTestId('save-rule').click();
  await expect(page.getByTestId('rule-row')).toHaveCount(1);
  await expect(page.getByTestId('rule-row')).toContainText('US staff');
  await expect(page.getByTestId('mapping-run')).toContainText('“rule created”');
  await shot(page, 'mappings');

  // The IdP pushes a user in the US: placed by the rule, never unassigned.
  const res = await request.post(`${base}/Users`, {
    headers: { Authorization: `Bearer ${token}`, 'Content-Type': SCIM_JSON },
    data: {
      schemas: ['urn:ietf:params:scim:schemas:core:2.0:User'],
      userName: 'jill@umbrella.test',
      name: { givenName: 'Jill', familyName: 'Valentine' },
      addresses: [{ type: 'work', country: 'US' }],
    },
  });
  expect(res.status()).toBe(201);
  await page.getByRole('link', { name: 'Users', exact: true }).click();
  await hydrated(page);
  await expect(page.getByTestId('user-row')).toContainText('US staff');
  await expect(page.getByTestId('unassigned-count')).toHaveCount(0);
  await page.getByRole('link', { name: 'jill@umbrella.test' }).click();
  await expect(page.getByTestId('user-groups')).toContainText('Placed by the mapping rule');
  await expect(page.getByTestId('user-groups')).toContainText('country eq "US"');

  // Edit the rule to the UK: the US user is no longer placed, and shows up as unassigned.
  await page.getByRole('link', { name: 'Mappings' }).click();
  await hydrated(page);
  await page.getByTestId('edit-rule').click();
  await expect(page.getByRole('heading', { name: 'Edit rule' })).toBeVisible();
  await expect(page.getByTestId('rule-filter')).toHaveValue('addresses[type eq "work"].country eq "US"');
  await page.getByTestId('rule-filter').fill('addresses[type eq "work"].country eq "GB"');
  await page.getByTestId('preview-rule').click();
  await expect(page.getByTestId('preview')).toContainText('jill@umbrella.test');
  await page.getByTestId('save-rule').click();
  await expect(page.getByTestId('rule-row')).toContainText('"GB"');
  await expect(page.getByTestId('mapping-run')).toContainText('1 user evaluated after “rule changed”');
  await expect(page.getByTestId('mapping-run')).toContainText('1 user changed user groups');
  await page.getByRole('link', { name: /Unassigned/ }).click();
  await hydrated(page);
  await expect(page.getByTestId('user-row')).toContainText('jill@umbrella.test');
  await expect(page.getByTestId('unassigned-count')).toHaveText('1');
});

test('adding a user by hand lands on their page; a taken name is said in words', async ({ page }) => {
  await signUp(page, `Manual ${Date.now()}`);
  const userName = `contractor-${Date.now()}@example.test`;
  await page.goto('/users/new');
  await hydrated(page);
  await page.getByLabel('User name').fill(userName);
  await page.getByLabel('First name').fill('Carla');
  await page.getByLabel('Last name').fill('Contractor');
  await page.getByRole('button', { name: 'Add user' }).click();
  await expect(page).toHaveURL(/\/users\/[0-9a-f-]{36}$/);
  await expect(page.getByTestId('user-title')).toHaveText('Carla Contractor');

  await page.goto('/users/new');
  await hydrated(page);
  await page.getByLabel('User name').fill(userName.toUpperCase());
  await page.getByRole('button', { name: 'Add user' }).click();
  await expect(page.getByRole('alert')).toContainText('already exists');
  await expect(page).toHaveURL(/\/users\/new$/);
  // The message links to the user who has the name.
  await page.getByTestId('exists-error').getByRole('link', { name: 'Open their page' }).click();
  await expect(page).toHaveURL(/\/users\/[0-9a-f-]{36}$/);
  await expect(page.getByTestId('user-title')).toHaveText('Carla Contractor');
});

test('the overview says where the organization stands, and its checklist turns green as setup happens', async ({ page, request }) => {
  const org = `Checklist ${Date.now()}`;
  await signUp(page, org);
  await hydrated(page);
  const checklist = page.getByTestId('checklist');
  await expect(checklist.locator('li[data-done="true"]')).toHaveCount(0);
  await expect(checklist.locator('li.next')).toContainText('Activate SCIM');
  await expect(page.getByTestId('overview-scim')).toHaveText('Off');
  await expect(page.getByText('not available yet')).toHaveCount(0);

  // The next step's link leads to the SCIM page.
  await checklist.getByRole('link', { name: 'Activate it on the SCIM page' }).click();
  await expect(page).toHaveURL(/\/scim$/);
  const api = dashboardApi(page);
  await api('scim_enable', { enabled: true });
  const made = await (await api('scim_credential_create', { kind: 'bearer', name: 'Okta', expires_in_days: 30 })).json();
  const id = await pushUser(request, made.scim_base_url, made.secret, `ada-${Date.now()}@example.test`, 'Ada Lovelace');
  await page.goto('/');
  await hydrated(page);
  await expect(checklist.locator('li[data-done="true"]')).toHaveCount(3);
  await expect(checklist.locator('li.next')).toContainText('Put users into user groups');
  await expect(page.getByTestId('overview-unassigned')).toHaveText('1');
  await expect(page.getByTestId('overview-health')).toHaveText('Healthy');

  // Nothing to assign to yet: the Unassigned page says where user groups are made.
  await checklist.getByRole('link', { name: 'Assign the unassigned users, or add a mapping rule' }).click();
  await expect(page).toHaveURL(/\/unassigned$/);
  await page.getByTestId('no-user-groups').getByRole('link', { name: 'Create a user group' }).click();
  await expect(page).toHaveURL(/\/user-groups$/);
  const group = await (await api('user_group_create', { input: { name: 'Engineers', description: '', role: 'member' } })).json();
  await page.goto('/unassigned');
  await hydrated(page);
  await expect(page.getByTestId('no-user-groups')).toHaveCount(0);
  await api('user_group_assign', { group_id: group.id, user_ids: [id] });
  await page.goto('/');
  await hydrated(page);
  await expect(checklist.locator('li[data-done="true"]')).toHaveCount(4);
  await expect(page.getByText('All set')).toBeVisible();
  await shot(page, 'overview');

  // Rotating names the new credential and marks the old one until it is revoked.
  await api('scim_credential_rotate', { id: made.credential.id });
  await page.goto('/scim');
  await hydrated(page);
  const oldRow = page.getByTestId('credential-row').filter({ hasText: 'Replaced' });
  await expect(oldRow).toHaveCount(1);
  await expect(oldRow).toContainText('revoke this one once your identity provider uses the new one');
  await expect(page.getByTestId('credential-row').filter({ hasText: /Okta \(rotated \d{4}-\d{2}-\d{2}\)/ })).toHaveCount(2);
  await shot(page, 'scim-rotated');
});
