// The whole purchase in a real browser: browse -> event -> show -> pick 2 seats (mouse and
// keyboard) -> hold -> countdown -> pay with pm_card_visa -> booking page with tickets.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import {
  server, createShow, uniqueWord, launch, watchConsole, screenshot, call, eventually,
} from './lib/harness.mjs';

let browser;
let fixture;
let word;

before(async () => {
  word = uniqueWord();
  fixture = await createShow({ title: `Moonlight Recital ${word}` });
  browser = await launch();
});

after(async () => {
  await browser?.close();
});

test('a buyer finds an event, holds two seats and pays; the booking shows its tickets', async () => {
  const { url } = server();
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  const consoleLog = watchConsole(page);

  // Browse and search: the catalog reflects new events within 1 s, so retry the search briefly.
  await page.goto(`${url}/`);
  await page.getByRole('heading', { name: 'Find events' }).waitFor();
  const eventLink = page.getByRole('link', { name: `Moonlight Recital ${word}` });
  await eventually(async () => {
    await page.getByLabel('Search').fill(word);
    await page.getByRole('button', { name: 'Search' }).click();
    await page.locator('.result-count').waitFor();
    return eventLink.isVisible();
  }, { timeoutMs: 5000, what: 'the new event in search results' });
  await eventLink.click();

  // Event page: the show with its status, free seats and lowest price.
  const showCard = page.locator(`[data-show-id="${fixture.show.showId}"]`);
  await showCard.waitFor();
  assert.match(await showCard.innerText(), /On sale/);
  assert.match(await showCard.innerText(), /seats available/);
  assert.match(await showCard.innerText(), /From €25\.00/);
  await showCard.getByRole('link', { name: /Choose seats/ }).click();

  // Seat map: one seat by mouse, its neighbour by keyboard.
  const seats = page.locator('.seatmap-svg circle.seat');
  await seats.first().waitFor();
  assert.equal(await seats.count(), fixture.show.totalSeats, 'every seat of the show is drawn');
  const first = page.locator('.seatmap-svg circle.seat.st-available').first();
  const firstId = await first.getAttribute('data-seat-id');
  await first.click();
  await page.locator(`[data-seat-id="${firstId}"]`).focus();
  await page.keyboard.press('ArrowRight');
  const secondId = await page.evaluate(() => document.activeElement.getAttribute('data-seat-id'));
  assert.ok(secondId && secondId !== firstId, 'the arrow key moves focus to a neighbouring seat');
  await page.keyboard.press('Space');
  await assert.doesNotReject(page.locator('.seatmap-svg circle.seat.st-selected').nth(1).waitFor());
  const selected = page.getByRole('list', { name: 'Selected seats' }).getByRole('listitem');
  assert.equal(await selected.count(), 2);
  await screenshot(page.locator('.show-layout'), 'seat-map.png');

  // Hold, with a visible countdown that runs.
  const holdResponse = page.waitForResponse((r) => r.url().endsWith('/v1/bookings/hold'));
  await page.getByRole('button', { name: 'Hold 2 seats' }).click();
  assert.equal((await holdResponse).status(), 201);
  assert.ok((await holdResponse).request().headers()['idempotency-key'], 'the hold carries an Idempotency-Key');
  const timer = page.getByRole('timer');
  await timer.waitFor();
  const before = await timer.innerText();
  assert.match(before, /^\d+:\d{2}$/);
  await page.waitForTimeout(1300);
  const afterText = await timer.innerText();
  const secs = (s) => s.split(':').reduce((m, x) => m * 60 + Number(x), 0);
  assert.ok(secs(afterText) < secs(before), `the countdown runs (${before} -> ${afterText})`);
  assert.equal(await page.locator('.seatmap-svg circle.seat.st-mine').count(), 2, 'held seats are marked as yours');

  // Pay with the sandbox card that succeeds.
  await page.getByLabel(/Visa ending 4242/).check();
  await page.getByRole('button', { name: /^Pay / }).click();
  await page.waitForURL(/#\/bookings\/[0-9a-f-]{36}$/);
  const bookingId = page.url().split('/').pop();
  const summary = page.locator('.booking-summary');
  await summary.waitFor();
  assert.match(await summary.innerText(), new RegExp(bookingId));
  assert.match(await summary.innerText(), /Confirmed/);
  const rows = page.locator('.seats-table tbody tr');
  assert.equal(await rows.count(), 2);
  assert.deepEqual((await rows.evaluateAll((trs) => trs.map((tr) => tr.dataset.seatId))).sort(), [firstId, secondId].sort());

  // Tickets: the contract issues them within 5 s; each shows its QR image (fetched with the
  // bearer token) and offers its PDF.
  const userToken = await page.evaluate(() => JSON.parse(localStorage.getItem('boxoffice.auth')).token);
  const issued = await eventually(async () => {
    const r = await call('GET', `/v1/bookings/${bookingId}`, { bearer: userToken });
    assert.equal(r.status, 200, `GET /v1/bookings/${bookingId}: ${JSON.stringify(r.body)}`);
    return (r.body.tickets || []).length === 2 && r.body.tickets;
  }, { timeoutMs: 6000, what: 'the booking\'s two tickets from GET /v1/bookings/{id} (issued within 5 s)' });
  for (const ticket of issued) {
    assert.ok(ticket.qrSvgUrl || ticket.qrPngUrl, `ticket ${ticket.ticketId} has a QR link: ${JSON.stringify(ticket)}`);
    assert.ok(ticket.pdfUrl, `ticket ${ticket.ticketId} has a PDF link: ${JSON.stringify(ticket)}`);
  }
  const tickets = page.locator('.ticket');
  await eventually(async () => (await tickets.count()) === 2, { timeoutMs: 15000, what: 'two tickets on the booking page' });
  const qr = page.locator('.ticket img.qr');
  await eventually(async () => (await qr.count()) === 2
    && (await qr.evaluateAll((imgs) => imgs.every((i) => i.complete && i.naturalWidth > 0))),
  { timeoutMs: 10000, what: 'both ticket QR images loaded (img.qr complete with a natural width)' });
  // The screenshot is of a real ticket: its QR image is loaded and on screen.
  const firstTicket = tickets.first();
  await firstTicket.scrollIntoViewIfNeeded();
  assert.ok(await firstTicket.locator('img.qr').isVisible(), 'the first ticket shows its QR image');
  await screenshot(firstTicket, 'ticket.png');
  await screenshot(page, 'booking.png');
  // The PDF link is fetched with the token too, and arrives as a download.
  const pdfButton = firstTicket.getByRole('button', { name: 'Download PDF' });
  assert.equal(await pdfButton.count(), 1, 'the ticket offers "Download PDF"');
  const download = page.waitForEvent('download');
  await pdfButton.click();
  const pdf = await download;
  assert.match(pdf.suggestedFilename(), /\.pdf$/);
  assert.equal((await readFile(await pdf.path())).subarray(0, 5).toString(), '%PDF-');

  assert.deepEqual(consoleLog.errors, [], 'no console errors');
  await context.close();
});
