// Shared pieces of the browser tests: the server under test (from the environment the `run`
// script sets), admin fixtures through the public API, Chromium, console-error capture, probes.

import { spawn } from 'node:child_process';
import { createHmac, randomUUID, randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, openSync, closeSync, rmSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const here = path.dirname(fileURLToPath(import.meta.url));
/** Repository root. */
export const ROOT = path.resolve(here, '../../..');
/** Where screenshots go (git-ignored). */
export const ARTIFACTS = process.env.BOXOFFICE_TEST_ARTIFACTS || path.join(ROOT, 'test-artifacts');

/** The server under test: BOXOFFICE_TEST_URL and the HS256 secret it was started with. */
export function server() {
  const url = process.env.BOXOFFICE_TEST_URL;
  const secret = process.env.BOXOFFICE_AUTH_SECRET;
  if (!url || !secret) {
    throw new Error('BOXOFFICE_TEST_URL and BOXOFFICE_AUTH_SECRET must be set: run the tests through tests/browser/run');
  }
  return { url: url.replace(/\/$/, ''), secret };
}

const b64url = (buf) => Buffer.from(buf).toString('base64url');

/** An HS256 JWT with the given roles, as the contract describes (sub, exp, roles). */
export function token(secret, roles = []) {
  const header = b64url(JSON.stringify({ alg: 'HS256', typ: 'JWT' }));
  const claims = b64url(JSON.stringify({ sub: randomUUID(), exp: Math.floor(Date.now() / 1000) + 3600, roles }));
  const sig = b64url(createHmac('sha256', secret).update(`${header}.${claims}`).digest());
  return `${header}.${claims}.${sig}`;
}

/** Calls the API (of `on`, default the server under test); resolves to { status, body, headers }. */
export async function call(method, urlPath, { bearer, body, headers = {}, on = server() } = {}) {
  const { url } = on;
  const res = await fetch(`${url}${urlPath}`, {
    method,
    headers: {
      ...(bearer ? { Authorization: `Bearer ${bearer}` } : {}),
      ...(body !== undefined ? { 'Content-Type': 'application/json' } : {}),
      ...headers,
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  let parsed = text;
  try { parsed = text ? JSON.parse(text) : null; } catch { /* not JSON */ }
  return { status: res.status, body: parsed, headers: res.headers };
}

async function must(method, urlPath, opts, expected) {
  const r = await call(method, urlPath, opts);
  if (!expected.includes(r.status)) {
    throw new Error(`${method} ${urlPath} answered ${r.status}: ${JSON.stringify(r.body)}`);
  }
  return r.body;
}

/** A unique search word for this run, so searches find only this test's event. */
export function uniqueWord(prefix = 'bt') {
  return `${prefix}${randomBytes(5).toString('hex')}`;
}

const ymd = (d) => d.toISOString().slice(0, 10);

/**
 * Creates a venue (two sections), an event and one show through the admin API.
 * Options: title, showInMs (default 3 days ahead), saleOpensInMs, rows, seatsPerRow, waitingRoom,
 * on (the server, default the one under test; e.g. one from startDevServer).
 */
export async function createShow({
  title, showInMs = 3 * 86400_000, saleOpensInMs, rows = 4, seatsPerRow = 12, waitingRoom, on = server(),
} = {}) {
  const admin = token(on.secret, ['admin']);
  const rowList = (n, prefix) => Array.from({ length: n }, (_, i) => ({ row: `${prefix}${i + 1}`, seats: seatsPerRow }));
  const venue = await must('POST', '/v1/admin/venues', {
    on,
    bearer: admin,
    body: {
      name: `Test Hall ${uniqueWord('v')}`,
      city: 'Testville',
      sections: [
        { sectionId: 'S', name: 'Stalls', priceCategory: 'standard', price: 4000, currency: 'EUR', rows: rowList(rows, 'S') },
        { sectionId: 'B', name: 'Balcony', priceCategory: 'value', price: 2500, currency: 'EUR', rows: rowList(2, 'B') },
      ],
    },
  }, [201]);
  const now = new Date();
  const event = await must('POST', '/v1/admin/events', {
    on,
    bearer: admin,
    body: {
      title: title || `Moonlight Recital ${uniqueWord()}`,
      description: 'An evening of piano music, created by the browser tests.',
      category: 'concerts',
      city: 'Testville',
      venueId: venue.venueId,
      startDate: ymd(now),
      endDate: ymd(new Date(now.getTime() + 7 * 86400_000)),
    },
  }, [201]);
  const show = await must('POST', `/v1/admin/events/${event.eventId}/shows`, {
    on,
    bearer: admin,
    body: {
      showTime: new Date(now.getTime() + showInMs).toISOString(),
      ...(saleOpensInMs ? { saleOpensAt: new Date(now.getTime() + saleOpensInMs).toISOString() } : {}),
      ...(waitingRoom ? { waitingRoom } : {}),
    },
  }, [201]);
  return { venue, event, show, admin };
}

/** A new guest: { token, userId }. */
export async function guest() {
  return must('POST', '/v1/auth/guest', {}, [201]);
}

/** The guest token the page signed in with (the front end keeps it in localStorage). */
export async function pageToken(page) {
  return page.evaluate(() => JSON.parse(localStorage.getItem('boxoffice.auth') || 'null')?.token);
}

/** Holds seats through the API as `bearer`; resolves to the hold. */
export async function holdSeats(bearer, showId, seatIds) {
  return must('POST', '/v1/bookings/hold', { bearer, body: { showId, seatIds }, headers: { 'Idempotency-Key': randomUUID() } }, [201]);
}

/** Holds and pays for seats through the API as `bearer`; resolves to the booking. */
export async function book(bearer, showId, seatIds) {
  const hold = await holdSeats(bearer, showId, seatIds);
  return must('POST', '/v1/bookings/confirm', {
    bearer, body: { holdId: hold.holdId, paymentMethodId: 'pm_card_visa' }, headers: { 'Idempotency-Key': randomUUID() },
  }, [200, 201]);
}

/** The first `n` seats of a show's map in drawing order, with their section. */
export async function someSeats(eventId, showId, n) {
  const map = await seatMap(eventId, showId);
  return map.sections.flatMap((s) => s.seats.map((seat) => ({ ...seat, sectionName: s.name }))).slice(0, n);
}

/** The seat map of a show, straight from the API. */
export async function seatMap(eventId, showId) {
  return must('GET', `/v1/events/${eventId}/shows/${showId}/seats`, {}, [200]);
}

/**
 * Asks for a WebSocket upgrade on `urlPath` without speaking WebSocket afterwards.
 * Resolves to the HTTP status: 101 when the route exists and upgrades, 404 when it does not.
 */
export function probeWebSocket(urlPath) {
  const { url } = server();
  return new Promise((resolve, reject) => {
    const req = http.request(`${url}${urlPath}`, {
      headers: {
        Connection: 'Upgrade',
        Upgrade: 'websocket',
        'Sec-WebSocket-Version': '13',
        'Sec-WebSocket-Key': randomBytes(16).toString('base64'),
      },
      timeout: 5000,
      agent: false, // a connection of its own: an answered upgrade is never reused
    });
    req.on('upgrade', (res, socket) => { socket.destroy(); resolve(res.statusCode); });
    req.on('response', (res) => { res.resume(); resolve(res.statusCode); });
    req.on('timeout', () => req.destroy(new Error(`no answer to the WebSocket upgrade on ${urlPath}`)));
    req.on('error', reject);
    req.end();
  });
}

/** A free loopback TCP port (the OS picks it; a race with another process is unlikely). */
function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => { const { port } = s.address(); s.close(() => resolve(port)); });
  });
}

