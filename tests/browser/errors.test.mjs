// The buyer is told clearly what went wrong: a declined card (then a retry that works), a
// seat someone else took first, a sale that has not opened yet.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { server, createShow, launch, watchConsole, guest, holdSeats } from './lib/harness.mjs';

let browser;

before(async () => {
  browser = await launch();
});

after(async () => {
  await browser?.close();
});

async function openShow(fixture, setup) {
  const { url } = server();
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  // A declined payment or a conflict is an HTTP error response, which Chromium logs to the
  // console by itself; only such network lines for the expected statuses are tolerated here.
  const consoleLog = watchConsole(page, [/Failed to load resource: the server responded with a status of (402|409|422)/]);
  if (setup) await setup(page);
  await page.goto(`${url}/#/events/${fixture.event.eventId}/shows/${fixture.show.showId}`);
  await page.locator('.seatmap-svg circle.seat').first().waitFor();
  return { context, page, consoleLog };
}

test('a declined card says so, keeps the hold, and another card then pays', async () => {
  const fixture = await createShow();
  const { context, page, consoleLog } = await openShow(fixture);
  await page.locator('.seatmap-svg circle.seat.st-available').first().click();
  await page.getByRole('button', { name: 'Hold 1 seat' }).click();
  await page.getByRole('timer').waitFor();

  await page.getByLabel(/Card ending 0002/).check();
  await page.getByRole('button', { name: /^Pay / }).click();
  const alert = page.locator('.side-panel .message-error');
  await alert.waitFor();
  assert.match(await alert.innerText(), /declined/i);
  assert.ok(await page.getByRole('timer').isVisible(), 'the hold stays active after a decline');

  await page.getByLabel(/Visa ending 4242/).check();
  await page.getByRole('button', { name: /^Pay / }).click();
  await page.waitForURL(/#\/bookings\/[0-9a-f-]{36}$/);
  assert.deepEqual(consoleLog.errors, []);
  await context.close();
});

test('a seat taken by someone else first is named in the message', async () => {
  const fixture = await createShow();
  // Silence the live feed in this browser so the conflict surfaces as the hold's 409 answer,
  // not as a live update (which the live test covers).
  const { context, page, consoleLog } = await openShow(fixture, (p) => p.routeWebSocket(/\/seats\/live/, () => {}));
  const seat = page.locator('.seatmap-svg circle.seat.st-available').nth(3);
  const seatId = await seat.getAttribute('data-seat-id');
  const label = await seat.getAttribute('aria-label');
  await seat.click();

  const rival = await guest();
  await holdSeats(rival.token, fixture.show.showId, [seatId]);

  await page.getByRole('button', { name: 'Hold 1 seat' }).click();
  const alert = page.locator('.side-panel .message-error');
  await alert.waitFor();
  const text = await alert.innerText();
  assert.match(text, /just taken/);
  const [section, row, number] = label.split(', ');
  assert.ok(text.includes(`${section}, ${row}, ${number}`), `the message names the seat: ${text}`);
  assert.equal(await page.locator(`[data-seat-id="${seatId}"].st-selected`).count(), 0, 'the taken seat is no longer selected');
  assert.deepEqual(consoleLog.errors, []);
  await context.close();
});

test('before the sale opens the seat map is shown but seats cannot be picked', async () => {
  const fixture = await createShow({ saleOpensInMs: 2 * 86400_000 });
  const { context, page, consoleLog } = await openShow(fixture);
  assert.match(await page.locator('.show-meta').innerText(), /Sale opens/);
  // The seat is aria-disabled; a click still explains why instead of doing nothing.
  await page.locator('.seatmap-svg circle.seat').first().click({ force: true });
  const info = page.locator('.side-panel .message');
  await info.waitFor();
  assert.match(await info.innerText(), /go on sale/);
  assert.equal(await page.locator('.seatmap-svg circle.seat.st-selected').count(), 0);
  assert.deepEqual(consoleLog.errors, []);
  await context.close();
});

test('asking for more seats than one buyer may have says so (default limit 6)', async () => {
  const fixture = await createShow();
  const { context, page, consoleLog } = await openShow(fixture);
  const free = page.locator('.seatmap-svg circle.seat.st-available');
  for (let i = 0; i < 7; i += 1) await free.nth(i).click();
  await page.getByRole('button', { name: 'Hold 7 seats' }).click();
  const alert = page.locator('.side-panel .message-error');
  await alert.waitFor();
  assert.match(await alert.innerText(), /more tickets than one buyer may have/);
  assert.equal(await page.getByRole('timer').count(), 0, 'nothing was held');
  assert.deepEqual(consoleLog.errors, []);
  await context.close();
});
