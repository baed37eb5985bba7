// The SVG seat map, drawn from each seat's layout coordinates (x, y).
//
// A seat's look is derived from three facts: its live status (AVAILABLE, HELD, BOOKED,
// BLOCKED), whether this buyer has it selected, and whether this buyer holds it ("mine").
// Keyboard: one seat is in the tab order at a time (roving tabindex); arrow keys move to the
// nearest seat in that direction, Home/End to the row's ends, Space/Enter select.

import { svg, h } from './dom.js';
import { money, label } from './format.js';

const STATUS_WORDS = {
  AVAILABLE: 'available',
  HELD: 'held by someone',
  BOOKED: 'sold',
  BLOCKED: 'not on sale',
  selected: 'selected by you',
  mine: 'held for you',
};

/** The colour legend entries, in display order. */
export const LEGEND = [
  ['available', 'Available'],
  ['selected', 'Selected'],
  ['mine', 'Held for you'],
  ['held', 'Held by someone else'],
  ['booked', 'Sold'],
  ['blocked', 'Not on sale'],
];

function median(values) {
  if (!values.length) return undefined;
  const s = [...values].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

/** Typical distance between neighbouring seats in a row: sets the seat radius and text size. */
function seatSpacing(sections) {
  const gaps = [];
  for (const section of sections) {
    const rows = new Map();
    for (const seat of section.seats) {
      if (!rows.has(seat.row)) rows.set(seat.row, []);
      rows.get(seat.row).push(seat.x);
    }
    for (const xs of rows.values()) {
      xs.sort((a, b) => a - b);
      for (let i = 1; i < xs.length; i += 1) if (xs[i] > xs[i - 1]) gaps.push(xs[i] - xs[i - 1]);
    }
  }
  return median(gaps) || 10;
}

function bounds(seats) {
  let minX = Infinity; let minY = Infinity; let maxX = -Infinity; let maxY = -Infinity;
  for (const s of seats) {
    minX = Math.min(minX, s.x); maxX = Math.max(maxX, s.x);
    minY = Math.min(minY, s.y); maxY = Math.max(maxY, s.y);
  }
  return { minX, minY, maxX, maxY };
}

const ZOOMS = [1, 1.5, 2, 3, 4, 6, 8];

/** An interactive seat map. `onToggle(seat)` is called when the buyer clicks or presses a seat. */
export class SeatMap {
  constructor({ onToggle } = {}) {
    this.onToggle = onToggle;
    this.seats = new Map(); // seatId -> seat record (with section info and its element)
    this.selected = new Set();
    this.mine = new Set();
    this.interactive = true;
    this.zoom = 0;
    this.info = h('p', { class: 'seat-info', 'aria-hidden': 'true' }, 'Point at or focus a seat to see its details.');
    this.scroller = h('div', { class: 'seatmap-scroll' });
    this.el = h('div', { class: 'seatmap' },
      h('div', { class: 'seatmap-tools', role: 'group', 'aria-label': 'Zoom' },
        h('button', { type: 'button', class: 'secondary small', 'aria-label': 'Zoom out', onclick: () => this.setZoom(this.zoom - 1) }, '−'),
        h('button', { type: 'button', class: 'secondary small', 'aria-label': 'Zoom in', onclick: () => this.setZoom(this.zoom + 1) }, '+'),
        h('button', { type: 'button', class: 'secondary small', onclick: () => this.setZoom(0) }, 'Fit')),
      this.scroller, this.info);
  }

  /** Draws the map from a SeatMapResponse. */
  render(map) {
    this.seats.clear();
    const sections = map.sections || [];
    const all = sections.flatMap((s) => s.seats);
    const spacing = seatSpacing(sections);
    const r = spacing * 0.4;
    const pad = spacing * 1.2;
    const labelRoom = spacing * 1.4;
    const b = all.length ? bounds(all) : { minX: 0, minY: 0, maxX: 100, maxY: 50 };
    const viewBox = [b.minX - pad, b.minY - pad - labelRoom, b.maxX - b.minX + 2 * pad, b.maxY - b.minY + 2 * pad + labelRoom];
    this.svg = svg('svg', {
      viewBox: viewBox.join(' '),
      class: 'seatmap-svg',
      role: 'group',
      'aria-label': `Seat map of ${map.venue?.name || 'the venue'}`,
      'aria-describedby': 'seatmap-help',
      preserveAspectRatio: 'xMidYMin meet',
    });
    // Labels grow with the map so a stadium's stay legible, but never beyond the aisle between sections.
    const fontSize = Math.min(spacing * 1.8, Math.max(spacing * 0.6, viewBox[2] / 70));
    sections.forEach((section, index) => this.svg.append(this.drawSection(section, index, r, spacing, fontSize)));
    this.svg.addEventListener('click', (e) => this.seatFromEvent(e) && this.toggle(this.seatFromEvent(e)));
    this.svg.addEventListener('keydown', (e) => this.onKey(e));
    this.svg.addEventListener('focusin', (e) => this.describe(this.seatFromEvent(e)));
    this.svg.addEventListener('mouseover', (e) => this.describe(this.seatFromEvent(e)));
    const first = this.firstSeat();
    if (first) this.setActive(first);
    this.scroller.replaceChildren(this.svg);
    // Small venues should not be blown up to the full width: about 32 px per seat pitch at most.
    this.naturalWidthPx = (viewBox[2] / spacing) * 32;
    this.setZoom(this.zoom);
  }

  drawSection(section, index, r, spacing, fontSize) {
    const g = svg('g', { class: `section tier-${index % 6}`, 'aria-label': `${section.name}, ${money(section.price, section.currency)}`, role: 'group' });
    if (section.seats.length) {
      const b = bounds(section.seats);
      g.append(
        svg('rect', { class: 'section-bg', x: b.minX - spacing * 0.7, y: b.minY - spacing * 0.7, width: b.maxX - b.minX + spacing * 1.4, height: b.maxY - b.minY + spacing * 1.4, rx: spacing * 0.4 }),
        svg('text', { class: 'section-label', x: (b.minX + b.maxX) / 2, y: b.minY - spacing * 0.95, 'font-size': fontSize, 'text-anchor': 'middle', 'aria-hidden': 'true' },
          `${section.name} · ${money(section.price, section.currency)}`),
      );
    }
    for (const seat of section.seats) {
      const el = svg('circle', { cx: seat.x, cy: seat.y, r, role: 'checkbox', tabindex: '-1', 'data-seat-id': seat.seatId });
      const record = { ...seat, sectionId: section.sectionId, sectionName: section.name, price: section.price, currency: section.currency, el };
      this.seats.set(seat.seatId, record);
      this.paint(record);
      g.append(el);
    }
    return g;
  }

  seatFromEvent(e) {
    const el = e.target.closest?.('[data-seat-id]');
    return el ? this.seats.get(el.dataset.seatId) : undefined;
  }

  firstSeat() {
    let best;
    for (const s of this.seats.values()) if (!best || s.y < best.y || (s.y === best.y && s.x < best.x)) best = s;
    return best;
  }

  /** What the buyer sees for a seat: mine > selected > live status. */
  look(seat) {
    if (this.mine.has(seat.seatId)) return 'mine';
    if (this.selected.has(seat.seatId)) return 'selected';
    return seat.status;
  }

  paint(seat) {
    const look = this.look(seat);
    const cls = `seat st-${look.toLowerCase()}`;
    if (seat.el.getAttribute('class') !== cls) seat.el.setAttribute('class', cls);
    seat.el.setAttribute('aria-checked', String(look === 'selected'));
    const pickable = this.interactive && (seat.status === 'AVAILABLE' || look === 'selected');
    seat.el.setAttribute('aria-disabled', String(!pickable));
    seat.el.setAttribute('aria-label',
      `${seat.sectionName}, row ${seat.row}, seat ${seat.number}, ${money(seat.price, seat.currency)}, ${STATUS_WORDS[look] || label(look)}`);
    if (seat === this.described) this.describe(seat);
  }

  /** Applies live statuses: an iterable of { seatId, status }. Returns seats that changed. */
  applyStatuses(updates) {
    const changed = [];
    for (const { seatId, status } of updates) {
      const seat = this.seats.get(seatId);
      if (!seat || seat.status === status) continue;
      seat.status = status;
      changed.push(seat);
      this.paint(seat);
    }
    return changed;
  }

  /** Sets which seats this buyer has selected and which it holds. */
  setMarks({ selected = this.selected, mine = this.mine } = {}) {
    const touched = new Set([...this.selected, ...this.mine, ...selected, ...mine]);
    this.selected = new Set(selected);
    this.mine = new Set(mine);
    for (const id of touched) {
      const seat = this.seats.get(id);
      if (seat) this.paint(seat);
    }
  }

  /** Whether seats can be picked (false while queued, before sale, while a hold is active). */
  setInteractive(on) {
    if (this.interactive === on) return;
    this.interactive = on;
    this.el.classList.toggle('readonly', !on);
    for (const seat of this.seats.values()) this.paint(seat);
  }

  toggle(seat) {
    this.setActive(seat);
    this.onToggle?.(seat);
  }

  describe(seat) {
    if (!seat) return;
    this.described = seat;
    this.info.textContent = `${seat.sectionName} · row ${seat.row}, seat ${seat.number} · ${money(seat.price, seat.currency)} · ${STATUS_WORDS[this.look(seat)]}`;
  }

  setActive(seat, focus = false) {
    if (this.active && this.active !== seat) this.active.el.setAttribute('tabindex', '-1');
    this.active = seat;
    seat.el.setAttribute('tabindex', '0');
    if (focus) seat.el.focus();
  }

  /** The nearest seat from `from` in direction (dx, dy), preferring seats straight ahead. */
  neighbour(from, dx, dy) {
    let best; let bestScore = Infinity;
    for (const s of this.seats.values()) {
      const vx = s.x - from.x; const vy = s.y - from.y;
      const along = vx * dx + vy * dy;
      if (along <= 1e-9) continue;
      const across = Math.abs(vx * dy - vy * dx);
      const score = along + 3 * across;
      if (score < bestScore) { bestScore = score; best = s; }
    }
    return best;
  }

  rowEnd(from, last) {
    let best = from;
    for (const s of this.seats.values()) {
      if (s.sectionId !== from.sectionId || s.row !== from.row) continue;
      if (last ? s.x > best.x : s.x < best.x) best = s;
    }
    return best;
  }

  onKey(e) {
    const seat = this.seatFromEvent(e);
    if (!seat) return;
    const moves = { ArrowLeft: [-1, 0], ArrowRight: [1, 0], ArrowUp: [0, -1], ArrowDown: [0, 1] };
    let next;
    if (moves[e.key]) next = this.neighbour(seat, ...moves[e.key]);
    else if (e.key === 'Home') next = this.rowEnd(seat, false);
    else if (e.key === 'End') next = this.rowEnd(seat, true);
    else if (e.key === ' ' || e.key === 'Enter') {
      e.preventDefault();
      this.toggle(seat);
      this.describe(seat);
      return;
    } else return;
    e.preventDefault();
    if (next) this.setActive(next, true);
  }

  setZoom(level) {
    this.zoom = Math.max(0, Math.min(ZOOMS.length - 1, level));
    if (!this.svg) return;
    this.svg.style.width = `${ZOOMS[this.zoom] * 100}%`;
    this.svg.style.maxWidth = `${Math.round(this.naturalWidthPx * ZOOMS[this.zoom])}px`;
  }

  /** Seat counts and prices per section, for the legend. */
  sectionSummary() {
    const bySection = new Map();
    for (const s of this.seats.values()) {
      if (!bySection.has(s.sectionId)) bySection.set(s.sectionId, { name: s.sectionName, price: s.price, currency: s.currency, available: 0, total: 0 });
      const e = bySection.get(s.sectionId);
      e.total += 1;
      if (s.status === 'AVAILABLE') e.available += 1;
    }
    return [...bySection.values()];
  }
}
