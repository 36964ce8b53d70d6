#!/usr/bin/env node
// Entry point of the console's end-to-end suite: `node e2e/run.mjs [node --test options]`.
// Starts the stack (lib/stack.mjs), runs tests/*.test.mjs with node:test against it, stops the stack, prints
// a summary, and exits non-zero on any failure. Extra arguments go to `node --test`, e.g.
// `--test-name-pattern=isolation`.

import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

import { E2E_DIR, settings, startStack, tail } from './lib/stack.mjs';

const opts = settings();
const TOTAL_TIMEOUT_S = Number(process.env.SWITCHYARD_E2E_TIMEOUT || 900);
const results = path.join(opts.artifacts, 'results.jsonl');

/** Clears what an earlier run left in the artifacts folder (only the files this suite writes). */
function clearArtifacts() {
  fs.mkdirSync(opts.artifacts, { recursive: true });
  for (const f of fs.readdirSync(opts.artifacts)) {
    if (/\.(png|log|csv|jsonl)$/.test(f)) fs.rmSync(path.join(opts.artifacts, f));
  }
  fs.rmSync(path.join(opts.artifacts, 'logs'), { recursive: true, force: true });
}

function printLogTails(stack) {
  if (!stack) return;
  for (const [name, file] of Object.entries(stack.logs)) {
    console.log(`\n---- last lines of the ${name} log (${file}) ----\n${tail(file, 40)}`);
  }
}

function summary() {
  const byName = new Map();
  if (fs.existsSync(results)) {
    for (const line of fs.readFileSync(results, 'utf8').split('\n').filter(Boolean)) {
      const r = JSON.parse(line);
      byName.set(r.name, { ...byName.get(r.name), ...r });
    }
  }
  const rows = [...byName.values()].map((r) => ({
    scenario: r.name,
    result: r.event === 'start' ? 'DID NOT FINISH (timeout?)' : r.event.toUpperCase(),
    seconds: r.ms === undefined ? '' : (r.ms / 1000).toFixed(1),
    error: r.error || '',
  }));
  return rows;
}

async function main() {
  if (!fs.existsSync(path.join(E2E_DIR, 'node_modules', 'playwright-core'))) {
    console.error('e2e: playwright-core is not installed; run `npm --prefix e2e ci` first (no browser is downloaded)');
    return 1;
  }
  clearArtifacts();
  const external = process.env.SWITCHYARD_E2E_BASE_URL && process.env.SWITCHYARD_E2E_MOCK_URL;
  let stack = null;
  let child = null;
  const started = Date.now();
  // The test runner's own process group. Playwright starts Chromium in a group of its own, so SIGTERM comes
  // first (the runner then closes its browser), SIGKILL only if it is still there after 5 s.
  const killTests = () => {
    if (!child) return;
    const pid = child.pid;
    try {
      process.kill(-pid, 'SIGTERM');
    } catch {
      return; // already gone
    }
    setTimeout(() => {
      try {
        process.kill(-pid, 'SIGKILL');
      } catch {
        // gone
      }
    }, 5000).unref();
  };
  // Registered before anything starts, so an interrupted run never leaves the gateway, the mock provider or
  // the throwaway database behind.
  const onSignal = async (sig) => {
    console.error(`e2e: ${sig}; stopping`);
    killTests();
    if (stack) await stack.stop().catch(() => {});
    process.exit(130);
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);

  if (external) {
    console.log(`e2e: using the running gateway ${process.env.SWITCHYARD_E2E_BASE_URL}`);
  } else {
    console.log('e2e: starting PostgreSQL database, mock provider and gateway …');
    try {
      stack = await startStack(opts, (starting) => {
        stack = starting;
      });
    } catch (err) {
      console.error(`e2e: the stack did not start: ${err.message}`);
      const logs = path.join(opts.artifacts, 'logs');
      printLogTails({ logs: { gateway: path.join(logs, 'gateway.log'), mock: path.join(logs, 'mock-provider.log') } });
      return 1;
    }
    console.log(`e2e: gateway ${stack.baseUrl} (database ${stack.dbName}), mock ${stack.mockUrl}`);
    // The console must be served at `/` (index.html for client-side routes too).
    for (const route of ['/', '/login']) {
      const res = await fetch(`${stack.baseUrl}${route}`, { signal: AbortSignal.timeout(10_000) }).catch((e) => ({
        ok: false,
        status: e.message,
      }));
      const type = res.headers?.get('content-type') || '';
      if (!res.ok || !type.includes('text/html')) {
        console.error(`e2e: GET ${route} does not serve the console (status ${res.status}, content-type ${type})`);
        await stack.stop();
        printLogTails(stack);
        return 1;
      }
    }
  }

  const env = {
    ...process.env,
    SWITCHYARD_E2E_BASE_URL: process.env.SWITCHYARD_E2E_BASE_URL || stack.baseUrl,
    SWITCHYARD_E2E_MOCK_URL: process.env.SWITCHYARD_E2E_MOCK_URL || stack.mockUrl,
    SWITCHYARD_E2E_ARTIFACTS: opts.artifacts,
  };
  const args = ['--test', '--test-reporter=spec', ...process.argv.slice(2), path.join('tests', 'scenarios.test.mjs')];
  child = spawn(process.execPath, args, { cwd: E2E_DIR, env, stdio: 'inherit', detached: true });

  let timedOut = false;
  const watchdog = setTimeout(() => {
    timedOut = true;
    console.error(`e2e: the suite ran longer than ${TOTAL_TIMEOUT_S} s; stopping it`);
    killTests();
  }, TOTAL_TIMEOUT_S * 1000);
  let code;
  try {
    code = await new Promise((resolve) => child.on('exit', (c, s) => resolve(c ?? (s ? 1 : 0))));
  } finally {
    clearTimeout(watchdog);
    if (stack) await stack.stop();
  }

  const rows = summary();
  const failed = code !== 0 || timedOut || rows.some((r) => r.result !== 'PASS') || rows.length === 0;
  console.log('\n==== Switchyard console e2e ====');
  if (rows.length) console.table(rows);
  else console.log('no scenario ran');
  console.log(`artifacts (screenshots, logs, downloaded CSV): ${opts.artifacts}`);
  console.log(`total ${((Date.now() - started) / 1000).toFixed(1)} s: ${failed ? 'FAILED' : 'PASSED'}`);
  if (failed) printLogTails(stack);
  return failed ? 1 : 0;
}

process.exitCode = await main();
