// The page's side of the live seat protocol, with the WebSocket answered by the test itself
// (playwright routeWebSocket) so every case is exact: deltas apply in version order, a gap in
// versions is never applied but triggers a resync from a new snapshot, and close code 4001
// (too slow) reconnects at once. When the socket fails, the page polls the seat map.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { server, createShow, launch, watchConsole, someSeats, eventually } from './lib/harness.mjs';

let browser;
let fixture;
let seats;

before(async () => {
  fixture = await createShow({ rows: 2, seatsPerRow: 10 });
  seats = await someSeats(fixture.event.eventId, fixture.show.showId, 1000);
  browser = await launch();
});

after(async () => {
  await browser?.close();
});

const snapshot = (version, overrides = {}) => JSON.stringify({
  type: 'SNAPSHOT', version, seats: seats.map((s) => ({ seatId: s.seatId, status: overrides[s.seatId] || 'AVAILABLE' })),
});
const update = (fromVersion, version, changes) => JSON.stringify({
  type: 'SEAT_UPDATE', fromVersion, version, seats: changes.map(([seatId, status]) => ({ seatId, status })), timestamp: new Date().toISOString(),
});

test('deltas apply in order, a version gap resyncs from a new snapshot, 4001 reconnects', async () => {
  const { url } = server();
  const context = await browser.newContext();
  const page = await context.newPage();
  const consoleLog = watchConsole(page);
  const sockets = [];
  const closes = [];
  const [s1, s2, s3, s4] = seats.map((s) => s.seatId);
  await page.routeWebSocket(/\/seats\/live/, (ws) => {
    const n = sockets.push(ws);
    ws.onClose((code) => { closes.push(code); ws.close(); });
    // Each connection starts from a snapshot; the second one says s3 was booked meanwhile.
    ws.send(n === 1 ? snapshot(10) : snapshot(20 * n, { [s3]: 'BOOKED' }));
  });
  await page.goto(`${url}/#/events/${fixture.event.eventId}/shows/${fixture.show.showId}`);
  await page.locator('.live-status[data-mode="live"]').waitFor();
  const statusOf = (id) => page.locator(`[data-seat-id="${id}"]`).getAttribute('class');

  sockets[0].send(update(10, 11, [[s1, 'HELD']]));
  await eventually(async () => (await statusOf(s1)).includes('st-held'), { what: 's1 HELD' });

  // A frame that does not follow version 11 means something was missed.
  sockets[0].send(update(12, 13, [[s2, 'BOOKED']]));
  await eventually(() => sockets.length === 2, { what: 'a reconnect after the gap' });
  assert.equal(closes[0], 4000, 'the page closed the gapped socket itself');
  await eventually(async () => (await statusOf(s3)).includes('st-booked'), { what: 'the new snapshot applied' });
  assert.ok((await statusOf(s2)).includes('st-available'), 'the update after the gap was not applied');
  assert.ok((await statusOf(s1)).includes('st-available'), 'the new snapshot replaced the old state');

  // Too slow: the server closes with 4001, the page comes straight back.
  sockets[1].close({ code: 4001, reason: 'slow consumer' });
  await eventually(() => sockets.length === 3, { timeoutMs: 3000, what: 'a reconnect after 4001' });
  sockets[2].send(update(60, 61, [[s4, 'BLOCKED']]));
  await eventually(async () => (await statusOf(s4)).includes('st-blocked'), { what: 's4 BLOCKED' });
  assert.deepEqual(consoleLog.errors, []);
  await context.close();
});

test('without a working live socket the page polls the seat map every 2 s', async () => {
  const { url } = server();
  const context = await browser.newContext();
  const page = await context.newPage();
  const consoleLog = watchConsole(page);
  // The socket is closed at once every time, as a server without the route would.
  await page.routeWebSocket(/\/seats\/live/, (ws) => ws.close({ code: 1011, reason: 'test: unavailable' }));
  await page.goto(`${url}/#/events/${fixture.event.eventId}/shows/${fixture.show.showId}`);
  await page.locator('.live-status[data-mode="polling"]').waitFor();
  const polls = [];
  page.on('request', (r) => { if (r.url().endsWith('/seats')) polls.push(Date.now()); });
  await page.waitForTimeout(4500);
  assert.ok(polls.length >= 2, `the seat map was polled ${polls.length} times in 4.5 s`);
  assert.deepEqual(consoleLog.errors, []);
  await context.close();
});
