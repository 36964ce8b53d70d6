// Chromium through playwright-core (no browser download), and the console's shared pieces per CONTRACT.md:
// sign-in, the main navigation, page headings, screenshots.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { chromium } from 'playwright-core';

export const DESKTOP = { width: 1280, height: 800 };
export const MOBILE = { width: 390, height: 844 };

export function launchBrowser() {
  return chromium.launch({
    executablePath: process.env.SWITCHYARD_E2E_CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
    ],
  });
}

/** Where a scenario's screenshots and logs go, and a record of how it ended (read by run.mjs). */
export class Scenario {
  constructor(browser, name, { baseUrl, artifacts }) {
    this.browser = browser;
    this.name = name;
    this.baseUrl = baseUrl;
    this.artifacts = artifacts;
    this.step = 0;
    this.contexts = [];
    this.pages = [];
    this.logFile = path.join(artifacts, `${name}-browser.log`);
    fs.mkdirSync(artifacts, { recursive: true });
    fs.writeFileSync(this.logFile, '');
  }

  log(line) {
    fs.appendFileSync(this.logFile, `${new Date().toISOString()} ${line}\n`);
  }

  /** A page in a context of its own (its own cookies: one signed-in user), 1280 px wide. */
  async newPage(who) {
    const context = await this.browser.newContext({ viewport: DESKTOP, acceptDownloads: true, baseURL: this.baseUrl });
    await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: this.baseUrl });
    this.contexts.push(context);
    const page = await context.newPage();
    page.setDefaultTimeout(15_000);
    page.setDefaultNavigationTimeout(30_000);
    page.on('console', (m) => {
      if (m.type() === 'error' || m.type() === 'warning') this.log(`[${who}] console.${m.type()}: ${m.text()}`);
    });
    page.on('pageerror', (e) => this.log(`[${who}] pageerror: ${e.message}`));
    page.on('response', (r) => {
      if (r.status() >= 400) this.log(`[${who}] ${r.status()} ${r.request().method()} ${r.url()}`);
    });
    page.on('requestfailed', (r) => this.log(`[${who}] failed ${r.method()} ${r.url()}: ${r.failure()?.errorText}`));
    this.pages.push({ who, page });
    return page;
  }

  /** A full-page screenshot `<scenario>-<nn>-<step>.png`. */
  async shot(page, step) {
    this.step += 1;
    const file = path.join(this.artifacts, `${this.name}-${String(this.step).padStart(2, '0')}-${step}.png`);
    await page.screenshot({ path: file, fullPage: true });
    this.log(`screenshot ${path.basename(file)} at ${page.url()}`);
    return file;
  }

  /** The same page at 390 px wide, then back to 1280 px. */
  async mobileShot(page, step) {
    await page.setViewportSize(MOBILE);
    try {
      await page.waitForTimeout(300); // let the layout settle
      return await this.shot(page, `${step}-390px`);
    } finally {
      await page.setViewportSize(DESKTOP);
    }
  }

  /** On failure: a screenshot of every open page, named after who was using it. */
  async failureShots() {
    for (const { who, page } of this.pages) {
      if (page.isClosed()) continue;
      const file = path.join(this.artifacts, `${this.name}-FAILED-${who}.png`);
      await page.screenshot({ path: file, fullPage: true }).catch(() => {});
      this.log(`failure screenshot ${path.basename(file)} at ${page.url()}`);
    }
  }

  async close() {
    for (const c of this.contexts) await c.close().catch(() => {});
  }
}

/** Runs one scenario: records its start and end in results.jsonl, screenshots every page on failure. */
export async function runScenario(browser, name, env, fn) {
  const results = path.join(env.artifacts, 'results.jsonl');
  const started = Date.now();
  fs.appendFileSync(results, `${JSON.stringify({ name, event: 'start' })}\n`);
  const sc = new Scenario(browser, name, env);
  try {
    await fn(sc);
    fs.appendFileSync(results, `${JSON.stringify({ name, event: 'pass', ms: Date.now() - started })}\n`);
  } catch (err) {
    await sc.failureShots();
    sc.log(`FAILED: ${err.stack || err}`);
    const error = String(err.message || err).split('\n')[0].slice(0, 300);
    fs.appendFileSync(results, `${JSON.stringify({ name, event: 'fail', ms: Date.now() - started, error })}\n`);
    throw err;
  } finally {
    await sc.close();
  }
}

// ---- the console's shared pieces --------------------------------------------------------------------------

export const mainNav = (page) => page.getByRole('navigation', { name: 'Main' });
export const navLink = (page, name) => mainNav(page).getByRole('link', { name, exact: true });

