// An event and its shows: status, available seats and the lowest price of each.

import { api } from '../api.js';
import { h } from '../dom.js';
import { dateRange, dateTime, label, money } from '../format.js';
import { showPage, showLoading, showError } from '../page.js';
import { posterSrc } from './browse.js';
import { rememberShows } from '../showinfo.js';

const ACTION = {
  OPEN: 'Choose seats',
  QUEUE: 'Join the queue',
  SCHEDULED: 'See seat map',
  SOLD_OUT: 'See seat map',
  CLOSED: 'See seat map',
};

/** A short sentence about a show's sale state. */
export function statusText(show) {
  switch (show.status) {
    case 'OPEN': return 'On sale';
    case 'QUEUE': return 'On sale through a waiting room';
    case 'SCHEDULED': return `Sale opens ${dateTime(show.saleOpensAt)}`;
    case 'SOLD_OUT': return 'Sold out';
    case 'CLOSED': return 'Show has started';
    default: return label(show.status);
  }
}

function showRow(ev, show) {
  const href = `#/events/${encodeURIComponent(ev.eventId)}/shows/${encodeURIComponent(show.showId)}`;
  const primary = show.status === 'OPEN' || show.status === 'QUEUE';
  return h('li', { class: 'card show-card', dataset: { showId: show.showId } },
    h('div', { class: 'card-body' },
      h('h3', { class: 'card-title' }, dateTime(show.showTime)),
      h('p', { class: 'meta' }, h('span', { class: `badge status-${show.status.toLowerCase()}` }, statusText(show))),
      h('p', { class: 'meta' }, `${show.availableSeats} of ${show.totalSeats} seats available`),
      h('p', { class: 'meta' }, `From ${money(show.minPrice, show.currency)}`)),
    h('a', {
      class: `button ${primary ? 'primary' : 'secondary'}`,
      href,
      'aria-label': `${ACTION[show.status] || 'Open'}: ${dateTime(show.showTime)}`,
    }, ACTION[show.status] || 'Open'));
}

/** The event page. */
export async function eventView({ outlet, params, signal }) {
  showLoading(outlet, 'event');
  let ev;
  try {
    ev = await api.event(params.eventId, signal);
  } catch (err) {
    showError(outlet, err, { title: 'Event not available', notFound: 'This event does not exist (any more).' });
    return;
  }
  rememberShows(ev);
  const src = posterSrc(ev.posterUrl);
  const shows = [...(ev.shows || [])].sort((a, b) => Date.parse(a.showTime) - Date.parse(b.showTime));
  showPage(outlet, ev.title,
    h('p', { class: 'breadcrumbs' }, h('a', { href: '#/' }, '← All events')),
    h('div', { class: 'event-head' },
      src ? h('img', { class: 'poster poster-large', src, alt: `Poster of ${ev.title}` }) : null,
      h('div', {},
        h('p', { class: 'meta' }, h('span', { class: `tag cat-${ev.category}` }, label(ev.category)), ` ${ev.city} · ${ev.venueName}`),
        h('p', { class: 'meta' }, dateRange(ev.startDate, ev.endDate)),
        h('p', { class: 'description' }, ev.description))),
    h('section', { 'aria-labelledby': 'shows-heading' },
      h('h2', { id: 'shows-heading' }, 'Shows'),
      shows.length
        ? h('ul', { class: 'cards shows' }, shows.map((s) => showRow(ev, s)))
        : h('p', {}, 'No shows are scheduled for this event yet.')));
}
