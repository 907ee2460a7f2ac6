// What several specs share: the operator's CLI against the test server's database, and the
// dashboard's own API called from a signed-in page.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { expect, type APIResponse, type Page } from '@playwright/test';

/** Runs the `roster` CLI against the test server's database, as an operator would. */
export function roster(args: string[], input = ''): string {
  return execFileSync(process.env.ROSTER_BIN!, [...args, '--database-url', process.env.ROSTER_E2E_DB!], {
    input,
    env: { ...process.env, RUST_LOG: 'warn' },
  }).toString();
}

/** Calls a dashboard server function with the page's session, as the hydrated page does. */
export function dashboardApi(page: Page): (name: string, data: unknown) => Promise<APIResponse> {
  return (name, data) =>
    page.request.post(`/api/${name}`, { data, headers: { 'sec-fetch-site': 'same-origin', Accept: 'application/json' } });
}

/**
 * Collects every console error and warning and every uncaught error of the page: a page whose
 * hydration panicked still looks complete (and still sets data-hydrated), so specs assert this
 * list is empty.
 */
export function strictConsole(page: Page): string[] {
  const problems: string[] = [];
  page.on('console', (m) => {
    if (m.type() === 'error' || m.type() === 'warning') problems.push(`${m.type()}: ${m.text().slice(0, 300)}`);
  });
  page.on('pageerror', (e) => problems.push(`page error: ${e.message.slice(0, 300)}`));
  return problems;
}

/** A message the test SMTP server received. */
export interface Mail {
  from: string;
  to: string[];
  subject: string;
  text: string;
  html: string;
}

/** Waits for the newest message to `to` whose subject contains `subject`. */
export async function mailTo(to: string, subject: string): Promise<Mail> {
  const dir = process.env.ROSTER_E2E_MAIL!;
  for (let i = 0; i < 200; i++) {
    const names = fs.existsSync(dir) ? fs.readdirSync(dir).filter((n) => n.endsWith('.json')).sort().reverse() : [];
    for (const name of names) {
      const mail: Mail = JSON.parse(fs.readFileSync(path.join(dir, name), 'utf8'));
      if (mail.to.includes(to) && mail.subject.includes(subject)) return mail;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`no mail to ${to} about "${subject}"`);
}

/** The first link in a text that starts with `prefix`. */
export function linkIn(text: string, prefix: string): string {
  const at = text.indexOf(prefix);
  if (at < 0) throw new Error(`no ${prefix} link in ${text}`);
  return text.slice(at).split(/\s/)[0];
}

/** The password every spec's people sign up and sign in with. */
export const PASSWORD = 'correct horse battery staple';

/** Signs up a new organization (its admin: Grace Hopper at a unique address) and waits for its Overview. */
export async function signUp(page: Page, org: string): Promise<void> {
  const email = `grace-${Date.now()}-${Math.floor(Math.random() * 1e6)}@example.test`;
  await page.goto('/sign-up');
  await page.getByLabel('Organization name').fill(org);
  await page.getByLabel('Your name').fill('Grace Hopper');
  await page.getByLabel('Work email').fill(email);
  await page.getByLabel('Password', { exact: true }).fill(PASSWORD);
  await page.getByRole('button', { name: 'Create organization' }).click();
  await expect(page.getByTestId('org-name')).toHaveText(org);
}
