// The hold panel of a show page: the countdown to `expiresAt`, the sandbox payment form,
// paying (confirm) and releasing. It reports how the hold ended through `onEnded(kind)`.

import { api, ApiError, newIdempotencyKey } from '../api.js';
import { h, replace } from '../dom.js';
import { clock, money } from '../format.js';
import { navigate } from '../router.js';
import { announce } from '../page.js';

/** The contract's sandbox payment methods, as a buyer reads them. */
export const PAYMENT_METHODS = [
  ['pm_card_visa', 'Visa ending 4242', 'test card that succeeds'],
  ['pm_card_declined', 'Card ending 0002', 'test card that is declined'],
  ['pm_card_slow', 'Card ending 3155', 'test card that succeeds after 2 seconds'],
];

/**
 * Options: seatName(seatId), fail(err, ctx) and info(text) to show messages,
 * onEnded(kind) with kind 'expired' | 'released' | 'gone' | 'paid'.
 */
export class Checkout {
  constructor({ seatName, fail, info, onEnded }) {
    Object.assign(this, { seatName, fail, info, onEnded });
    this.el = h('section', { class: 'panel hold-panel', 'aria-labelledby': 'hold-heading', hidden: true });
    this.hold = null;
  }

  /** Shows `hold` and starts its countdown; `clockOffsetMs` corrects a wrong local clock. */
  start(hold, clockOffsetMs = 0) {
    this.hold = hold;
    this.clockOffsetMs = clockOffsetMs;
    this.render();
    this.startCountdown();
  }

  stop() {
    clearInterval(this.countdownTimer);
    clearTimeout(this.cooldownTimer);
    this.hold = null;
    this.el.hidden = true;
  }

  end(kind) {
    this.stop();
    this.onEnded(kind);
  }

  remainingSeconds() {
    return (Date.parse(this.hold.expiresAt) - (Date.now() + this.clockOffsetMs)) / 1000;
  }

  startCountdown() {
    clearInterval(this.countdownTimer);
    let warned = false;
    const tick = () => {
      if (!this.hold) return;
      const left = this.remainingSeconds();
      this.countdown.textContent = clock(left);
      this.countdown.parentElement.classList.toggle('urgent', left <= 60);
      if (left <= 60 && !warned) { warned = true; announce('One minute left to complete payment.'); }
      if (left <= 0) {
        this.end('expired');
        this.fail(new ApiError(410, { code: 'hold-expired' }));
      }
    };
    tick();
    this.countdownTimer = setInterval(tick, 250);
  }

  payLabel() {
    return `Pay ${money(this.hold.totalAmount, this.hold.currency)}`;
  }

  render() {
    const hold = this.hold;
    this.countdown = h('span', { class: 'countdown-value', role: 'timer', 'aria-label': 'Time left to pay' }, '');
    const methods = PAYMENT_METHODS.map(([id, name, note], i) => h('label', { class: 'radio' },
      h('input', { type: 'radio', name: 'paymentMethod', value: id, checked: i === 0 }),
      h('span', {}, name, ' ', h('span', { class: 'meta' }, `(${note})`))));
    this.payButton = h('button', { type: 'submit', class: 'primary' }, this.payLabel());
    const form = h('form', { class: 'checkout', 'aria-label': 'Payment' },
      h('fieldset', {}, h('legend', {}, 'Payment method (sandbox)'), methods),
      h('div', { class: 'actions' }, this.payButton,
        h('button', { type: 'button', class: 'secondary', onclick: () => this.release() }, 'Release seats')));
    form.addEventListener('submit', (e) => {
      e.preventDefault();
      this.pay(new FormData(form).get('paymentMethod'));
    });
    replace(this.el,
      h('h2', { id: 'hold-heading' }, 'Your seats are held'),
      h('p', { class: 'countdown' }, 'Time left to pay: ', this.countdown),
      h('ul', { class: 'seat-list', 'aria-label': 'Held seats' }, hold.seats.map((id) => h('li', {}, this.seatName(id)))),
      h('p', { class: 'total' }, 'Total ', h('strong', {}, money(hold.totalAmount, hold.currency))),
      form);
    this.el.hidden = false;
  }

  async pay(paymentMethodId) {
    if (!this.hold || this.paying) return;
    this.paying = true;
    this.info('');
    this.payButton.disabled = true;
    this.payButton.textContent = 'Processing payment…';
    try {
      // A fresh key per attempt: after a decline the buyer's next try is a new payment.
      const booking = await api.confirm(this.hold.holdId, paymentMethodId, newIdempotencyKey());
      this.end('paid');
      navigate(`/bookings/${encodeURIComponent(booking.bookingId)}`);
    } catch (err) {
      this.fail(err, { notFound: 'This hold no longer exists. Please pick seats again.' });
      if (err instanceof ApiError && (err.code === 'hold-expired' || err.code === 'not-found')) this.end('gone');
      else if (err instanceof ApiError && err.code === 'rate-limited') this.cooldown(err.retryAfterSeconds || 1);
    } finally {
      this.paying = false;
      if (this.hold && !this.cooling) {
        this.payButton.disabled = false;
        this.payButton.textContent = this.payLabel();
      }
    }
  }

  cooldown(seconds) {
    this.cooling = true;
    this.payButton.disabled = true;
    this.cooldownTimer = setTimeout(() => {
      this.cooling = false;
      if (!this.hold) return;
      this.payButton.disabled = false;
      this.payButton.textContent = this.payLabel();
    }, seconds * 1000);
  }

  async release() {
    if (!this.hold) return;
    try {
      await api.releaseHold(this.hold.holdId, newIdempotencyKey());
      this.end('released');
      this.info('Your seats were released.');
    } catch (err) {
      this.fail(err, { what: 'Releasing a hold', notFound: 'This hold no longer exists.' });
      if (err instanceof ApiError && err.code === 'not-found') this.end('gone');
    }
  }
}
