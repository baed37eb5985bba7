// A hold that runs out is explained to the buyer: "Your hold has expired ..." (web/assets/js/
// errors.js), both when the page's countdown reaches zero and when the server refuses to confirm
// a hold that expired (410 hold-expired) while the page still showed it. Nothing is charged and
// the seat is free again.
//
// Holds last 10 minutes by default, so this file starts its own `boxoffice dev` of the same
// binary with the deployment setting BOXOFFICE_HOLD_TTL (seconds, docs/API.md) set short.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createShow, launch, watchConsole, pageToken, call, eventually, startDevServer, screenshot } from './lib/harness.mjs';

/** The hold TTL of this file's server: long enough to hold through the page, short to wait out. */
const HOLD_TTL_S = 5;
/** What errors.js says for `hold-expired`, word for word. */
const EXPIRED_MESSAGE = 'Your hold has expired, so the seats were released and no payment was taken. Please pick seats again.';

let shortHolds;
let browser;

before(async () => {
  shortHolds = await startDevServer({ name: 'short-holds', env: { BOXOFFICE_HOLD_TTL: String(HOLD_TTL_S) } });
  browser = await launch();
});

after(async () => {
  await browser?.close();
  await shortHolds?.stop();
});

/** A fresh show on the short-hold server, open in a new page; the buyer holds one seat there. */
async function holdOneSeat(consoleAllow = []) {
  const fixture = await createShow({ on: shortHolds });
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  const consoleLog = watchConsole(page, consoleAllow);
  await page.goto(`${shortHolds.url}/#/events/${fixture.event.eventId}/shows/${fixture.show.showId}`);
  const seat = page.locator('.seatmap-svg circle.seat.st-available').first();
  await seat.waitFor();
  const seatId = await seat.getAttribute('data-seat-id');
  await seat.click();
  const holdResponse = page.waitForResponse((r) => r.url().endsWith('/v1/bookings/hold'));
  await page.getByRole('button', { name: 'Hold 1 seat' }).click();
  const answer = await holdResponse;
  assert.equal(answer.status(), 201, 'the hold is granted');
  const hold = await answer.json();
  const ttlMs = Date.parse(hold.expiresAt) - Date.now();
  assert.ok(ttlMs <= HOLD_TTL_S * 1000 + 1000, `the hold expires after the configured ${HOLD_TTL_S} s (expiresAt ${hold.expiresAt})`);
  await page.getByRole('timer').waitFor();
  return { fixture, context, page, consoleLog, seatId, hold, token: await pageToken(page) };
}

/** The seat's status in the server's seat map. */
async function seatStatus(fixture, seatId) {
  const r = await call('GET', `/v1/events/${fixture.event.eventId}/shows/${fixture.show.showId}/seats`, { on: shortHolds });
  assert.equal(r.status, 200, `seat map: ${JSON.stringify(r.body)}`);
  return r.body.sections.flatMap((s) => s.seats).find((s) => s.seatId === seatId)?.status;
}

/** Checks that the hold is over on the server: EXPIRED, no booking, the seat free again. */
async function assertExpiredOnServer({ fixture, seatId, hold, token }) {
  const h = await call('GET', `/v1/bookings/holds/${hold.holdId}`, { on: shortHolds, bearer: token });
  assert.equal(h.status, 200, `GET hold: ${JSON.stringify(h.body)}`);
  assert.equal(h.body.status, 'EXPIRED');
  const bookings = await call('GET', '/v1/bookings', { on: shortHolds, bearer: token });
  assert.equal(bookings.status, 200, `GET /v1/bookings: ${JSON.stringify(bookings.body)}`);
  assert.deepEqual(bookings.body.items, [], 'no booking was made');
  await eventually(async () => (await seatStatus(fixture, seatId)) === 'AVAILABLE', { timeoutMs: 3000, what: 'the seat AVAILABLE again' });
}

test('when the countdown runs out the page says the hold expired and frees the seat', async () => {
  const held = await holdOneSeat();
  const { page, consoleLog, seatId, context } = held;
  const alert = page.locator('.side-panel .message-error');
  await alert.waitFor({ timeout: (HOLD_TTL_S + 5) * 1000 });
  assert.equal(await alert.innerText(), EXPIRED_MESSAGE);
  assert.equal(await page.getByRole('timer').count(), 0, 'the countdown and payment form are gone');
  assert.equal(await page.getByRole('button', { name: /^Pay / }).count(), 0, 'there is nothing left to pay');
  await screenshot(page.locator('.show-layout'), 'hold-expired.png');
  await assertExpiredOnServer(held);
  // The live map gives the seat back to everyone, this buyer included.
  await page.locator(`[data-seat-id="${seatId}"].st-available`).waitFor({ timeout: 5000 });
  assert.deepEqual(consoleLog.errors, []);
  await context.close();
});

test('paying for a hold the server has expired is refused with the same message, and nothing is charged', async () => {
  // The confirm answers 410, which Chromium logs by itself; only that line is expected.
  const held = await holdOneSeat([/Failed to load resource: the server responded with a status of 410/]);
  const { page, consoleLog, hold, token, context } = held;
  // Hold the page's clock still (timers keep running), as on a device whose clock lags or a tab
  // that slept: the page keeps showing the hold and its Pay button while the server's TTL runs.
  await page.clock.setFixedTime(await page.evaluate(() => Date.now()));
  await eventually(async () => {
    const h = await call('GET', `/v1/bookings/holds/${hold.holdId}`, { on: shortHolds, bearer: token });
    return h.body?.status === 'EXPIRED';
  }, { timeoutMs: (HOLD_TTL_S + 5) * 1000, what: 'the server to report the hold EXPIRED' });
  assert.ok(await page.getByRole('timer').isVisible(), 'the page still shows the hold');

  await page.getByLabel(/Visa ending 4242/).check();
  const confirm = page.waitForResponse((r) => r.url().endsWith('/v1/bookings/confirm'));
  await page.getByRole('button', { name: /^Pay / }).click();
  const answer = await confirm;
  assert.equal(answer.status(), 410, 'the server refuses to confirm an expired hold');
  assert.equal((await answer.json()).code, 'hold-expired');
  const alert = page.locator('.side-panel .message-error');
  await alert.waitFor();
  assert.equal(await alert.innerText(), EXPIRED_MESSAGE);
  assert.equal(await page.getByRole('timer').count(), 0, 'the page drops the hold it was refused');
  assert.ok(!/#\/bookings\//.test(page.url()), 'the page did not move on to a booking');
  await assertExpiredOnServer(held);
  assert.deepEqual(consoleLog.errors, []);
  await context.close();
});
