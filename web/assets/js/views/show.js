// One show: the live seat map and picking seats, then the hold. The waiting room
// (waiting-room.js) comes first on a QUEUE show; the countdown and payment (checkout.js) follow
// a successful hold.

import { api, ApiError } from '../api.js';
import { h, svg, replace, messageBox } from '../dom.js';
import { dateTime, money, seatName } from '../format.js';
import { describeError, isAbort } from '../errors.js';
import { LiveSeats } from '../live.js';
import { SeatMap, LEGEND } from '../seatmap.js';
import { admissionFor, holdSeats, storeAdmission } from '../queue.js';
import { navigate } from '../router.js';
import { showPage, showLoading, showError, announce } from '../page.js';
import { rememberShows } from '../showinfo.js';
import { statusText } from './event.js';
import { WaitingRoom } from './waiting-room.js';
import { Checkout } from './checkout.js';

const MAX_SEATS_PER_HOLD = 10;
const HOLD_KEY = (showId) => `boxoffice.hold.${showId}`;

/** The show page: #/events/<eventId>/shows/<showId>. */
export async function showView({ outlet, params, signal }) {
  showLoading(outlet, 'seat map');
  let ev; let map;
  try {
    [ev, map] = await Promise.all([api.event(params.eventId, signal), api.seats(params.eventId, params.showId, signal)]);
  } catch (err) {
    showError(outlet, err, { title: 'Show not available', notFound: 'This show does not exist (any more).' });
    return;
  }
  const show = (ev.shows || []).find((s) => s.showId === params.showId);
  if (!show) {
    showError(outlet, new ApiError(404, { code: 'not-found' }), { title: 'Show not available', notFound: 'This event has no such show.' });
    return;
  }
  rememberShows(ev);
  new ShowPage({ outlet, ev, show, map, signal }).mount();
}

class ShowPage {
  constructor({ outlet, ev, show, map, signal }) {
    Object.assign(this, { outlet, ev, show, map, signal });
    this.selected = new Set();
    this.hold = null;
    this.busy = false;
    this.clockOffsetMs = 0;
    this.message = messageBox({ assertive: true });
    this.seatMap = new SeatMap({ onToggle: (seat) => this.toggle(seat) });
    this.admission = show.status === 'QUEUE' ? admissionFor(show.showId) : null;
    this.waitingRoom = new WaitingRoom({ showId: show.showId, signal, onAdmitted: (admission) => this.admitted(admission) });
    this.checkout = new Checkout({
      seatName: (id) => this.seatName(id),
      fail: (err, ctx) => this.fail(err, ctx),
      info: (text) => (text ? this.message.show(text, 'info') : this.message.clear()),
      onEnded: (kind) => this.holdEnded(kind),
    });
    signal.addEventListener('abort', () => this.dispose(), { once: true });
  }

  // ---- layout ------------------------------------------------------------

  mount() {
    const { ev, show } = this;
    this.liveStatus = h('p', { class: 'live-status', role: 'status' }, 'Connecting to live updates…');
    this.legend = h('div', { class: 'legend' });
    this.selectionPanel = h('section', { class: 'panel', 'aria-labelledby': 'selection-heading' });
    showPage(this.outlet, ev.title,
      h('p', { class: 'breadcrumbs' }, h('a', { href: '#/' }, 'All events'), ' › ',
        h('a', { href: `#/events/${encodeURIComponent(ev.eventId)}` }, ev.title)),
      h('p', { class: 'meta show-meta' }, `${dateTime(show.showTime)} · ${this.map.venue?.name || ev.venueName} · `,
        h('span', { class: `badge status-${show.status.toLowerCase()}` }, statusText(show))),
      h('div', { class: 'show-layout' },
        h('section', { class: 'map-panel', 'aria-labelledby': 'map-heading' },
          h('h2', { id: 'map-heading' }, 'Seat map'),
          h('p', { id: 'seatmap-help', class: 'hint' },
            'Click a seat, or Tab to the map and use the arrow keys to move and Space or Enter to select.'),
          this.liveStatus, this.seatMap.el),
        h('div', { class: 'side-panel' }, this.message.el, this.waitingRoom.el, this.selectionPanel, this.checkout.el),
        // After the side panel, so a phone shows the selection right below the map.
        h('section', { class: 'legend-panel', 'aria-label': 'Legend and prices' }, this.legend)));
    this.seatMap.render(this.map);
    this.renderLegend();
    this.renderSelection();
    this.startLive();
    this.restoreHold();
    if (show.status === 'QUEUE' && !this.admission) this.waitingRoom.enter();
    else if (this.admission) this.waitingRoom.showAdmitted(this.admission);
    this.refreshInteractivity();
    this.scheduleSaleOpening();
  }

  dispose() {
    this.live?.stop();
    this.waitingRoom.stop();
    this.checkout.stop();
    clearTimeout(this.saleTimer);
    clearTimeout(this.cooldownTimer);
  }

  seatName(seatId) {
    const s = this.seatMap.seats.get(seatId);
    return s ? seatName(s) : `seat ${seatId}`;
  }

