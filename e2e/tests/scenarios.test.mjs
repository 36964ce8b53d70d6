// The console's end-to-end scenarios (CONTRACT.md), run by `node e2e/run.mjs` against the real stack.
// Each scenario signs up fresh tenants through the API; set-up that is not the scenario's point uses the admin
// API, and the point itself goes through the browser.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';

import { Api, PASSWORD } from '../lib/api.mjs';
import {
  acceptInvitation,
  assertEventually,
  cellUnder,
  expectHeading,
  expectSignedIn,
  goTo,
  launchBrowser,
  navLinkNames,
  rowsWith,
  runScenario,
  settled,
  signIn,
  valueOf,
} from '../lib/browser.mjs';
import { settings } from '../lib/stack.mjs';
import { csvObjects, displayedUnits, eventually, fromUnits, sleep, toUnits, uid, utcDay } from '../lib/util.mjs';

const TIMEOUT = Number(process.env.SWITCHYARD_E2E_TEST_TIMEOUT || 120) * 1000;

const env = {
  baseUrl: process.env.SWITCHYARD_E2E_BASE_URL,
  mockUrl: process.env.SWITCHYARD_E2E_MOCK_URL,
  artifacts: settings().artifacts,
};
const api = new Api(env.baseUrl);
let browser;

/** The visible text of the whole page. */
const pageText = (page) => page.locator('body').innerText();

/** Selects by the option's visible label (team and key selects). */
const selectLabel = (page, label, optionLabel) =>
  page.getByLabel(label, { exact: true }).selectOption({ label: optionLabel });

/** Every key of a JSON value, at any depth. */
const keysOf = (value) =>
  value && typeof value === 'object'
    ? Object.entries(value).flatMap(([k, v]) => [...(Array.isArray(value) ? [] : [k]), ...keysOf(v)])
    : [];

/** The role shown in a members-table row: a `<select>`'s value if the role is editable there, else the text. */
async function roleInRow(table, row) {
  const cell = await cellUnder(table, row, 'Role');
  const select = cell.locator('select');
  return (await select.count()) ? select.inputValue() : (await cell.innerText()).trim();
}

/** `ok` calls of `secret`; returns each call's request id and usage. */
async function makeCalls(secret, n, label) {
  const calls = [];
  for (let i = 0; i < n; i += 1) calls.push(await api.chatOk(secret, `${label} call ${i + 1} ${uid()}`));
  return calls;
}

/** Picos of a call from its tokens and the deployment's prices (per million tokens, at most 6 decimals). */
function costFromTokens(deployment, input, output) {
  return BigInt(input) * toUnits(deployment.input_price, 6) + BigInt(output) * toUnits(deployment.output_price, 6);
}