/**
 * Starts one more `boxoffice dev` of the binary under test (BOXOFFICE_BIN, which tests/browser/run
 * exports), with its own port, data dir and secret and the extra environment `env` (deployment
 * settings such as BOXOFFICE_HOLD_TTL). Its log goes to test-artifacts/server-<name>.log.
 * Resolves once /readyz answers to { url, secret, stop() }; fails clearly otherwise.
 */
export async function startDevServer({ name, env = {} }) {
  const bin = process.env.BOXOFFICE_BIN;
  if (!bin) throw new Error('BOXOFFICE_BIN must name the boxoffice binary to start another dev server: run the tests through tests/browser/run');
  const port = await freePort();
  const dataDir = mkdtempSync(path.join(os.tmpdir(), `boxoffice-browser-${name}-`));
  const secret = randomBytes(32).toString('hex');
  mkdirSync(ARTIFACTS, { recursive: true });
  const logFile = path.join(ARTIFACTS, `server-${name}.log`);
  const log = openSync(logFile, 'w');
  const child = spawn(bin, ['dev'], {
    env: {
      ...process.env, BOXOFFICE_HTTP_ADDR: `127.0.0.1:${port}`, BOXOFFICE_DATA_DIR: dataDir, BOXOFFICE_AUTH_SECRET: secret, ...env,
    },
    stdio: ['ignore', log, log],
  });
  closeSync(log);
  let exited = null;
  const exit = new Promise((resolve) => child.on('exit', (code, signal) => { exited = { code, signal }; resolve(); }));
  const stop = async () => {
    if (!exited) {
      child.kill('SIGTERM');
      const killer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exit;
      clearTimeout(killer);
    }
    rmSync(dataDir, { recursive: true, force: true });
  };
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 120_000;
  for (;;) {
    if (exited) {
      await stop();
      throw new Error(`${bin} dev (${name}) exited during start-up (${JSON.stringify(exited)}); see ${logFile}`);
    }
    const ready = await fetch(`${url}/readyz`).then((r) => r.ok, () => false);
    if (ready) return { url, secret, stop };
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`${bin} dev (${name}) was not ready within 120 s; see ${logFile}`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** Starts the system Chromium headless, as the project's services notes require. */
export function launch() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM_PATH || '/usr/bin/chromium',
    headless: true,
    // playwright gives every launch a fresh temporary profile (user-data-dir) of its own.
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
      '--disable-sync', '--no-first-run', '--disable-quic'],
  });
}