  fail(err, ctx = {}) {
    if (isAbort(err) || this.signal.aborted) return;
    this.message.show(describeError(err, { seatName: (id) => this.seatName(id), saleOpensAt: this.show.saleOpensAt, ...ctx }), 'error');
  }

  // ---- who may pick seats --------------------------------------------------

  blockedReason() {
    switch (this.show.status) {
      case 'SCHEDULED': return `Tickets go on sale ${dateTime(this.show.saleOpensAt)}.`;
      case 'SOLD_OUT': return 'This show is sold out.';
      case 'CLOSED': return 'This show has already started.';
      case 'QUEUE': if (!this.admission) return 'This show sells through a waiting room: you can pick seats once it is your turn.'; break;
      case 'OPEN': break;
      default: break;
    }
    if (this.hold) return 'You are holding seats: pay for them or release them to pick others.';
    return null;
  }

  refreshInteractivity() {
    this.seatMap.setInteractive(!this.blockedReason() && !this.busy);
  }

  scheduleSaleOpening() {
    if (this.show.status !== 'SCHEDULED' || !this.show.saleOpensAt) return;
    const ms = Date.parse(this.show.saleOpensAt) - Date.now();
    // Reload the page when the sale opens, if that is soon (timers beyond ~24 days overflow).
    if (ms > 0 && ms < 6 * 3600_000) this.saleTimer = setTimeout(() => navigate(location.hash.slice(1), { replace: true }), ms + 1000);
  }

  // ---- live seat statuses ----------------------------------------------------

  startLive() {
    const onChange = (seats) => {
      this.seatMap.applyStatuses(seats);
      this.dropTakenSelections();
      this.renderLegend();
    };
    this.live = new LiveSeats({
      eventId: this.ev.eventId,
      showId: this.show.showId,
      onSnapshot: onChange,
      onUpdate: onChange,
      onMode: (mode) => {
        this.liveStatus.textContent = mode === 'live'
          ? 'Live: seats update as others buy.'
          : 'Live updates are unavailable; the map refreshes every 2 seconds.';
        this.liveStatus.dataset.mode = mode;
      },
    });
    this.live.start(this.map.version);
  }

  dropTakenSelections() {
    const taken = [...this.selected].filter((id) => this.seatMap.seats.get(id)?.status !== 'AVAILABLE');
    if (!taken.length) return;
    taken.forEach((id) => this.selected.delete(id));
    this.seatMap.setMarks({ selected: this.selected });
    this.renderSelection();
    this.message.show(`Someone else just took ${taken.map((id) => this.seatName(id)).join('; ')}. It was removed from your selection.`, 'warning');
  }

  renderLegend() {
    const swatch = (cls) => svg('svg', { width: 16, height: 16, viewBox: '0 0 16 16', 'aria-hidden': 'true', class: 'swatch' },
      svg('circle', { cx: 8, cy: 8, r: 6, class: cls }));
    replace(this.legend,
      h('h3', {}, 'Legend'),
      h('ul', { class: 'legend-statuses' }, LEGEND.map(([cls, text]) => h('li', {}, swatch(`seat st-${cls}`), text))),
      h('h3', {}, 'Prices'),
      h('ul', { class: 'legend-sections' }, this.seatMap.sectionSummary().map((s, i) => h('li', {},
        svg('svg', { width: 16, height: 16, viewBox: '0 0 16 16', 'aria-hidden': 'true', class: `swatch tier-${i % 6}` },
          svg('rect', { x: 1, y: 1, width: 14, height: 14, rx: 3, class: 'section-bg' })),
        h('span', { class: 'section-name' }, s.name), ' ', h('strong', {}, money(s.price, s.currency)),
        h('span', { class: 'meta' }, ` · ${s.available} of ${s.total} free`)))));
  }

  // ---- picking ---------------------------------------------------------------

  toggle(seat) {
    const reason = this.blockedReason();
    if (reason) { this.message.show(reason, 'info'); return; }
    if (this.busy) return;
    if (this.selected.has(seat.seatId)) {
      this.selected.delete(seat.seatId);
      announce(`${seatName(seat)} removed from your selection.`);
    } else if (seat.status !== 'AVAILABLE') {
      this.message.show(`${seatName(seat)} is not available.`, 'info');
      return;
    } else if (this.selected.size >= MAX_SEATS_PER_HOLD) {
      this.message.show(`You can hold at most ${MAX_SEATS_PER_HOLD} seats at once.`, 'info');
      return;
    } else {
      this.selected.add(seat.seatId);
      announce(`${seatName(seat)} selected. ${this.selected.size} seat${this.selected.size === 1 ? '' : 's'} selected.`);
    }
    this.message.clear();
    this.seatMap.setMarks({ selected: this.selected });
    this.renderSelection();
  }

