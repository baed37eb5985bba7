// The waiting room in the browser: a buyer on a QUEUE show joins (solving the proof-of-work
// challenge), sees its place, is admitted, and holds seats with the admission token.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { server, createShow, launch, watchConsole, call, routeGaps } from './lib/harness.mjs';

// Waiting rooms are built by another issue: pending while the admin switch does not exist.
const fixture = await createShow();
const switched = await call('PUT', `/v1/admin/shows/${fixture.show.showId}/waiting-room`, {
  bearer: fixture.admin, body: { enabled: true, admitPerMinute: 600, challengeBits: 8 },
});
const pending = [404, 405, 501].includes(switched.status)
  ? `PENDING (server): PUT /v1/admin/shows/{id}/waiting-room answers ${switched.status}, waiting rooms are not built yet`
  : false;

// Pushes over .../queue/live and .../seats/live are optional for the page (it polls too);
// while those routes are missing, the browser's own log lines about them are expected.
const gaps = await routeGaps(fixture.show.showId);

let browser;

before(async () => {
  browser = await launch();
});

after(async () => {
  await browser?.close();
});

test('a buyer waits in the queue, is admitted, and holds seats with the admission token', { skip: pending }, async (t) => {
  assert.equal(switched.status, 200, `switching the waiting room on: ${JSON.stringify(switched.body)}`);
  assert.equal(switched.body.status, 'QUEUE');
  const { url } = server();
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  const consoleLog = watchConsole(page, [/status of 428/, ...gaps.allow]);
  await page.goto(`${url}/#/events/${fixture.event.eventId}`);
  await page.locator(`[data-show-id="${fixture.show.showId}"]`).getByRole('link', { name: /Join the queue/ }).click();
  await page.getByRole('heading', { name: 'Waiting room' }).waitFor();

  // Admission: the head of the queue is admitted within 10 s of reaching it.
  await page.getByText("It's your turn").waitFor({ timeout: 20_000 });
  await page.locator('.seatmap-svg circle.seat.st-available').first().click();
  const holdRequest = page.waitForRequest((r) => r.url().endsWith('/v1/bookings/hold'));
  const holdResponse = page.waitForResponse((r) => r.url().endsWith('/v1/bookings/hold'));
  await page.getByRole('button', { name: 'Hold 1 seat' }).click();
  assert.ok((await holdRequest).headers()['admission-token'], 'the hold carries the Admission-Token header');
  assert.equal((await holdResponse).status(), 201);
  await page.getByRole('timer').waitFor();
  assert.deepEqual(consoleLog.errors, []);
  if (consoleLog.allowed.length) gaps.notes.forEach((n) => t.diagnostic(n));
  await context.close();
});
