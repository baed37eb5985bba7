// "My bookings": the list shows the buyer's bookings; cancelling one shows the refund.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { server, createShow, launch, watchConsole, pageToken, book, someSeats } from './lib/harness.mjs';

let browser;
let fixture;

before(async () => {
  fixture = await createShow({ showInMs: 3 * 86400_000 });
  browser = await launch();
});

after(async () => {
  await browser?.close();
});

async function buyerWithBooking() {
  const { url } = server();
  const context = await browser.newContext({ viewport: { width: 1100, height: 900 } });
  const page = await context.newPage();
  const consoleLog = watchConsole(page);
  await page.goto(`${url}/#/bookings`);
  await page.getByRole('heading', { name: 'My bookings' }).waitFor();
  const token = await pageToken(page);
  assert.ok(token, 'the page signed in as a guest by itself');
  const seats = (await someSeats(fixture.event.eventId, fixture.show.showId, 40)).filter((s) => s.status === 'AVAILABLE');
  const booking = await book(token, fixture.show.showId, [seats[0].seatId, seats[1].seatId]);
  return { context, page, consoleLog, booking };
}

test('my bookings lists a booking made by this buyer', async () => {
  const { context, page, consoleLog, booking } = await buyerWithBooking();
  const card = page.locator(`[data-booking-id="${booking.bookingId}"]`);
  // Lists may lag by up to 1 s.
  for (let i = 0; i < 10 && !(await card.count()); i += 1) {
    await page.reload();
    await page.getByRole('heading', { name: 'My bookings' }).waitFor();
    if (!(await card.count())) await page.waitForTimeout(300);
  }
  await card.waitFor();
  assert.match(await card.innerText(), /2 seats · €80\.00/);
  assert.match(await card.innerText(), /Confirmed/);
  await card.getByRole('link').click();
  await page.locator(`.booking-summary[data-booking-id="${booking.bookingId}"]`).waitFor();
  assert.deepEqual(consoleLog.errors, []);
  await context.close();
});

test('cancelling a booking shows the refund', async () => {
  const { context, page, consoleLog, booking } = await buyerWithBooking();
  await page.goto(`${server().url}/#/bookings/${booking.bookingId}`);
  await page.locator('.booking-summary').waitFor();
  await page.getByRole('button', { name: 'Cancel booking' }).click();
  await page.getByRole('button', { name: 'Yes, cancel booking' }).click();
  // Whatever the answer, the page shows a message; it must be the refund, not an error.
  const answered = page.locator('.booking-summary .message-success, .booking-summary .message-error').first();
  await answered.waitFor();
  const result = page.locator('.booking-summary .message-success');
  assert.equal(await result.count(), 1, `cancelling succeeded (the page says: ${await answered.innerText()})`);
  // The show is 3 days away: a full refund.
  assert.match(await result.innerText(), /Refund: €80\.00 \(100%\)/);
  assert.match(await page.locator('.booking-summary').innerText(), /Cancelled/);
  assert.deepEqual(consoleLog.errors, []);
  await context.close();
});
