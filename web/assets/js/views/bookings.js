// "My bookings": the caller's bookings, newest first, with cancel and the refund shown.

import { api } from '../api.js';
import { h, replace, messageBox } from '../dom.js';
import { dateTime, label, money, seatName } from '../format.js';
import { showPage, showLoading, showError, announce } from '../page.js';
import { cancelControl, refundText, showLine } from './booking.js';

const PAGE_SIZE = 10;

function bookingCard(booking) {
  const status = h('span', { class: `badge booking-${booking.status.toLowerCase()}` }, label(booking.status));
  const result = messageBox();
  const cancelSlot = h('div', {});
  if (booking.status === 'CONFIRMED') {
    cancelSlot.append(cancelControl(booking, (r) => {
      replace(status, label(r.status || 'CANCELLED'));
      status.className = 'badge booking-cancelled';
      cancelSlot.replaceChildren();
      result.show(refundText(r, booking.currency), 'success');
      announce(refundText(r, booking.currency));
    }));
  }
  const href = `#/bookings/${encodeURIComponent(booking.bookingId)}`;
  return h('li', { class: 'card booking-card', dataset: { bookingId: booking.bookingId } },
    h('div', { class: 'card-body' },
      h('h2', { class: 'card-title' }, h('a', { href }, `${booking.seats.length} seat${booking.seats.length === 1 ? '' : 's'} · ${money(booking.totalAmount, booking.currency)}`)),
      showLine(booking.showId),
      h('p', { class: 'meta' }, status, ` · booked ${dateTime(booking.bookedAt)}`),
      h('ul', { class: 'seat-list compact' }, booking.seats.map((s) => h('li', {}, seatName(s)))),
      result.el, cancelSlot));
}

/** The bookings page: #/bookings?page=N. */
export async function bookingsView({ outlet, query, signal }) {
  const page = Math.max(1, Number.parseInt(query.get('page') || '1', 10) || 1);
  showLoading(outlet, 'your bookings');
  let list;
  try {
    list = await api.bookings({ page, limit: PAGE_SIZE }, signal);
  } catch (err) {
    showError(outlet, err, { title: 'Bookings could not be loaded' });
    return;
  }
  const pages = Math.max(1, Math.ceil(list.total / list.limit));
  const link = (n, text) => (n >= 1 && n <= pages && n !== page
    ? h('a', { class: 'button secondary', href: `#/bookings?page=${n}` }, text)
    : h('span', { class: 'button secondary', 'aria-disabled': 'true' }, text));
  showPage(outlet, 'My bookings',
    list.items.length
      ? h('ul', { class: 'cards bookings' }, list.items.map(bookingCard))
      : h('p', {}, 'You have no bookings yet. ', h('a', { href: '#/' }, 'Find an event')),
    list.total > list.limit
      ? h('nav', { class: 'pager', 'aria-label': 'Booking pages' }, link(page - 1, '← Newer'), h('span', {}, `Page ${page} of ${pages}`), link(page + 1, 'Older →'))
      : null);
}