/**
 * Collects console errors and uncaught page errors of a page. `allow` lists RegExps for
 * messages that are expected (e.g. a route the server does not have yet); they are kept apart.
 */
export function watchConsole(page, allow = []) {
  const errors = [];
  const allowed = [];
  page.on('console', (msg) => {
    if (msg.type() !== 'error') return;
    const text = `${msg.text()} @ ${msg.location()?.url || ''}`;
    (allow.some((re) => re.test(text)) ? allowed : errors).push(text);
  });
  page.on('pageerror', (err) => errors.push(`pageerror: ${err.message}`));
  return { errors, allowed };
}

/** Saves a screenshot of a locator (or the whole page) under test-artifacts/. */
export async function screenshot(target, name) {
  mkdirSync(ARTIFACTS, { recursive: true });
  const file = path.join(ARTIFACTS, name);
  const isPage = typeof target.goto === 'function';
  await target.screenshot({ path: file, ...(isPage ? { fullPage: true } : {}) });
  return file;
}

/** Polls `fn` until it returns a truthy value or `timeoutMs` passes. */
export async function eventually(fn, { timeoutMs = 5000, intervalMs = 200, what = 'condition' } = {}) {
  const deadline = Date.now() + timeoutMs;
  let last;
  for (;;) {
    try {
      last = await fn();
      if (last) return last;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}: ${last?.message || JSON.stringify(last)}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}
