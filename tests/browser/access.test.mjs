// Accessibility and small screens: every control has a name, the whole hold can be done with
// the keyboard alone, focus is visible, and a phone-sized screen needs no sideways scrolling.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { server, createShow, launch, watchConsole, screenshot } from './lib/harness.mjs';

let browser;
let fixture;

before(async () => {
  fixture = await createShow({ rows: 6, seatsPerRow: 20 });
  browser = await launch();
});

after(async () => {
  await browser?.close();
});

/** Controls on the page without an accessible name (a heuristic of the accname rules). */
function unnamedControls(page) {
  return page.evaluate(() => {
    const named = (el) => {
      if (el.getAttribute('aria-label')?.trim()) return true;
      const by = el.getAttribute('aria-labelledby');
      if (by && by.split(/\s+/).some((id) => document.getElementById(id)?.textContent.trim())) return true;
      if (el.labels && [...el.labels].some((l) => l.textContent.trim())) return true;
      if (el.closest('label')?.textContent.trim()) return true;
      return ['BUTTON', 'A'].includes(el.tagName) && el.textContent.trim().length > 0;
    };
    return [...document.querySelectorAll('input, select, textarea, button, a[href], [role="checkbox"], [tabindex="0"]')]
      .filter((el) => !named(el)).map((el) => el.outerHTML.slice(0, 120));
  });
}

function horizontalOverflow(page) {
  return page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
}

test('the show page works with the keyboard alone, with visible focus and named controls', async () => {
  const { url } = server();
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  const consoleLog = watchConsole(page);
  await page.goto(`${url}/#/events/${fixture.event.eventId}/shows/${fixture.show.showId}`);
  await page.locator('.seatmap-svg circle.seat').first().waitFor();
  assert.deepEqual(await unnamedControls(page), []);

  // Tab into the map: exactly one seat is in the tab order.
  let onSeat = false;
  for (let i = 0; i < 30 && !onSeat; i += 1) {
    await page.keyboard.press('Tab');
    onSeat = await page.evaluate(() => document.activeElement?.matches('circle.seat'));
  }
  assert.ok(onSeat, 'Tab reaches the seat map');
  const outline = await page.evaluate(() => getComputedStyle(document.activeElement).stroke);
  assert.notEqual(outline, 'none', 'the focused seat is visibly marked');
  await page.keyboard.press('ArrowDown');
  await page.keyboard.press('ArrowRight');
  await page.keyboard.press('Enter');
  assert.equal(await page.locator('.seatmap-svg circle.seat[aria-checked="true"]').count(), 1, 'Enter selects the focused seat');

  // On to the hold button with Tab, and hold with Enter.
  let onHold = false;
  for (let i = 0; i < 30 && !onHold; i += 1) {
    await page.keyboard.press('Tab');
    onHold = await page.evaluate(() => document.activeElement?.textContent === 'Hold 1 seat');
  }
  assert.ok(onHold, 'Tab reaches the hold button');
  const ring = await page.evaluate(() => getComputedStyle(document.activeElement).outlineStyle);
  assert.notEqual(ring, 'none', 'the focused button shows a focus ring');
  await page.keyboard.press('Enter');
  await page.getByRole('timer').waitFor();
  assert.deepEqual(await unnamedControls(page), [], 'the checkout form is labelled too');
  assert.deepEqual(consoleLog.errors, []);
  await context.close();
});

test('a phone-sized screen shows every page without sideways scrolling', async () => {
  const { url } = server();
  const context = await browser.newContext({ viewport: { width: 360, height: 740 }, isMobile: true, hasTouch: true });
  const page = await context.newPage();
  const consoleLog = watchConsole(page);
  for (const hash of ['#/', `#/events/${fixture.event.eventId}`, `#/events/${fixture.event.eventId}/shows/${fixture.show.showId}`, '#/bookings']) {
    await page.goto(`${url}/${hash}`);
    await page.locator('h1').waitFor();
    await page.waitForLoadState('networkidle').catch(() => {});
    assert.ok(await horizontalOverflow(page) <= 0, `no sideways scrolling on ${hash}`);
    assert.deepEqual(await unnamedControls(page), [], `named controls on ${hash}`);
  }
  await page.goto(`${url}/#/events/${fixture.event.eventId}/shows/${fixture.show.showId}`);
  await page.locator('.seatmap-svg circle.seat').first().tap();
  await page.getByRole('button', { name: 'Hold 1 seat' }).waitFor();
  await screenshot(page, 'narrow-show.png');
  assert.deepEqual(consoleLog.errors, []);
  await context.close();
});
