// Shared pieces of the browser tests: the server under test (from the environment the `run`
// script sets), admin fixtures through the public API, Chromium, console-error capture, probes.

import { createHmac, randomUUID, randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import http from 'node:http';
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

/** Calls the API; resolves to { status, body, headers }. */
export async function call(method, urlPath, { bearer, body, headers = {} } = {}) {
  const { url } = server();
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
 * Options: title, showInMs (default 3 days ahead), saleOpensInMs, rows, seatsPerRow, waitingRoom.
 */
export async function createShow({ title, showInMs = 3 * 86400_000, saleOpensInMs, rows = 4, seatsPerRow = 12, waitingRoom } = {}) {
  const { secret } = server();
  const admin = token(secret, ['admin']);
  const rowList = (n, prefix) => Array.from({ length: n }, (_, i) => ({ row: `${prefix}${i + 1}`, seats: seatsPerRow }));
  const venue = await must('POST', '/v1/admin/venues', {
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

/**
 * Routes that another issue has not built yet, found by asking the server: the WebSockets the
 * page opens on a show (seat map live, queue live). While a route answers 404, the browser's own
 * console lines about that failed handshake are expected; `allow` matches exactly those and
 * `notes` says what is pending. Once the routes exist, nothing is allowed.
 */
export async function routeGaps(showId) {
  const allow = [];
  const notes = [];
  if ((await probeWebSocket(`/v1/shows/${showId}/seats/live`)) === 404) {
    allow.push(/WebSocket connection to .*\/seats\/live.* failed/);
    notes.push('PENDING (server): GET /v1/shows/{id}/seats/live answers 404; the page polled the seat map instead');
  }
  const { token: guestToken } = await must('POST', '/v1/auth/guest', {}, [201]);
  if ((await probeWebSocket(`/v1/shows/${showId}/queue/live?token=${guestToken}`)) === 404) {
    allow.push(/WebSocket connection to .*\/queue\/live.* failed/);
    notes.push('PENDING (server): GET /v1/shows/{id}/queue/live answers 404; the page polled .../queue/me instead');
  }
  return { allow, notes };
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
