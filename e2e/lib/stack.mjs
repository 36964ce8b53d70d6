// The real stack for the suite: a fresh PostgreSQL database, a Redis key prefix of its own, the mock provider
// and the gateway (`switchyard serve`, SaaS mode, serving the built console at `/`). Every process is started
// here, logs to a file in the artifacts folder, and is stopped by its own pid.

import { spawn, execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const E2E_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const REPO_DIR = path.resolve(E2E_DIR, '..');

const JWT_SECRET = 'switchyard-e2e-jwt-secret-not-for-production-0123456789';

/** Where the suite's inputs come from; every value can be overridden by an environment variable. */
export function settings(env = process.env) {
  const targetDir = env.CARGO_TARGET_DIR || path.join(os.homedir(), '.cache', 'switchyard-target');
  return {
    gatewayBin: env.SWITCHYARD_E2E_BIN || path.join(targetDir, 'debug', 'switchyard'),
    mockBin: env.SWITCHYARD_E2E_MOCK_BIN || path.join(targetDir, 'debug', 'mock-provider'),
    consoleDir: path.resolve(env.SWITCHYARD_E2E_CONSOLE_DIR || path.join(REPO_DIR, 'frontend', 'dist')),
    artifacts: path.resolve(env.SWITCHYARD_E2E_ARTIFACTS || path.join(E2E_DIR, 'artifacts')),
    postgresUrl: (env.SWITCHYARD_E2E_POSTGRES_URL || 'postgres://postgres@127.0.0.1:5432').replace(/\/+$/, ''),
    redisUrl: env.SWITCHYARD_E2E_REDIS_URL || 'redis://127.0.0.1:6379',
  };
}

/** A TCP port that was free a moment ago on 127.0.0.1. */
export function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** The last `lines` lines of a log file, or a note that it is missing. */
export function tail(file, lines = 40) {
  try {
    return fs.readFileSync(file, 'utf8').split('\n').slice(-lines - 1).join('\n');
  } catch {
    return `(no log at ${file})`;
  }
}

function psql(adminUrl, sql) {
  execFileSync('psql', [`${adminUrl}/postgres`, '-v', 'ON_ERROR_STOP=1', '-qAtc', sql], {
    stdio: ['ignore', 'pipe', 'pipe'],
    timeout: 30_000,
  });
}

/** Starts a process with stdout and stderr appended to `logFile`. */
function startProcess(name, bin, args, { env, cwd, logFile }) {
  if (!fs.existsSync(bin)) {
    throw new Error(`${name}: binary not found at ${bin} (build it first, or set the variable that names it)`);
  }
  const fd = fs.openSync(logFile, 'a');
  const child = spawn(bin, args, { env, cwd, stdio: ['ignore', fd, fd] });
  fs.closeSync(fd);
  const proc = { name, child, logFile, exited: null };
  child.on('exit', (code, signal) => {
    proc.exited = { code, signal };
  });
  child.on('error', (err) => {
    proc.exited = { code: null, signal: null, error: err };
  });
  return proc;
}

/** Sends SIGTERM to the process we started, then SIGKILL after `graceMs`. */
async function stopProcess(proc, graceMs = 10_000) {
  if (!proc || proc.exited || proc.child.pid === undefined) return;
  const done = new Promise((r) => proc.child.once('exit', r));
  proc.child.kill('SIGTERM');
  const stopped = await Promise.race([done.then(() => true), sleep(graceMs).then(() => false)]);
  if (!stopped && !proc.exited) {
    proc.child.kill('SIGKILL');
    await Promise.race([done, sleep(2_000)]);
  }
}

/** Polls `url` until it answers 2xx, the process exits, or `timeoutMs` passes. */
async function waitForHttp(proc, url, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  let last = 'no answer yet';
  while (Date.now() < deadline) {
    if (proc.exited) {
      throw new Error(`${proc.name} exited (${JSON.stringify(proc.exited)}) before ${url} answered`);
    }
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(2_000) });
      const body = await res.text();
      if (res.ok) return body;
      last = `${res.status} ${body.slice(0, 300)}`;
    } catch (err) {
      last = String(err.cause?.code || err.message);
    }
    await sleep(250);
  }
  throw new Error(`${proc.name}: ${url} did not answer 2xx within ${timeoutMs} ms (last: ${last})`);
}

/** The environment of the gateway: ours without any SWITCHYARD_* variable (unknown ones stop its start). */
function gatewayEnv(extra) {
  const env = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (!k.startsWith('SWITCHYARD_')) env[k] = v;
  }
  return { ...env, ...extra };
}

/**
 * Starts the whole stack. Returns `{ baseUrl, mockUrl, logs, stop() }`; `stop()` is safe to call twice and
 * also drops the database and the Redis keys of this run.
 */
