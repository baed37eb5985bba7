// The waiting room in the browser: a buyer on a QUEUE show joins (solving the proof-of-work
// challenge), sees its place, is admitted, and holds seats with the admission token.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { server, createShow, launch, watchConsole, call, guest, screenshot } from './lib/harness.mjs';
import { solveChallenge } from '../../web/assets/js/sha256.js';

let browser;

before(async () => {
  browser = await launch();
});

/** A new show with its waiting room switched on by the admin API; fails if the switch does. */
async function queueShow(admitPerMinute) {
  const fixture = await createShow();
  const r = await call('PUT', `/v1/admin/shows/${fixture.show.showId}/waiting-room`, {
    bearer: fixture.admin, body: { enabled: true, admitPerMinute, challengeBits: 8 },
  });
  assert.equal(r.status, 200, `PUT /v1/admin/shows/{id}/waiting-room answered ${r.status}: ${JSON.stringify(r.body)}`);
  assert.equal(r.body.status, 'QUEUE', 'the show reads QUEUE once its waiting room is on');
  return fixture;
}

after(async () => {
  await browser?.close();
});

test('a buyer waits in the queue, is admitted, and holds seats with the admission token', async () => {
  const fixture = await queueShow(600);
  const { url } = server();
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  const consoleLog = watchConsole(page, [/status of 428/]);
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
  await context.close();
});

/** Joins the queue through the API as a new guest, solving the challenge if asked. */
async function joinAsGuest(showId) {
  const { token } = await guest();
  const join = (headers) => call('POST', `/v1/shows/${showId}/queue`, { bearer: token, headers: { 'Idempotency-Key': randomUUID(), ...headers } });
  let r = await join({});
  if (r.status === 428) r = await join({ 'Challenge-Solution': solveChallenge(r.body.challenge, r.body.bits) });
  assert.ok([200, 201].includes(r.status), `join answered ${r.status}: ${JSON.stringify(r.body)}`);
  return r.body;
}

test('a buyer behind others sees a place in line and an estimated wait', async () => {
  const slow = await queueShow(1);
  await joinAsGuest(slow.show.showId);
  await joinAsGuest(slow.show.showId);
  const { url } = server();
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  const consoleLog = watchConsole(page, [/status of 428/]);
  await page.goto(`${url}/#/events/${slow.event.eventId}/shows/${slow.show.showId}`);
  const place = page.locator('.queue-position strong');
  await place.waitFor();
  assert.ok(Number(await place.innerText()) >= 1, 'a place in line is shown');
  assert.match(await page.locator('.queue-panel').innerText(), /Estimated wait: /);
  assert.equal(await page.locator('.seatmap-svg circle.seat[aria-disabled="false"]').count(), 0, 'no seat can be picked while waiting');
  await screenshot(page, 'queue-waiting.png');
  assert.deepEqual(consoleLog.errors, []);
  await context.close();
});
