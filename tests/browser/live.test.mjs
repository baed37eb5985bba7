// Two buyers look at the same show: a hold by one turns the seat HELD on the other's map
// within 1 s (over the live WebSocket), and a release turns it back.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { server, createShow, launch, watchConsole, probeWebSocket, screenshot } from './lib/harness.mjs';

let browser;
let fixture;

before(async () => {
  fixture = await createShow();
  browser = await launch();
});

after(async () => {
  await browser?.close();
});

/** The live socket's handshake and the text frames it received (as the page got them, inflated),
 * read through the DevTools protocol. */
async function watchLiveSocket(page) {
  const socket = { offer: null, agreed: null, messages: [] };
  const header = (headers, name) =>
    Object.entries(headers).find(([k]) => k.toLowerCase() === name)?.[1] ?? null;
  const cdp = await page.context().newCDPSession(page);
  await cdp.send('Network.enable');
  cdp.on('Network.webSocketWillSendHandshakeRequest', (e) => {
    socket.offer = header(e.request.headers, 'sec-websocket-extensions');
  });
  cdp.on('Network.webSocketHandshakeResponseReceived', (e) => {
    socket.agreed = header(e.response.headers, 'sec-websocket-extensions');
  });
  cdp.on('Network.webSocketFrameReceived', (e) => {
    if (e.response.opcode === 1) socket.messages.push(JSON.parse(e.response.payloadData));
  });
  return socket;
}

async function openShow(viewport = { width: 1280, height: 900 }) {
  const { url } = server();
  const context = await browser.newContext({ viewport });
  const page = await context.newPage();
  const consoleLog = watchConsole(page);
  const socket = await watchLiveSocket(page);
  await page.goto(`${url}/#/events/${fixture.event.eventId}/shows/${fixture.show.showId}`);
  await page.locator('.seatmap-svg circle.seat').first().waitFor();
  return { context, page, consoleLog, socket };
}

/** Milliseconds until the seat has `cls` on `page`, measured inside the page. */
function timeUntilClass(page, seatId, cls, timeoutMs) {
  return page.evaluate(({ seatId, cls, timeoutMs }) => new Promise((resolve, reject) => {
    const el = document.querySelector(`[data-seat-id="${seatId}"]`);
    const start = performance.now();
    if (el.classList.contains(cls)) { resolve(0); return; }
    const obs = new MutationObserver(() => {
      if (el.classList.contains(cls)) { obs.disconnect(); resolve(performance.now() - start); }
    });
    obs.observe(el, { attributes: true, attributeFilter: ['class'] });
    setTimeout(() => { obs.disconnect(); reject(new Error(`seat never became ${cls} within ${timeoutMs} ms`)); }, timeoutMs);
  }), { seatId, cls, timeoutMs });
}

test('a hold in one browser turns the seat HELD in another within 1 s',
  async (t) => {
    const liveStatus = await probeWebSocket(`/v1/shows/${fixture.show.showId}/seats/live`);
    assert.equal(liveStatus, 101, `GET /v1/shows/{showId}/seats/live upgrades to a WebSocket (answered ${liveStatus})`);
    const a = await openShow();
    const b = await openShow();
    await b.page.locator('.live-status[data-mode="live"]').waitFor({ timeout: 5000 });

    const seat = a.page.locator('.seatmap-svg circle.seat.st-available').nth(5);
    const seatId = await seat.getAttribute('data-seat-id');
    assert.ok(await b.page.locator(`[data-seat-id="${seatId}"].st-available`).count(), 'B sees the seat available first');

    // Start watching in B before A holds, then time from A's successful answer to B's repaint.
    const seen = timeUntilClass(b.page, seatId, 'st-held', 5000);
    await seat.click();
    const holdResponse = a.page.waitForResponse((r) => r.url().endsWith('/v1/bookings/hold'));
    await a.page.getByRole('button', { name: 'Hold 1 seat' }).click();
    const seenAt = seen.then(() => Date.now());
    assert.equal((await holdResponse).status(), 201);
    const answeredAt = Date.now();
    // Negative when the other viewer saw it even before the holder got its answer.
    const lagMs = (await seenAt) - answeredAt;
    t.diagnostic(`seat turned HELD in the other browser ${lagMs} ms after the hold was answered`);
    assert.ok(lagMs <= 1000, `HELD reached the other viewer in ${lagMs} ms (limit 1000)`);
    await screenshot(b.page.locator('.map-panel'), 'seat-map-other-viewer.png');

    // Releasing it turns it back for the other viewer too.
    const freed = timeUntilClass(b.page, seatId, 'st-available', 5000);
    await a.page.getByRole('button', { name: 'Release seats' }).click();
    await freed;

    // Chromium offers permessage-deflate; the server takes it, and the frames (compressed on the
    // wire) still decode to the protocol's JSON, with the hold among the updates.
    assert.match(b.socket.offer ?? '', /permessage-deflate/, 'Chromium offers permessage-deflate');
    assert.equal(b.socket.agreed,
      'permessage-deflate; server_no_context_takeover; client_no_context_takeover',
      'the server agrees to permessage-deflate');
    assert.equal(b.socket.messages[0]?.type, 'SNAPSHOT', 'the first frame decodes to the snapshot');
    assert.ok(b.socket.messages.some((m) => m.type === 'SEAT_UPDATE'
      && m.seats.some((s) => s.seatId === seatId && s.status === 'HELD')), 'an update carries the hold');

    assert.deepEqual(a.consoleLog.errors, [], 'no console errors in A');
    assert.deepEqual(b.consoleLog.errors, [], 'no console errors in B');
    await a.context.close();
    await b.context.close();
  });