export async function startStack(opts = settings(), onCreated = () => {}) {
  const run = randomBytes(4).toString('hex');
  const logsDir = path.join(opts.artifacts, 'logs');
  fs.mkdirSync(logsDir, { recursive: true });
  const workDir = fs.mkdtempSync(path.join(os.tmpdir(), `sy-e2e-${run}-`));
  const dbName = `sy_e2e_${run}`;
  const redisPrefix = `sy-e2e-${run}`;
  const logs = {
    gateway: path.join(logsDir, 'gateway.log'),
    mock: path.join(logsDir, 'mock-provider.log'),
  };
  for (const f of Object.values(logs)) fs.writeFileSync(f, '');

  const stack = { baseUrl: null, mockUrl: null, logs, dbName, redisPrefix, workDir, procs: [] };
  let dbCreated = false;
  let stopped = false;

  stack.stop = async () => {
    if (stopped) return;
    stopped = true;
    // The gateway first: it flushes its usage queue to the database on SIGTERM.
    for (const proc of [...stack.procs].reverse()) await stopProcess(proc);
    if (dbCreated) {
      try {
        psql(opts.postgresUrl, `DROP DATABASE IF EXISTS "${dbName}" WITH (FORCE)`);
      } catch (err) {
        console.error(`warning: could not drop database ${dbName}: ${err.stderr || err.message}`);
      }
    }
    try {
      const keys = execFileSync('redis-cli', ['-u', opts.redisUrl, '--scan', '--pattern', `${redisPrefix}*`], {
        encoding: 'utf8',
        timeout: 15_000,
      })
        .split('\n')
        .filter(Boolean);
      for (let i = 0; i < keys.length; i += 500) {
        execFileSync('redis-cli', ['-u', opts.redisUrl, 'DEL', ...keys.slice(i, i + 500)], { timeout: 15_000 });
      }
    } catch {
      // Best effort: the keys of counters expire by themselves.
    }
    fs.rmSync(workDir, { recursive: true, force: true });
  };
  // The caller can stop a stack that is still starting (an interrupted run).
  onCreated(stack);

  try {
    if (!fs.existsSync(path.join(opts.consoleDir, 'index.html'))) {
      throw new Error(`console not built: ${opts.consoleDir}/index.html is missing (set SWITCHYARD_E2E_CONSOLE_DIR)`);
    }

    try {
      psql(opts.postgresUrl, `CREATE DATABASE "${dbName}"`);
    } catch (err) {
      throw new Error(`creating database ${dbName} at ${opts.postgresUrl}: ${err.stderr || err.message}`);
    }
    dbCreated = true;

    const mockPort = await freePort();
    const mock = startProcess('mock-provider', opts.mockBin, ['--listen', `127.0.0.1:${mockPort}`], {
      env: process.env,
      cwd: workDir,
      logFile: logs.mock,
    });
    stack.procs.push(mock);
    stack.mockUrl = `http://127.0.0.1:${mockPort}/v1`;
    await waitForHttp(mock, `${stack.mockUrl}/models`, 20_000);

    const port = await freePort();
    const gateway = startProcess('gateway', opts.gatewayBin, ['serve'], {
      cwd: workDir,
      logFile: logs.gateway,
      env: gatewayEnv({
        SWITCHYARD_LISTEN: `127.0.0.1:${port}`,
        SWITCHYARD_DATABASE_URL: `${opts.postgresUrl}/${dbName}`,
        SWITCHYARD_REDIS_URL: opts.redisUrl,
        SWITCHYARD_REDIS_PREFIX: redisPrefix,
        SWITCHYARD_DATA_DIR: path.join(workDir, 'data'),
        // Top-level setting `console_dir` (backend/gateway/src/config.rs).
        SWITCHYARD_CONSOLE_DIR: opts.consoleDir,
        SWITCHYARD_WORKERS: '2',
        SWITCHYARD_PROXY__SHUTDOWN_GRACE: '2s',
        SWITCHYARD_ADMIN__MODE: 'saas',
        // The mock provider listens on loopback over http: allowed as an operator allows a private upstream.
        SWITCHYARD_EGRESS__ALLOWED_NETWORKS: '["127.0.0.1"]',
        SWITCHYARD_EGRESS__REQUIRE_HTTPS: 'false',
        SWITCHYARD_ADMIN__JWT_SECRET: JWT_SECRET,
        // Cookies stay `Secure` (the default): Chromium keeps them from http://127.0.0.1, a secure context, so
        // the suite tests what a user gets.
        // Every sign-up counts against the per-address limit; the suite signs up a dozen tenants.
        SWITCHYARD_ADMIN__LOGIN_ATTEMPTS: '1000',
        // The installation's first owner (a platform admin); the scenarios do not use it.
        SWITCHYARD_ADMIN_EMAIL: 'platform-admin@e2e.test',
        SWITCHYARD_ADMIN_PASSWORD: 'platform-admin-password-e2e',
      }),
    });
    stack.procs.push(gateway);
    stack.baseUrl = `http://127.0.0.1:${port}`;
    await waitForHttp(gateway, `${stack.baseUrl}/readyz`, 90_000);
    return stack;
  } catch (err) {
    await stack.stop();
    throw err;
  }
}
