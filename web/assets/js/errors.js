// One place that turns every error code of the contract into words for a buyer.

import { ApiError } from './api.js';
import { dateTime } from './format.js';

const plural = (n, one, many) => `${n} ${n === 1 ? one : many}`;

/**
 * A clear message for an error. `ctx` may give:
 *   seatName(seatId) -> "Stalls, row B, seat 12" (for seats-unavailable),
 *   saleOpensAt (for sale-not-open), what ("Cancelling", "Tickets", ...) for missing endpoints.
 */
export function describeError(err, ctx = {}) {
  if (!(err instanceof ApiError)) return `Something went wrong in this page: ${err?.message || err}`;
  const p = err.problem;
  const wait = err.retryAfterSeconds;
  if (err.duringSignIn && err.status !== 0 && err.status !== 503 && err.status !== 429) {
    return 'Guest sign-in is not available on this server, so seats cannot be held or bought here.';
  }
  switch (err.code) {
    case 'seats-unavailable': {
      const ids = Array.isArray(p.unavailableSeatIds) ? p.unavailableSeatIds : [];
      const names = ids.map((id) => (ctx.seatName ? ctx.seatName(id) : id));
      return names.length
        ? `Sorry, ${names.length === 1 ? 'this seat was' : 'these seats were'} just taken: ${names.join('; ')}. Please choose other seats.`
        : 'Sorry, some of these seats were just taken. Please choose other seats.';
    }
    case 'hold-expired':
      return 'Your hold has expired, so the seats were released and no payment was taken. Please pick seats again.';
    case 'payment-declined':
      return 'Your card was declined. Nothing was charged; your seats stay held until the timer runs out, so you can try another card.';
    case 'rate-limited':
      return `Too many requests right now. Please wait ${wait ? plural(wait, 'second', 'seconds') : 'a moment'} and try again.`;
    case 'sale-not-open':
      return ctx.saleOpensAt
        ? `Tickets for this show are not on sale yet. Sales open ${dateTime(ctx.saleOpensAt)}.`
        : 'Tickets for this show are not on sale yet.';
    case 'sale-closed':
      return 'Sales for this show have closed: it has already started.';
    case 'already-exists':
      return 'That already exists.';
    case 'admission-required':
      return 'This show has a waiting room: join the queue and you can pick seats once you are admitted.';
    case 'ticket-limit-exceeded':
      return `That is more tickets than one buyer may have for this show${p.limit ? ` (at most ${p.limit})` : ''}, counting seats you already hold or booked.`;
    case 'hold-limit-exceeded':
      return 'You already have the maximum number of active holds. Complete or release one of them first.';
    case 'hold-already-confirmed':
      return 'This hold has already been paid for; it cannot be released.';
    case 'booking-not-cancellable':
      return 'This booking can no longer be cancelled (it is already cancelled, a ticket was used, or the show has started).';
    case 'idempotency-key-reused':
      return 'This request clashed with an earlier one. Please try again.';
    case 'challenge-required':
      return 'A proof-of-work check was asked for and could not be completed. Please try again.';
    case 'unauthenticated':
      return 'Your guest session ended. Please reload the page to start a new one.';
    case 'forbidden':
      return 'You are not allowed to do that.';
    case 'invalid-request':
      return `The request was not accepted: ${p.detail || p.title || 'invalid input'}.`;
    case 'payload-too-large':
      return 'The request was too large.';
    case 'method-not-allowed':
    case 'not-implemented':
      return `${ctx.what || 'This feature'} is not available on this server yet.`;
    case 'not-found':
      return ctx.notFound || 'Not found: it may have been removed, or it belongs to someone else.';
    case 'unavailable':
      return `The service is busy or briefly unavailable. Please try again${wait ? ` in ${plural(wait, 'second', 'seconds')}` : ' shortly'}.`;
    case 'network':
      return 'The server could not be reached. Check your connection and try again.';
    case 'already-checked-in':
      return `This ticket was already checked in${p.checkedInAt ? ` at ${dateTime(p.checkedInAt)}` : ''}.`;
    case 'invalid-ticket':
      return 'This ticket code is not valid.';
    case 'ticket-cancelled':
      return 'This ticket has been cancelled.';
    default:
      return p.detail || p.title || `The server answered with an error (HTTP ${err.status}).`;
  }
}

/** True for an AbortController cancellation (leaving a page), which is never shown. */
export function isAbort(err) {
  return err?.name === 'AbortError';
}