  renderSelection() {
    const seats = [...this.selected].map((id) => this.seatMap.seats.get(id)).filter(Boolean);
    const total = seats.reduce((sum, s) => sum + s.price, 0);
    const currency = seats[0]?.currency || this.show.currency;
    this.holdButton = h('button', {
      type: 'button', class: 'primary', disabled: !seats.length || this.busy || Boolean(this.cooldownUntil), onclick: () => this.placeHold(),
    }, this.busy ? 'Holding seats…' : `Hold ${seats.length || ''} seat${seats.length === 1 ? '' : 's'}`.replace('  ', ' '));
    replace(this.selectionPanel,
      h('h2', { id: 'selection-heading' }, 'Your selection'),
      seats.length
        ? h('ul', { class: 'seat-list', 'aria-label': 'Selected seats' }, seats.map((s) => h('li', {},
          h('span', {}, seatName(s)), h('span', { class: 'price' }, money(s.price, s.currency)),
          h('button', { type: 'button', class: 'link', 'aria-label': `Remove ${seatName(s)}`, onclick: () => this.toggle(s) }, 'Remove'))))
        : h('p', { class: 'hint' }, this.blockedReason() || 'No seats selected yet.'),
      seats.length ? h('p', { class: 'total' }, 'Total ', h('strong', {}, money(total, currency))) : null,
      this.holdButton);
    this.selectionPanel.hidden = Boolean(this.hold);
  }

  // ---- holding -----------------------------------------------------------------

  async placeHold() {
    if (!this.selected.size || this.busy) return;
    this.busy = true;
    this.message.clear();
    this.refreshInteractivity();
    this.renderSelection();
    const seatIds = [...this.selected];
    try {
      const res = await holdSeats(this.show.showId, seatIds, {
        admissionToken: this.admission?.admissionToken, signal: this.signal,
      });
      this.noteClockOffset(res.headers);
      this.selected.clear();
      this.setHold(res.data);
      announce(`${res.data.seats.length} seats held. Complete payment before the timer runs out.`);
    } catch (err) {
      this.onHoldError(err);
    } finally {
      this.busy = false;
      if (!this.signal.aborted) {
        this.refreshInteractivity();
        this.renderSelection();
      }
    }
  }

  onHoldError(err) {
    if (isAbort(err)) return;
    this.fail(err);
    if (!(err instanceof ApiError)) return;
    if (err.code === 'seats-unavailable') {
      const ids = err.problem.unavailableSeatIds || [];
      ids.forEach((id) => this.selected.delete(id));
      // Paint them taken now; the live feed (or the next poll) brings their exact status.
      this.seatMap.applyStatuses(ids.filter((id) => this.seatMap.seats.get(id)?.status === 'AVAILABLE').map((seatId) => ({ seatId, status: 'HELD' })));
      this.seatMap.setMarks({ selected: this.selected });
    } else if (err.code === 'admission-required') {
      storeAdmission(this.show.showId, null);
      this.admission = null;
      this.show.status = 'QUEUE';
      this.waitingRoom.enter();
      this.refreshInteractivity();
    } else if (err.code === 'rate-limited') {
      this.cooldown(err.retryAfterSeconds || 1);
    }
  }

  cooldown(seconds) {
    this.cooldownUntil = Date.now() + seconds * 1000;
    clearTimeout(this.cooldownTimer);
    this.cooldownTimer = setTimeout(() => { this.cooldownUntil = null; this.renderSelection(); }, seconds * 1000);
  }

  /** Trusts the server's clock for the countdown when ours is clearly off. */
  noteClockOffset(headers) {
    const serverNow = Date.parse(headers?.get('Date') || '');
    if (Number.isNaN(serverNow)) return;
    const offset = serverNow - Date.now();
    this.clockOffsetMs = Math.abs(offset) > 5000 ? offset : 0;
  }

  setHold(hold) {
    this.hold = hold;
    localStorage.setItem(HOLD_KEY(this.show.showId), JSON.stringify(hold));
    this.seatMap.setMarks({ selected: this.selected, mine: new Set(hold.seats) });
    this.refreshInteractivity();
    this.renderSelection();
    this.checkout.start(hold, this.clockOffsetMs);
  }

  /** The hold is over (paid, released, expired or gone): back to picking seats. */
  holdEnded(kind) {
    this.hold = null;
    localStorage.removeItem(HOLD_KEY(this.show.showId));
    if (kind === 'paid') return; // the page moves on to the booking
    this.seatMap.setMarks({ selected: this.selected, mine: new Set() });
    this.refreshInteractivity();
    this.renderSelection();
  }

  async restoreHold() {
    let stored;
    try {
      stored = JSON.parse(localStorage.getItem(HOLD_KEY(this.show.showId)) || 'null');
    } catch {
      stored = null;
    }
    if (!stored?.holdId) return;
    try {
      const hold = await api.getHold(stored.holdId, this.signal);
      if (hold.status === 'ACTIVE' && Date.parse(hold.expiresAt) > Date.now()) this.setHold({ ...stored, ...hold });
      else {
        localStorage.removeItem(HOLD_KEY(this.show.showId));
        if (hold.status === 'CONFIRMED') this.message.show('Your earlier hold for this show was paid: see My bookings.', 'info');
      }
    } catch (err) {
      if (!isAbort(err)) localStorage.removeItem(HOLD_KEY(this.show.showId));
    }
  }

  admitted(admission) {
    this.admission = admission;
    this.refreshInteractivity();
    this.renderSelection();
  }
}