/** The page's single h1 shows `name`. */
export async function expectHeading(page, name) {
  const h1 = page.getByRole('heading', { level: 1 });
  await h1.first().waitFor();
  await assertEventually(async () => {
    assert.equal(await h1.count(), 1, 'one h1 per page');
    assert.equal((await h1.textContent()).trim(), name);
  });
}

/** A short retry of a UI assertion (the page renders asynchronously). */
export async function assertEventually(fn, timeout = 10_000) {
  const deadline = Date.now() + timeout;
  for (;;) {
    try {
      return await fn();
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, 200));
    }
  }
}

/**
 * Signs in through `/login` and waits for the landing page: `/` (Overview) or `/keys` (API keys, developers).
 * Checks the header shows the email and the role, and the **Sign out** button.
 */
export async function signIn(page, { email, password, role }) {
  await page.goto('/login');
  await page.getByRole('heading', { name: 'Sign in', exact: true }).waitFor();
  await page.getByLabel('Email', { exact: true }).fill(email);
  await page.getByLabel('Password', { exact: true }).fill(password);
  await page.getByRole('button', { name: 'Sign in', exact: true }).click();
  await expectSignedIn(page, { email, role });
}

/**
 * Accepts an invitation on its link's page (`/invite#syi_…`, opened unless the page is already there) with a
 * name and a password, and waits for the landing page as `signIn` does.
 */
export async function acceptInvitation(page, link, { email, name, password, role }) {
  if (page.url() !== link) await page.goto(link);
  await page.getByRole('heading', { name: 'Accept your invitation', exact: true }).waitFor();
  if (name) await page.getByLabel('Name (optional)', { exact: true }).fill(name);
  await page.getByLabel('Password', { exact: true }).fill(password);
  await page.getByRole('button', { name: 'Accept invitation', exact: true }).click();
  await expectSignedIn(page, { email, role });
}

/**
 * The role's landing page after a sign-in, `/` (Overview) or `/keys` (API keys, developers), with the email and
 * the role in the header and the **Sign out** button.
 */
export async function expectSignedIn(page, { email, role }) {
  const landing = role === 'developer' ? '/keys' : '/';
  await page.waitForURL((url) => url.pathname === landing);
  await expectHeading(page, role === 'developer' ? 'API keys' : 'Overview');
  await mainNav(page).waitFor();
  const banner = page.getByRole('banner');
  const header = (await banner.count()) > 0 ? banner.first() : page.locator('body');
  await assertEventually(async () => {
    const text = await header.innerText();
    assert.ok(text.includes(email), `the header shows ${email}`);
    // The e-mail itself may contain the role's word: look for the role in the rest of the header.
    const rest = text.replaceAll(email, ' ');
    assert.ok(new RegExp(`\\b${role}\\b`, 'i').test(rest), `the header shows the role ${role}: ${JSON.stringify(rest)}`);
  });
  await page.getByRole('button', { name: 'Sign out', exact: true }).waitFor();
}

/** Client-side navigation through the main nav; waits for the page's h1. */
export async function goTo(page, linkName, heading = linkName) {
  await navLink(page, linkName).click();
  await expectHeading(page, heading);
}

/**
 * Waits until the page has loaded what it reads: every loading line of the console carries `aria-busy`, and a
 * page renders its loading lines as it mounts. (`networkidle` would not do: after a client-side navigation it
 * is already reached.)
 */
export async function settled(page, timeout = 15_000) {
  await page.waitForFunction(() => document.querySelectorAll('[aria-busy="true"]').length === 0, null, { timeout });
}

/** The names of the main nav's links. */
export async function navLinkNames(page) {
  const names = await mainNav(page).getByRole('link').allInnerTexts();
  return names.map((n) => n.trim());
}

/** The text of an element given by aria-label: an input's value, or else its text. */
export async function valueOf(locator) {
  const text = await locator.evaluate((el) =>
    el instanceof HTMLInputElement || el instanceof HTMLTextAreaElement ? el.value : el.textContent,
  );
  return String(text ?? '').trim();
}

/** The rows of `table` that contain `text` (with or without a `<tbody>`: DOM-built tables may have none). */
export const rowsWith = (table, text) => table.locator('tr').filter({ hasText: text });

/** The cell of `row` under the header `column` of `table` (the last `<thead>` row, else the first row). */
export async function cellUnder(table, row, column) {
  const headerRow = (await table.locator('thead tr').count())
    ? table.locator('thead tr').last()
    : table.locator('tr').first();
  const headers = (await headerRow.locator('th, td').allInnerTexts()).map((h) => h.trim().toLowerCase());
  const index = headers.indexOf(column.toLowerCase());
  assert.ok(index >= 0, `the table has a "${column}" column (headers: ${JSON.stringify(headers)})`);
  return row.locator(':scope > th, :scope > td').nth(index);
}
