// One booking with its tickets (QR codes and PDFs fetched with the bearer token), and cancel.

import { api, ApiError, newIdempotencyKey } from '../api.js';
import { h, replace, messageBox } from '../dom.js';
import { dateTime, label, money, seatName } from '../format.js';
import { describeError, isAbort } from '../errors.js';
import { showPage, showLoading, showError, announce } from '../page.js';
import { showInfo } from '../showinfo.js';

const TICKET_WAIT_TRIES = 15;

/** "Cancel booking" with an inline confirmation; calls onCancelled(result) with the refund. */
export function cancelControl(booking, onCancelled) {
  const box = h('div', { class: 'cancel-control' });
  const message = messageBox({ assertive: true });
  const ask = () => replace(box,
    h('p', {}, 'Cancel this booking? The refund depends on how long before the show you cancel: 100% from 24 hours before, 50% from 4 hours before, nothing later.'),
    h('div', { class: 'actions' },
      h('button', { type: 'button', class: 'danger', onclick: confirmCancel }, 'Yes, cancel booking'),
      h('button', { type: 'button', class: 'secondary', onclick: idle }, 'Keep booking')),
    message.el);
  const idle = () => replace(box,
    h('button', { type: 'button', class: 'secondary', onclick: () => { ask(); box.querySelector('button').focus(); } }, 'Cancel booking'),
    message.el);
  const key = newIdempotencyKey(); // one cancel intent: retries return the first answer
  async function confirmCancel(e) {
    e.target.disabled = true;
    e.target.textContent = 'Cancelling…';
    try {
      const result = await api.cancelBooking(booking.bookingId, key);
      onCancelled(result);
    } catch (err) {
      idle();
      message.show(describeError(err, { what: 'Cancelling a booking', notFound: 'This booking no longer exists.' }), 'error');
    }
  }
  idle();
  return box;
}

/** The refund sentence for a cancellation result. */
export function refundText(result, currency) {
  return `Booking cancelled. Refund: ${money(result.refundAmount, currency)} (${result.refundPercentage}%).`;
}

/** Fetches an authenticated image or file as an object URL, revoked when the page is left. */
async function objectUrl(url, signal) {
  const blob = await api.blob(url, signal);
  const href = URL.createObjectURL(blob);
  signal.addEventListener('abort', () => URL.revokeObjectURL(href), { once: true });
  return href;
}

async function loadQr(ticket, figure, signal) {
  const alt = `QR code for ${seatName(ticket)}`;
  let lastErr;
  for (const url of [ticket.qrSvgUrl, ticket.qrPngUrl].filter(Boolean)) {
    try {
      const src = await objectUrl(url, signal);
      figure.replaceChildren(h('img', { class: 'qr', src, alt, width: 200, height: 200 }));
      return;
    } catch (err) {
      if (isAbort(err)) return;
      lastErr = err;
    }
  }
  figure.replaceChildren(h('p', { class: 'message message-warning' },
    lastErr instanceof ApiError && lastErr.isMissingEndpoint
      ? 'The QR image is not available on this server yet; the ticket code below is what the gate scans.'
      : `The QR image could not be loaded: ${describeError(lastErr)}`));
}

async function downloadPdf(ticket, button, status, signal) {
  button.disabled = true;
  status.clear();
  try {
    const href = await objectUrl(ticket.pdfUrl, signal);
    const a = h('a', { href, download: `ticket-${ticket.section}-${ticket.row}-${ticket.number}.pdf`, hidden: true });
    document.body.append(a);
    a.click();
    a.remove();
    status.show('PDF downloaded.', 'info');
  } catch (err) {
    if (!isAbort(err)) status.show(describeError(err, { what: 'The ticket PDF' }), 'error');
  } finally {
    button.disabled = false;
  }
}

function ticketCard(ticket, signal) {

  const figure = h('div', { class: 'qr-frame' }, h('p', { class: 'loading' }, 'Loading QR code…'));
  const status = messageBox();
  const pdf = h('button', { type: 'button', class: 'secondary', onclick: () => downloadPdf(ticket, pdf, status, signal) }, 'Download PDF');
  loadQr(ticket, figure, signal);
  return h('li', { class: `card ticket ticket-${String(ticket.status).toLowerCase()}`, dataset: { ticketId: ticket.ticketId } },
    figure,
    h('div', { class: 'card-body' },
      h('h3', { class: 'card-title' }, seatName(ticket)),
      h('p', { class: 'meta' }, h('span', { class: `badge ticket-status-${String(ticket.status).toLowerCase()}` }, label(ticket.status))),
      h('p', { class: 'code', title: 'Ticket code' }, h('span', { class: 'visually-hidden' }, 'Ticket code: '), ticket.code),
      ticket.pdfUrl ? pdf : null, status.el));
}