describe('Switchyard console', { concurrency: false }, () => {
  before(async () => {
    assert.ok(env.baseUrl && env.mockUrl, 'run through run.mjs, or set SWITCHYARD_E2E_BASE_URL and SWITCHYARD_E2E_MOCK_URL');
    browser = await launchBrowser();
  });

  after(async () => {
    await browser?.close();
  });

  it('s1-members: the owner creates a team and invites a finance user and a developer, who accept', { timeout: TIMEOUT }, () =>
    runScenario(browser, 's1-members', env, async (sc) => {
      const owner = await api.signUp('one');
      const page = await sc.newPage('owner');
      await signIn(page, { ...owner, role: 'owner' });
      await sc.shot(page, 'overview');

      // A team, through the Teams page.
      const teamName = `Platform ${uid()}`;
      const teamSlug = `platform-${uid()}`;
      await goTo(page, 'Teams');
      await page.getByLabel('Slug', { exact: true }).fill(teamSlug);
      await page.getByLabel('Name', { exact: true }).fill(teamName);

      // The session expires while the form is filled in: the gateway refuses the access token and the refresh
      // cookie is gone. The sign-in dialog opens over the page; after signing in, what was typed is still there.
      await page.context().clearCookies();
      let expireOnce = true;
      await page.route('**/api/v1/teams', (route) => {
        if (expireOnce && route.request().method() === 'POST') {
          expireOnce = false;
          return route.fulfill({
            status: 401,
            contentType: 'application/json',
            body: JSON.stringify({ error: { code: 'token_expired', message: 'access token expired', details: null } }),
          });
        }
        return route.continue();
      });
      await page.getByRole('button', { name: 'Create team', exact: true }).click();
      const dialog = page.getByRole('dialog');
      await dialog.getByText('Your session has expired').waitFor();
      await sc.shot(page, 'session-expired');
      await dialog.getByLabel('Password', { exact: true }).fill(owner.password);
      await dialog.getByRole('button', { name: 'Sign in', exact: true }).click();
      await dialog.waitFor({ state: 'detached' });
      assert.equal(await page.getByLabel('Slug', { exact: true }).inputValue(), teamSlug, 'the slug survived');
      assert.equal(await page.getByLabel('Name', { exact: true }).inputValue(), teamName, 'the name survived');
      await page.unroute('**/api/v1/teams');

      await page.getByRole('button', { name: 'Create team', exact: true }).click();
      await rowsWith(page.locator('table'), teamName).first().waitFor();
      await sc.shot(page, 'teams');
      const team = (await api.expect(200, 'GET', '/api/v1/teams', { token: owner.token })).data.find(
        (t) => t.slug === teamSlug,
      );
      assert.ok(team, `team ${teamSlug} exists`);
      assert.equal(team.name, teamName);

      // Three invitations, through the Members page: each shows its link once, and no answer holds a password.
      await goTo(page, 'Members');
      const linkBox = page.getByLabel('Invitation link', { exact: true });
      const membersTable = page.getByRole('table', { name: 'Members', exact: true });
      const invitationsTable = page.getByRole('table', { name: 'Invitations', exact: true });
      const invitationStatus = async (who) => {
        const row = rowsWith(invitationsTable, who.email);
        assert.equal(await row.count(), 1, `one invitation row for ${who.email}`);
        return (await (await cellUnder(invitationsTable, row, 'Status')).innerText()).trim();
      };
      const invite = async (who, role) => {
        const before = (await linkBox.count()) ? await valueOf(linkBox) : null;
        await page.getByLabel('Email', { exact: true }).fill(who.email);
        await page.getByLabel('Role', { exact: true }).selectOption(role);
        const [answer] = await Promise.all([
          page.waitForResponse(
            (r) => r.request().method() === 'POST' && new URL(r.url()).pathname === '/api/v1/members',
          ),
          page.getByRole('button', { name: 'Invite', exact: true }).click(),
        ]);
        assert.equal(answer.status(), 201, `invite ${who.email}`);
        const body = await answer.json();
        const passwordish = keysOf(body).filter((k) => /pass/i.test(k));
        assert.deepEqual(passwordish, [], `the invite answer holds no password: ${JSON.stringify(body)}`);
        assert.deepEqual(
          { email: body.email, role: body.role, status: body.status },
          { email: who.email, role, status: 'pending' },
        );
        assert.match(body.token, /^syi_[0-9a-f]{64}$/);
        assert.equal(body.accept_path, `/invite#${body.token}`);
        const link = await assertEventually(async () => {
          const value = await valueOf(linkBox);
          assert.ok(value && value !== before, 'a new invitation link is shown');
          return value;
        }, 15_000);
        assert.equal(link, new URL(body.accept_path, env.baseUrl).href, 'the link is the origin + accept_path');
        assert.equal(await page.getByLabel('One-time password').count(), 0, 'no one-time password is shown');
        await assertEventually(async () => assert.equal(await invitationStatus(who), 'pending'));
        await sc.shot(page, `invited-${role}`);
        return link;
      };
      const finance = { email: `fiona-${uid()}@e2e.test`, name: 'Fiona Fisher', password: `fiona-${PASSWORD}` };
      const developer = { email: `devon-${uid()}@e2e.test`, name: 'Devon Drake', password: `devon-${PASSWORD}` };
      const viewer = { email: `vic-${uid()}@e2e.test`, name: 'Vic Vance', password: `vic-${PASSWORD}` };
      finance.link = await invite(finance, 'finance');

      // **Copy link** puts exactly the displayed link on the clipboard.
      await page.getByRole('button', { name: 'Copy link', exact: true }).click();
      await page.getByRole('status').filter({ hasText: 'Copied' }).first().waitFor();
      assert.equal(await page.evaluate(() => navigator.clipboard.readText()), finance.link);

      developer.link = await invite(developer, 'developer');
      viewer.link = await invite(viewer, 'viewer');

      // The viewer's invitation is revoked (confirmed): its row says so.
      await page.getByRole('button', { name: `Revoke the invitation of ${viewer.email}`, exact: true }).click();
      const confirmDialog = page.getByRole('dialog');
      await confirmDialog.getByRole('button', { name: 'Revoke invitation', exact: true }).click();
      await confirmDialog.waitFor({ state: 'detached' });
      await assertEventually(async () => assert.equal(await invitationStatus(viewer), 'revoked'));
      await sc.shot(page, 'invitation-revoked');

      // Each invitee opens the link in a browser of their own, sets a password and lands signed in. A password
      // that is too short for a new account is refused under its field first.
      const financePage = await sc.newPage('finance');
      await financePage.goto(finance.link);
      await financePage.getByRole('heading', { name: 'Accept your invitation', exact: true }).waitFor();
      await financePage.getByLabel('Password', { exact: true }).fill('too-short');
      await financePage.getByRole('button', { name: 'Accept invitation', exact: true }).click();
      await assertEventually(async () => {
        const field = financePage.getByLabel('Password', { exact: true });
        assert.equal(await field.getAttribute('aria-invalid'), 'true', 'the password field is marked invalid');
        const alerts = (await financePage.getByRole('alert').allInnerTexts()).filter((t) => t.trim());
        assert.ok(alerts.some((t) => t.includes('(password)')), `an error about the password: ${alerts}`);
      });
      await sc.shot(financePage, 'invite-short-password');
      await acceptInvitation(financePage, finance.link, { ...finance, role: 'finance' });
      await sc.shot(financePage, 'finance-joined');

      const devPage = await sc.newPage('developer');
      await acceptInvitation(devPage, developer.link, { ...developer, role: 'developer' });
      // The session survives a reload: the accept answer set the refresh cookie, as a sign-in does.
      await devPage.reload();
      await expectSignedIn(devPage, { ...developer, role: 'developer' });

      // The revoked link, and a link already used, are refused.
      const viewerPage = await sc.newPage('viewer');
      await viewerPage.goto(viewer.link);
      await viewerPage.getByLabel('Password', { exact: true }).fill(viewer.password);
      await viewerPage.getByRole('button', { name: 'Accept invitation', exact: true }).click();
      await viewerPage.getByRole('alert').filter({ hasText: 'This invitation is not valid' }).waitFor();
      await sc.shot(viewerPage, 'invite-revoked-link');
      const reused = await api.call('POST', '/api/v1/invitations/accept', {
        body: { token: new URL(finance.link).hash.slice(1), password: finance.password },
      });
      assert.equal(reused.status, 401, `a used link: ${reused.text.slice(0, 300)}`);
      assert.equal(reused.json?.error?.code, 'invalid_invitation');

      // The owner puts both in the team, through the Teams page.
      await goTo(page, 'Teams');
      await rowsWith(page.locator('table'), teamName).first().getByRole('button', { name: 'Members', exact: true }).click();
      const teamPanel = page.getByRole('region', { name: `Members of ${teamName}`, exact: true });
      for (const who of [finance, developer]) {
        await teamPanel.getByLabel('Add member', { exact: true }).selectOption({ label: who.email });
        await teamPanel.getByRole('button', { name: 'Add to team', exact: true }).click();
        await teamPanel.getByRole('listitem').filter({ hasText: who.email }).waitFor();
      }
      await sc.shot(page, 'team-members');

      // The members table lists both, with their roles; the invitations show as accepted, the viewer's revoked.
      await goTo(page, 'Members');
      for (const [who, role] of [[finance, 'finance'], [developer, 'developer']]) {
        await assertEventually(async () => {
          const row = rowsWith(membersTable, who.email);
          assert.equal(await row.count(), 1, `one row for ${who.email}`);
          assert.equal(await roleInRow(membersTable, row), role);
          assert.equal(await invitationStatus(who), 'accepted');
        });
      }
      assert.equal(await rowsWith(membersTable, viewer.email).count(), 0, 'the revoked invitee is no member');
      assert.equal(await invitationStatus(viewer), 'revoked');
      await sc.shot(page, 'members');

      // Both can sign in with the passwords they set, and both are in the team.
      const members = (await api.expect(200, 'GET', '/api/v1/members', { token: owner.token })).data;
      for (const [who, role] of [[finance, 'finance'], [developer, 'developer']]) {
        const session = await api.login(who.email, who.password);
        assert.equal(session.role, role);
        assert.equal(session.tenant.id, owner.tenant.id);
        assert.equal(session.user.name, who.name, 'the name given on accepting');
        assert.equal(members.find((m) => m.email === who.email)?.role, role);
      }
      const inTeam = (await api.expect(200, 'GET', `/api/v1/teams/${team.id}/members`, { token: owner.token })).data;
      const ids = new Set(inTeam.map((m) => m.user_id));
      for (const who of [finance, developer]) {
        assert.ok(ids.has(members.find((m) => m.email === who.email).user_id), `${who.email} is in ${teamName}`);
      }

      // The developer, signed in by accepting: on API keys, without Budgets, Chargeback or Audit log.
      const links = await navLinkNames(devPage);
      assert.ok(links.includes('API keys'), `developer nav: ${links}`);
      for (const hidden of ['Budgets', 'Chargeback', 'Audit log']) {
        assert.ok(!links.includes(hidden), `developer nav has no ${hidden}: ${links}`);
      }
      await sc.shot(devPage, 'developer-keys');

      // The owner removes the developer (confirmed): the developer's key in the tenant is revoked with the
      // membership, and the page says so.
      const devToken = (await api.login(developer.email, developer.password)).access_token;
      const devKey = await api.createKey(devToken, { name: `devon-key-${uid()}`, team_id: team.id });
      await page.getByRole('button', { name: `Remove ${developer.email}`, exact: true }).click();
      await confirmDialog.getByRole('button', { name: 'Remove member', exact: true }).click();
      await confirmDialog.waitFor({ state: 'detached' });
      await page
        .getByRole('status')
        .filter({ hasText: `Removed ${developer.email}. 1 API key of this member was revoked: ${devKey.name}` })
        .waitFor();
      await assertEventually(async () => assert.equal(await rowsWith(membersTable, developer.email).count(), 0));
      await sc.shot(page, 'member-removed');
      const keys = (await api.expect(200, 'GET', '/api/v1/keys?include_revoked=true', { token: owner.token })).data;
      assert.ok(keys.find((k) => k.id === devKey.id)?.revoked_at, 'the removed member\'s key is revoked');
    }));

  it('s2-api-key: the owner creates an API key, copies its secret and calls the proxy with it', { timeout: TIMEOUT }, () =>
    runScenario(browser, 's2-api-key', env, async (sc) => {
      const owner = await api.signUp('two');
      const team = await api.createTeam(owner.token, `Search ${uid()}`);
      await api.createMockModel(owner.token, env.mockUrl);

      const page = await sc.newPage('owner');
      await signIn(page, { ...owner, role: 'owner' });
      await goTo(page, 'API keys');
      const keyName = `checkout-${uid()}`;
      await page.getByLabel('Name', { exact: true }).fill(keyName);
      await selectLabel(page, 'Team', team.name);
      await page.getByRole('button', { name: 'Create key', exact: true }).click();

      await page.getByRole('heading', { name: 'Copy your new secret' }).waitFor();
      await page.getByText('shown only once').first().waitFor();
      const secretBox = page.getByLabel('Secret', { exact: true });
      const secret = await valueOf(secretBox);
      assert.match(secret, /^sk-sy-[0-9A-Za-z]{43}$/);
      await page.getByRole('button', { name: 'Copy secret', exact: true }).click();
      await page.getByRole('status').filter({ hasText: 'Copied' }).first().waitFor();
      const clipboard = await page.evaluate(() => navigator.clipboard.readText());
      assert.equal(clipboard, secret, 'the clipboard holds the displayed secret');
      assert.ok(clipboard.startsWith('sk-sy-'));
      await sc.shot(page, 'secret');

      await page.getByRole('button', { name: 'Done', exact: true }).click();
      await secretBox.waitFor({ state: 'hidden' });
      const prefix = secret.slice(0, 14);
      await assertEventually(async () => {
        const row = rowsWith(page.locator('table'), keyName);
        assert.equal(await row.count(), 1, `one row for ${keyName}`);
        assert.ok((await row.innerText()).includes(prefix), `the row shows the prefix ${prefix}`);
      });
      assert.ok(!(await pageText(page)).includes(secret), 'the secret is gone from the page');
      await sc.shot(page, 'keys');

      const keys = (await api.expect(200, 'GET', '/api/v1/keys', { token: owner.token })).data;
      const key = keys.find((k) => k.name === keyName);
      assert.ok(key, 'the key exists');
      assert.equal(key.prefix, prefix);
      assert.equal(key.team_id, team.id);

      // The copied secret works on the proxy.
      const call = await api.chatOk(clipboard, 'Hello from the console e2e suite');
      assert.equal(call.content, 'Mock reply: Hello from the console e2e suite');
    }));

  it('s3-budget: a hard budget on a key refuses calls with 429 budget_exceeded and shows as exceeded', { timeout: TIMEOUT }, () =>
    runScenario(browser, 's3-budget', env, async (sc) => {
      const owner = await api.signUp('three');
      const team = await api.createTeam(owner.token, `Research ${uid()}`);
      await api.createMockModel(owner.token, env.mockUrl);
      const key = await api.createKey(owner.token, { name: `agent-${uid()}`, team_id: team.id });

      // Spend before the budget: a new budget starts from what its scope already spent, so a limit below it is
      // exceeded at once. (A hard limit admits a call only if its worst case fits, so the spend of calls made
      // after the budget can never pass the limit by itself.)
      const calls = await makeCalls(key.secret, 2, 'before the budget');
      await api.waitForRequests(owner.token, calls.map((c) => c.requestId), { api_key_id: key.id });

      const page = await sc.newPage('owner');
      await signIn(page, { ...owner, role: 'owner' });
      await goTo(page, 'Budgets');
      const budgetName = `agent cap ${uid()}`;
      await page.getByLabel('Name', { exact: true }).fill(budgetName);
      await page.getByLabel('Scope', { exact: true }).selectOption('key');
      await selectLabel(page, 'Key', key.name);
      await page.getByLabel('Period', { exact: true }).selectOption('total');
      await page.getByLabel('Limit', { exact: true }).fill('0.000001');
      await page.getByLabel('Soft thresholds (%)', { exact: true }).fill('50, 80');
      const hard = page.getByLabel('Hard limit', { exact: true });
      assert.equal(await hard.isChecked(), true, 'Hard limit is checked by default');
      await page.getByRole('button', { name: 'Create budget', exact: true }).click();
      await page.getByRole('progressbar', { name: budgetName, exact: true }).waitFor();
      await sc.shot(page, 'budgets');

      const budget = (await api.expect(200, 'GET', '/api/v1/budgets', { token: owner.token })).data.find(
        (b) => b.name === budgetName,
      );
      assert.ok(budget, 'the budget exists');
      assert.deepEqual(
        { scope_type: budget.scope_type, scope_id: budget.scope_id, period: budget.period, hard_limit: budget.hard_limit },
        { scope_type: 'key', scope_id: key.id, period: 'total', hard_limit: true },
      );
      assert.equal(toUnits(budget.limit), toUnits('0.000001'));

      // Calls until the budget refuses one: the gateway loads a new budget in the background, and calls made
      // before it has are served.
      let refusal = null;
      const deadline = Date.now() + 10_000;
      for (let i = 0; !refusal; i += 1) {
        const res = await api.chat(key.secret, `after the budget ${i + 1}`);
        if (res.status === 429) refusal = res;
        else {
          assert.equal(res.status, 200, `call ${i + 1}: ${res.text.slice(0, 300)}`);
          assert.ok(Date.now() < deadline, `no call was refused within 10 s (${i + 1} calls)`);
          await sleep(200);
        }
      }
      assert.match(refusal.headers.get('content-type') || '', /application\/json/);
      assert.deepEqual(Object.keys(refusal.json), ['error'], `OpenAI error shape: ${refusal.text}`);
      const error = refusal.json.error;
      assert.equal(error.code, 'budget_exceeded');
      assert.equal(error.type, 'insufficient_quota');
      assert.equal(error.param, null);
      assert.equal(typeof error.message, 'string');
      assert.ok(error.message.includes(budget.id), `the message names the budget: ${error.message}`);

      // The Overview shows the budget at or over 100 % and "Exceeded" (usage is written asynchronously).
      await goTo(page, 'Overview');
      const bar = page.getByRole('progressbar', { name: budgetName, exact: true });
      await eventually(
        'the Overview shows the budget exceeded',
        async (attempt) => {
          if (attempt > 0) {
            await goTo(page, 'Budgets');
            await goTo(page, 'Overview');
          }
          await bar.waitFor({ timeout: 5_000 });
          const now = Number(await bar.getAttribute('aria-valuenow'));
          assert.ok(now >= 100, `aria-valuenow ${now} >= 100`);
          await page.getByText('Exceeded').first().waitFor({ timeout: 2_000 });
        },
        { timeout: 30_000, interval: 1_000 },
      );
      await sc.shot(page, 'overview-exceeded');
      await sc.mobileShot(page, 'overview-exceeded');
      const read = await api.expect(200, 'GET', `/api/v1/budgets/${budget.id}`, { token: owner.token });
      assert.ok(read.current_period.percent_used >= 100, `percent_used ${read.current_period.percent_used}`);

      await goTo(page, 'Budgets');
      const onBudgets = page.getByRole('progressbar', { name: budgetName, exact: true });
      assert.ok(Number(await onBudgets.getAttribute('aria-valuenow')) >= 100);
      await page.getByText('Exceeded').first().waitFor();
      await sc.shot(page, 'budgets-exceeded');
    }));

  it('s4-chargeback: finance reads the chargeback of a team and downloads it as CSV', { timeout: TIMEOUT }, () =>
    runScenario(browser, 's4-chargeback', env, async (sc) => {
      const owner = await api.signUp('four');
      const team = await api.createTeam(owner.token, `Checkout ${uid()}`);
      const { deployment } = await api.createMockModel(owner.token, env.mockUrl);
      const key = await api.createKey(owner.token, { name: `checkout-svc-${uid()}`, team_id: team.id });
      const finance = { email: `fin-${uid()}@e2e.test`, password: PASSWORD, name: 'Fiona Fisher' };
      await api.createMember(owner.token, { ...finance, role: 'finance' });

      // N calls; each one's exact cost from the request log, checked against its tokens and the prices.
      const N = 3;
      const calls = await makeCalls(key.secret, N, 'chargeback');
      const logged = await api.waitForRequests(owner.token, calls.map((c) => c.requestId), { api_key_id: key.id });
      let expected = 0n;
      let fromTokens = 0n;
      let inputTokens = 0;
      let outputTokens = 0;
      logged.forEach((row, i) => {
        const { usage } = calls[i];
        assert.equal(row.outcome, 'ok');
        assert.equal(row.team_id, team.id);
        assert.equal(row.input_tokens, usage.prompt_tokens, 'logged input tokens = the answer usage');
        assert.equal(row.output_tokens, usage.completion_tokens, 'logged output tokens = the answer usage');
        assert.equal(row.cached_tokens, 0);
        assert.equal(row.reasoning_tokens, 0);
        const cost = toUnits(row.cost);
        assert.ok(cost > 0n, 'every call costs something');
        assert.equal(cost, costFromTokens(deployment, usage.prompt_tokens, usage.completion_tokens));
        expected += cost;
        fromTokens += costFromTokens(deployment, usage.prompt_tokens, usage.completion_tokens);
        inputTokens += usage.prompt_tokens;
        outputTokens += usage.completion_tokens;
      });
      assert.equal(expected, fromTokens);
      const times = logged.map((r) => new Date(r.created_at));
      const from = utcDay(0, new Date(Math.min(...times)));
      const to = utcDay(1, new Date(Math.max(...times)));

      // Finance signs in: no API keys link, no key management.
      const page = await sc.newPage('finance');
      await signIn(page, { ...finance, role: 'finance' });
      const links = await navLinkNames(page);
      assert.ok(!links.includes('API keys'), `finance nav has no API keys: ${links}`);
      assert.ok(links.includes('Chargeback'), `finance nav has Chargeback: ${links}`);
      await sc.shot(page, 'overview');
      const financeToken = (await api.login(finance.email, finance.password)).access_token;
      const denied = await api.call('GET', '/api/v1/keys', { token: financeToken });
      assert.equal(denied.status, 403);
      assert.equal(denied.json?.error?.code, 'forbidden');

      await page.goto('/keys');
      await page.getByText(finance.email).first().waitFor(); // still signed in (session restored by refresh)
      // The page renders its refusal in place of its content, in one pass: once it shows, nothing more comes.
      await page.getByRole('alert').filter({ hasText: 'Your role does not allow this page.' }).waitFor();
      await settled(page);
      assert.equal(await page.getByRole('button', { name: 'Create key', exact: true }).count(), 0, 'no Create key');
      const keysText = await pageText(page);
      assert.ok(!keysText.includes(key.name) && !keysText.includes(key.prefix), 'no key of the tenant is shown');
      await sc.shot(page, 'keys-not-allowed');

      // The chargeback by team, for the day of the calls.
      await goTo(page, 'Chargeback');
      await page.getByLabel('From', { exact: true }).fill(from);
      await page.getByLabel('To', { exact: true }).fill(to);
      await page.getByLabel('Group by', { exact: true }).selectOption('team');
      const teamFilter = page.getByLabel('Team', { exact: true });
      assert.equal((await teamFilter.locator('option').first().innerText()).trim(), 'All teams');
      assert.equal(await teamFilter.evaluate((s) => s.selectedIndex), 0, 'All teams is selected');
      const run = page.getByRole('button', { name: 'Run report', exact: true });
      await run.click();
      const table = page.locator('table').filter({ hasText: /cost/i });
      await eventually(
        `the report shows ${team.name} at ${fromUnits(expected)}`,
        async (attempt) => {
          if (attempt > 0) await run.click();
          const row = rowsWith(table, team.name);
          await row.first().waitFor({ timeout: 3_000 });
          assert.equal(await row.count(), 1);
          const shown = await (await cellUnder(table, row, 'Cost')).innerText();
          assert.equal(displayedUnits(shown), expected, `cost cell "${shown}" = ${fromUnits(expected)}`);
        },
        { timeout: 45_000, interval: 1_000 },
      );
      const total = await page.getByLabel('Total cost', { exact: true }).innerText();
      assert.equal(displayedUnits(total), expected, `Total cost "${total}"`);
      assert.ok((await page.getByRole('img').count()) >= 1, 'the chart is shown');
      await sc.shot(page, 'chargeback');
      await sc.mobileShot(page, 'chargeback');

      // Download CSV: the same bytes as the API's CSV of the same report.
      const [download] = await Promise.all([
        page.waitForEvent('download'),
        page.getByRole('button', { name: 'Download CSV', exact: true }).click(),
      ]);
      assert.equal(await download.failure(), null);
      const chunks = [];
      for await (const chunk of await download.createReadStream()) chunks.push(chunk);
      const downloaded = Buffer.concat(chunks);
      fs.writeFileSync(path.join(env.artifacts, `${sc.name}-download.csv`), downloaded);

      const q = new URLSearchParams({ from, to, group_by: 'team', format: 'csv' });
      const fromApi = await api.call('GET', `/api/v1/reports/chargeback?${q}`, { token: financeToken });
      assert.equal(fromApi.status, 200, fromApi.text.slice(0, 300));
      assert.match(fromApi.headers.get('content-type') || '', /^text\/csv/);
      const filename = /filename="([^"]+)"/.exec(fromApi.headers.get('content-disposition') || '')?.[1];
      assert.equal(download.suggestedFilename(), filename, 'the download has the API filename');
      assert.ok(downloaded.equals(fromApi.buffer), 'the download is byte-for-byte the API CSV');

      const csv = csvObjects(downloaded.toString('utf8'));
      assert.deepEqual(csv.header, [
        'team_id', 'team_name', 'requests', 'errors', 'input_tokens', 'output_tokens',
        'cached_tokens', 'reasoning_tokens', 'cost', 'currency',
      ]);
      assert.equal(csv.rows.length, 1, 'one team spent');
      const [row] = csv.rows;
      assert.deepEqual(
        { ...row },
        {
          team_id: team.id,
          team_name: team.name,
          requests: String(N),
          errors: '0',
          input_tokens: String(inputTokens),
          output_tokens: String(outputTokens),
          cached_tokens: '0',
          reasoning_tokens: '0',
          cost: fromUnits(expected),
          currency: 'USD',
        },
      );
    }));

  it('s5-isolation: another tenant sees nothing of the first one', { timeout: TIMEOUT }, () =>
    runScenario(browser, 's5-isolation', env, async (sc) => {
      // Tenant A, with a team, a key, a budget and spend.
      const a = await api.signUp('alpha');
      const aTeam = await api.createTeam(a.token, `Alpha Team ${uid()}`);
      const aModel = await api.createMockModel(a.token, env.mockUrl);
      const aKey = await api.createKey(a.token, { name: `alpha-key-${uid()}`, team_id: aTeam.id });
      const aBudget = await api.createBudget(a.token, {
        name: `alpha-budget-${uid()}`, scope_type: 'team', scope_id: aTeam.id, period: 'monthly', limit: '100', hard_limit: false,
      });
      const [aCall] = await makeCalls(aKey.secret, 1, 'alpha');
      const [aLogged] = await api.waitForRequests(a.token, [aCall.requestId]);
      const from = utcDay(0, new Date(aLogged.created_at));
      const to = utcDay(1, new Date(aLogged.created_at));
      const report = (token) =>
        api.expect(200, 'GET', `/api/v1/reports/chargeback?${new URLSearchParams({ from, to, group_by: 'team' })}`, { token });
      const aReport = await eventually('A has a chargeback row', async () => {
        const r = await report(a.token);
        assert.equal(r.rows.length, 1);
        return r;
      });
      assert.ok(toUnits(aReport.totals.cost) > 0n, 'A spent something');

      // Tenant B, with a key and a budget of its own so that every page has something to wait for.
      const b = await api.signUp('beta');
      const bTeam = (await api.expect(200, 'GET', '/api/v1/teams', { token: b.token })).data[0];
      assert.ok(bTeam, 'B has its default team');
      const bKey = await api.createKey(b.token, { name: `beta-key-${uid()}`, team_id: bTeam.id });
      const bBudget = await api.createBudget(b.token, {
        name: `beta-budget-${uid()}`, scope_type: 'tenant', period: 'monthly', limit: '50', hard_limit: false,
      });

      const forbidden = [aTeam.name, aTeam.slug, aKey.name, aKey.prefix, aBudget.name, a.email, a.organisation,
        aModel.provider.name, aModel.deployment.id];
      const assertNothingOfA = async (page, where) => {
        const text = await pageText(page);
        for (const s of forbidden) assert.ok(!text.includes(s), `${where} shows "${s}" of tenant A`);
      };

      const page = await sc.newPage('tenant-b');
      await signIn(page, { ...b, role: 'owner' });
      await settled(page);
      await assertNothingOfA(page, 'Overview');
      await sc.shot(page, 'overview');

      const pages = [
        ['Teams', () => rowsWith(page.locator('table'), bTeam.name).first()],
        ['Members', () => rowsWith(page.locator('table'), b.email).first()],
        ['API keys', () => rowsWith(page.locator('table'), bKey.name).first()],
        ['Budgets', () => page.getByRole('progressbar', { name: bBudget.name, exact: true })],
      ];
      for (const [name, ownThing] of pages) {
        await goTo(page, name);
        await ownThing().waitFor(); // B's own data has loaded
        await assertNothingOfA(page, name);
        await sc.shot(page, name.toLowerCase().replace(/\s+/g, '-'));
      }

      await goTo(page, 'Requests');
      await settled(page);
      await assertNothingOfA(page, 'Requests');
      assert.ok(!(await pageText(page)).includes(aCall.requestId), 'Requests shows no call of A');
      await sc.shot(page, 'requests');

      await goTo(page, 'Chargeback');
      await page.getByLabel('From', { exact: true }).fill(from);
      await page.getByLabel('To', { exact: true }).fill(to);
      await page.getByLabel('Group by', { exact: true }).selectOption('team');
      await page.getByRole('button', { name: 'Run report', exact: true }).click();
      const total = page.getByLabel('Total cost', { exact: true });
      await total.waitFor();
      assert.equal(displayedUnits(await total.innerText()), 0n, 'B spent nothing');
      await assertNothingOfA(page, 'Chargeback');
      await sc.shot(page, 'chargeback');

      // The other pages, for B: nothing of A, and a screenshot of each.
      for (const name of ['Providers', 'Regions', 'Audit log', 'Sessions']) {
        await goTo(page, name);
        await settled(page);
        await assertNothingOfA(page, name);
        await sc.shot(page, name.toLowerCase().replace(/\s+/g, '-'));
      }

      // Every page as A's owner sees it, with data, for the artifacts (and A's own data is there).
      const pageA = await sc.newPage('tenant-a');
      await signIn(pageA, { ...a, role: 'owner' });
      for (const name of await navLinkNames(pageA)) {
        await goTo(pageA, name);
        await settled(pageA);
        // Every page loads what it reads: no error line anywhere (a field the console expects but the API
        // does not send shows up here).
        const alerts = await pageA.getByRole('alert').allInnerTexts();
        assert.deepEqual(alerts.filter((t) => t.trim()), [], `${name} shows an error`);
        await sc.shot(pageA, `tenant-a-${name.toLowerCase().replace(/\s+/g, '-')}`);
      }
      await pageA.getByRole('link', { name: 'Account', exact: true }).click();
      await expectHeading(pageA, 'Account');
      await sc.shot(pageA, 'tenant-a-account');
      await goTo(pageA, 'Providers');
      await rowsWith(pageA.locator('table'), aModel.provider.name).first().waitFor();

      // The API agrees: A's ids are unknown to B, and B's report is empty.
      for (const p of [`/api/v1/teams/${aTeam.id}`, `/api/v1/keys/${aKey.id}`, `/api/v1/budgets/${aBudget.id}`]) {
        const res = await api.call('GET', p, { token: b.token });
        assert.equal(res.status, 404, `${p} as B: ${res.status}`);
        assert.equal(res.json?.error?.code, 'not_found');
      }
      const bReport = await report(b.token);
      assert.deepEqual(bReport.rows, []);
      assert.equal(toUnits(bReport.totals.cost), 0n);
      assert.equal(bReport.totals.requests, 0);
    }));
});
