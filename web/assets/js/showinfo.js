// Bookings name only their showId; the contract has no "show by id" lookup. So the page
// remembers the title, time and venue of shows the buyer has looked at, to label bookings.

const KEY = 'boxoffice.shows';
const MAX_SHOWS = 100;

function load() {
  try {
    return JSON.parse(localStorage.getItem(KEY) || '{}') || {};
  } catch {
    return {};
  }
}

/** Remembers the shows of an event (from GET /v1/events/{id}). */
export function rememberShows(ev) {
  const all = load();
  for (const s of ev.shows || []) {
    all[s.showId] = { eventId: ev.eventId, title: ev.title, showTime: s.showTime, venueName: ev.venueName, seen: Date.now() };
  }
  const entries = Object.entries(all).sort((a, b) => b[1].seen - a[1].seen).slice(0, MAX_SHOWS);
  try {
    localStorage.setItem(KEY, JSON.stringify(Object.fromEntries(entries)));
  } catch {
    // Storage full or disabled: bookings are then shown without the event's name.
  }
}

/** What the page knows about a show: { eventId, title, showTime, venueName } or undefined. */
export function showInfo(showId) {
  return load()[showId];
}