function withSectionName(ticket, booking) {
  const seat = booking.seats.find((s) => s.seatId === ticket.seatId);
  return seat?.sectionName ? { ...ticket, sectionName: seat.sectionName } : ticket;
}

function seatsTable(booking) {
  return h('table', { class: 'seats-table' },
    h('caption', { class: 'visually-hidden' }, 'Seats in this booking'),
    h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'Section'), h('th', { scope: 'col' }, 'Row'), h('th', { scope: 'col' }, 'Seat'))),
    h('tbody', {}, booking.seats.map((s) => h('tr', { dataset: { seatId: s.seatId } },
      h('td', {}, s.sectionName || s.section), h('td', {}, s.row), h('td', {}, String(s.number))))));
}

/** "Title · time · venue" of a booking's show, when this browser has seen it. */
export function showLine(showId) {
  const info = showInfo(showId);
  if (!info) return null;
  return h('p', { class: 'show-line' },
    h('a', { href: `#/events/${encodeURIComponent(info.eventId)}` }, info.title),
    ` · ${dateTime(info.showTime)}${info.venueName ? ` · ${info.venueName}` : ''}`);
}

/** The booking page: #/bookings/<bookingId>. */
export async function bookingView({ outlet, params, signal }) {
  showLoading(outlet, 'booking');
  let booking;
  try {
    booking = await api.booking(params.bookingId, signal);
  } catch (err) {
    showError(outlet, err, { title: 'Booking not available', notFound: 'No such booking in your account.' });
    return;
  }
  const tickets = h('section', { class: 'tickets', 'aria-labelledby': 'tickets-heading' });
  const statusLine = h('p', { class: 'meta' });
  const paintStatus = () => replace(statusLine, h('span', { class: `badge booking-${booking.status.toLowerCase()}` }, label(booking.status)),
    ` · booked ${dateTime(booking.bookedAt)} · payment ${booking.paymentId}`);
  const result = messageBox();
  const cancelSlot = h('div', {});
  const paintCancel = () => replace(cancelSlot, booking.status === 'CONFIRMED' ? cancelControl(booking, (r) => {
    booking = { ...booking, status: r.status || 'CANCELLED' };
    paintStatus();
    paintCancel();
    result.show(refundText(r, booking.currency), 'success');
    announce(refundText(r, booking.currency));
    refreshTickets();
  }) : null);
  showPage(outlet, 'Your booking',
    h('p', { class: 'breadcrumbs' }, h('a', { href: '#/bookings' }, '← My bookings')),
    h('div', { class: 'panel booking-summary', dataset: { bookingId: booking.bookingId } },
      showLine(booking.showId),
      h('p', { class: 'booking-id' }, 'Booking ', h('code', {}, booking.bookingId)),
      statusLine,
      seatsTable(booking),
      h('p', { class: 'total' }, 'Total paid ', h('strong', {}, money(booking.totalAmount, booking.currency))),
      result.el, cancelSlot),
    tickets);
  paintStatus();
  paintCancel();
  const renderTickets = (list, waiting) => replace(tickets,
    h('h2', { id: 'tickets-heading' }, 'Tickets'),
    list.length
      ? h('ul', { class: 'cards ticket-list' }, list.map((t) => ticketCard(withSectionName(t, booking), signal)))
      : h('p', { class: waiting ? 'loading' : 'hint', role: 'status' },
        waiting ? 'Your tickets are being issued…' : booking.status === 'CANCELLED'
          ? 'This booking was cancelled.'
          : 'Your tickets are not issued yet. They will appear here; reload the page in a little while.'));
  async function refreshTickets() {
    try {
      booking = { ...booking, ...(await api.booking(params.bookingId, signal)) };
      renderTickets(booking.tickets || [], false);
    } catch (err) {
      if (!isAbort(err)) result.show(describeError(err), 'error');
    }
  }
  renderTickets(booking.tickets || [], !(booking.tickets || []).length && booking.status === 'CONFIRMED');
  // Tickets fill in within seconds of paying: poll briefly until they arrive.
  for (let i = 0; i < TICKET_WAIT_TRIES && !(booking.tickets || []).length && booking.status === 'CONFIRMED'; i += 1) {
    await new Promise((r) => setTimeout(r, 1000));
    if (signal.aborted) return;
    try {
      booking = await api.booking(params.bookingId, signal);
    } catch (err) {
      if (isAbort(err)) return;
    }
    if ((booking.tickets || []).length) renderTickets(booking.tickets, false);
  }
  if (!(booking.tickets || []).length) renderTickets([], false);
}
