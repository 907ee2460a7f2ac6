import { defineConfig } from '@playwright/test';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

// Each run starts its own roster server on a fresh SQLite database and a port of its own, so
// the tests never touch a developer's ./data and never collide with `roster serve` on 3000.
const port = Number(process.env.ROSTER_E2E_PORT ?? 3107);
// Workers load this file again; they inherit the folder the main process made through the
// environment, so that tests can reach the server's database with the `roster` CLI.
const dbDir = process.env.ROSTER_E2E_DIR ?? fs.mkdtempSync(path.join(os.tmpdir(), 'roster-e2e-'));
process.env.ROSTER_E2E_DIR = dbDir;
process.env.ROSTER_E2E_DB = `sqlite://${dbDir}/e2e.db`;
// Mail the server sends goes to a real SMTP server (PyPI aiosmtpd) that writes each message to
// this folder as JSON; specs read it and follow the links.
const smtpPort = port + 1;
process.env.ROSTER_E2E_MAIL = path.join(dbDir, 'mail');
const python = path.join(__dirname, '..', '.tools', 'test-venv', 'bin', 'python');
const roster = process.env.ROSTER_BIN ?? path.join(__dirname, '..', 'target', 'debug', 'roster');
process.env.ROSTER_BIN = roster;

export default defineConfig({
  testDir: './tests',
  timeout: 60_000,
  expect: { timeout: 15_000 },
  fullyParallel: true,
  workers: process.env.CI ? 2 : undefined,
  retries: 0,
  reporter: [['list']],
  use: {
    baseURL: `http://127.0.0.1:${port}`,
    trace: 'retain-on-failure',
    screenshot: 'only-on-failure',
    launchOptions: {
      executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
        '--no-first-run',
        '--disable-quic',
      ],
    },
  },
  projects: [{ name: 'chromium', use: { browserName: 'chromium', headless: true } }],
  webServer: [
    {
      command: `"${python}" idp/smtp.py "${process.env.ROSTER_E2E_MAIL}" ${smtpPort}`,
      cwd: __dirname,
      port: smtpPort,
      reuseExistingServer: false,
      timeout: 30_000,
      stdout: 'ignore',
      stderr: 'pipe',
    },
    {
      // Every test signs up its own organizations from this one address.
      // The test IdPs (end2end/idp) serve plain http on loopback: the server may fetch their
      // metadata and discovery documents.
      command: `"${roster}" serve --database-url "sqlite://${dbDir}/e2e.db" --bind 127.0.0.1:${port} --sign-ups-per-hour 10000 --secret-key-file "${dbDir}/secret.key" --sso-allow-http-loopback --webhook-allow-loopback --smtp-host 127.0.0.1 --smtp-port ${smtpPort} --smtp-security none --smtp-from "Roster <roster@e2e.test>"`,
      cwd: path.join(__dirname, '..'),
      url: `http://127.0.0.1:${port}/readyz`,
      reuseExistingServer: false,
      timeout: 60_000,
      stdout: 'ignore',
      stderr: 'pipe',
      env: { RUST_LOG: 'warn' },
    },
  ],
});
