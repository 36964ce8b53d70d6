// The admin API (/api/v1) and the proxy (/v1) over plain HTTP, for set-up and for checking what the UI did.
// Every helper asserts the documented status and returns the parsed body.

import assert from 'node:assert/strict';
import { eventually, uid } from './util.mjs';

export const PASSWORD = 'e2e-Password-0123456789';

/** Prices per million tokens of the mock deployments: every call costs something, exactly. */
export const PRICES = { input_price: '0.5', output_price: '1.5' };

export class Api {
  constructor(baseUrl) {
    this.baseUrl = baseUrl;
  }

  /** Any call. `token` is an access token or an API key; returns `{ status, headers, text, json }`. */
  async call(method, path, { token, body, headers = {} } = {}) {
    const init = { method, headers: { ...headers }, signal: AbortSignal.timeout(30_000) };
    if (token) init.headers.authorization = `Bearer ${token}`;
    if (body !== undefined) {
      init.headers['content-type'] = 'application/json';
      init.body = JSON.stringify(body);
    }
    const res = await fetch(`${this.baseUrl}${path}`, init);
    const buffer = Buffer.from(await res.arrayBuffer());
    const text = buffer.toString('utf8');
    let json;
    try {
      json = JSON.parse(text);
    } catch {
      json = undefined;
    }
    return { status: res.status, headers: res.headers, buffer, text, json };
  }

  /** A call that must answer `status`; returns the JSON body. */
  async expect(status, method, path, opts) {
    const res = await this.call(method, path, opts);
    assert.equal(res.status, status, `${method} ${path}: expected ${status}, got ${res.status}: ${res.text.slice(0, 500)}`);
    return res.json;
  }

  // ---- sessions -------------------------------------------------------------------------------------------

  /** A fresh tenant from SaaS sign-up: `{ token, email, password, tenant, user, organisation }`. */
  async signUp(label) {
    const id = uid();
    const email = `owner-${label}-${id}@e2e.test`;
    const organisation = `E2E ${label} ${id}`;
    const body = await this.expect(201, 'POST', '/api/v1/auth/signup', {
      body: { email, password: PASSWORD, organisation, name: `Owner ${label}`, slug: `e2e-${label}-${id}` },
    });
    assert.equal(body.role, 'owner');
    return { token: body.access_token, email, password: PASSWORD, tenant: body.tenant, user: body.user, organisation };
  }

  /** Signs in over the API; returns the whole answer (`access_token`, `role`, `tenant`, `user`). */
  login(email, password) {
    return this.expect(200, 'POST', '/api/v1/auth/login', { body: { email, password } });
  }

  // ---- resources ------------------------------------------------------------------------------------------

  createTeam(token, name = `Team ${uid()}`) {
    const slug = `t-${uid()}`;
    return this.expect(201, 'POST', '/api/v1/teams', { token, body: { slug, name } });
  }

  /** Invites `email` as `role`; returns the answer (the invitation, its `token` and `accept_path`). */
  invite(token, { email, role }) {
    return this.expect(201, 'POST', '/api/v1/members', { token, body: { email, role } });
  }

  /** Accepts an invitation without a session; returns the answer (a session, as `login` answers). */
  acceptInvitation(invitationToken, { password, name }) {
    return this.expect(200, 'POST', '/api/v1/invitations/accept', {
      body: { token: invitationToken, password, ...(name ? { name } : {}) },
    });
  }

  /** A member with a password we know (set-up): invited, then accepted over the API; returns the session. */
  async createMember(token, { email, role, name, password = PASSWORD }) {
    const invitation = await this.invite(token, { email, role });
    return this.acceptInvitation(invitation.token, { password, name });
  }

  addTeamMember(token, teamId, userId) {
    return this.expect(204, 'PUT', `/api/v1/teams/${teamId}/members/${userId}`, { token });
  }

  /** `{ ...key, secret }` */
  createKey(token, { name, team_id }) {
    return this.expect(201, 'POST', '/api/v1/keys', { token, body: { name, team_id } });
  }

  createBudget(token, budget) {
    return this.expect(201, 'POST', '/api/v1/budgets', { token, body: budget });
  }

  /**
   * A provider of kind `openai` pointing at the mock, and a deployment of the model `demo` on it with
   * `PRICES`, in a region of the catalog (`local` when the catalog has it). Returns `{ provider, deployment }`.
   */
  async createMockModel(token, mockUrl, prices = PRICES) {
    const regions = (await this.expect(200, 'GET', '/api/v1/regions', { token })).data.map((r) => r.code);
    assert.ok(regions.length > 0, 'the region catalog is empty');
    const region = regions.includes('local') ? 'local' : regions[0];
    const provider = await this.expect(201, 'POST', '/api/v1/providers', {
      token,
      body: { name: `mock-${uid()}`, kind: 'openai', base_url: mockUrl },
    });
    const deployment = await this.expect(201, 'POST', '/api/v1/deployments', {
      token,
      body: { model: 'demo', provider_id: provider.id, upstream_model: 'mock-gpt', region, ...prices },
    });
    assert.equal(deployment.price_source, 'deployment');
    return { provider, deployment };
  }

  /** Every call of the request log matching `query` (all pages). */
  async requests(token, query = {}) {
    const rows = [];
    let cursor = null;
    do {
      const q = new URLSearchParams({ ...query, limit: '200', ...(cursor ? { cursor } : {}) });
      const page = await this.expect(200, 'GET', `/api/v1/requests?${q}`, { token });
      rows.push(...page.data);
      cursor = page.next_cursor;
    } while (cursor);
    return rows;
  }

  /** Waits until the request log (as `token`) holds every id of `requestIds`; returns those rows. */
  waitForRequests(token, requestIds, query = {}) {
    return eventually(`the request log holds ${requestIds.length} calls`, async () => {
      const rows = await this.requests(token, query);
      const byId = new Map(rows.map((r) => [r.id, r]));
      const missing = requestIds.filter((id) => !byId.has(id));
      assert.deepEqual(missing, [], 'calls not yet in the request log');
      return requestIds.map((id) => byId.get(id));
    });
  }

  // ---- proxy ----------------------------------------------------------------------------------------------

  /** `POST /v1/chat/completions` with model `demo`; returns the raw answer (status, headers, json). */
  chat(secret, content, extra = {}) {
    return this.call('POST', '/v1/chat/completions', {
      token: secret,
      body: { model: 'demo', messages: [{ role: 'user', content }], ...extra },
    });
  }

  /**
   * A chat call that must succeed. The catalog of a new deployment reaches the proxy through Redis pub/sub, so
   * a 404/503 right after set-up is retried for a few seconds (such calls are refused before admission and
   * cost nothing). Returns `{ requestId, usage, content, json }`.
   */
  async chatOk(secret, content) {
    const res = await eventually(
      'chat completion answers 200',
      async () => {
        const r = await this.chat(secret, content);
        if (r.status === 404 || r.status === 503) throw new Error(`${r.status}: ${r.text.slice(0, 300)}`);
        return r;
      },
      { timeout: 15_000, interval: 300 },
    );
    assert.equal(res.status, 200, `chat: ${res.text.slice(0, 500)}`);
    const message = res.json.choices?.[0]?.message?.content;
    assert.equal(message, `Mock reply: ${content}`);
    assert.ok(res.json.usage, 'the answer has usage');
    const requestId = res.headers.get('x-request-id');
    assert.ok(requestId, 'the answer has an x-request-id');
    return { requestId, usage: res.json.usage, content: message, json: res.json };
  }
}
