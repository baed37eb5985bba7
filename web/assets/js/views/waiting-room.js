// The waiting-room panel of a show page: joins the queue, shows the place in line and the
// estimated wait, and hands the admission to the page when it is the buyer's turn.

import { ApiError } from '../api.js';
import { h, replace } from '../dom.js';
import { dateTime, duration } from '../format.js';
import { describeError, isAbort } from '../errors.js';
import { admissionFor, storeAdmission, joinQueue, QueueWatcher } from '../queue.js';
import { announce } from '../page.js';

/** The panel; `onAdmitted(admission)` is called once the buyer may pick seats. */
export class WaitingRoom {
  constructor({ showId, signal, onAdmitted }) {
    Object.assign(this, { showId, signal, onAdmitted });
    this.el = h('section', { class: 'panel queue-panel', 'aria-labelledby': 'queue-heading', hidden: true });
  }

  stop() {
    this.watcher?.stop();
  }

  /** Joins (or rejoins) the queue and follows the entry until admitted. */
  async enter() {
    this.stop();
    this.entry = null;
    this.status = h('div', { class: 'queue-status', role: 'status', 'aria-live': 'polite' }, 'Joining the queue…');
    replace(this.el, h('h2', { id: 'queue-heading' }, 'Waiting room'), this.status);
    this.el.hidden = false;
    try {
      const entry = await joinQueue(this.showId, {
        signal: this.signal,
        onSolving: (tried, bits) => {
          this.status.textContent = `Checking your browser before you join (${bits}-bit proof of work, ${tried.toLocaleString()} tries)…`;
        },
      });
      this.onEntry(entry);
      if (entry.status === 'ADMITTED' || this.signal.aborted) return;
      this.watcher = new QueueWatcher({ showId: this.showId, onEntry: (e) => this.onEntry(e), onError: (err) => this.onError(err) });
      this.watcher.start();
    } catch (err) {
      this.onError(err);
    }
  }

  onError(err) {
    if (isAbort(err) || this.signal.aborted) return;
    if (err instanceof ApiError && err.isMissingEndpoint) {
      this.stop();
      this.status.textContent = 'This show sells through a waiting room, but this server does not offer the queue yet. Please try again later.';
      return;
    }
    // Transient failures: the watcher keeps polling, so the place already shown stays up.
    if (!this.entry) this.status.textContent = describeError(err);
  }

  onEntry(entry) {
    this.entry = entry;
    switch (entry.status) {
      case 'WAITING':
        replace(this.status,
          h('p', { class: 'queue-position' }, 'Your place in line: ', h('strong', {}, String(entry.position))),
          h('p', {}, `Estimated wait: ${duration(entry.estimatedWaitSeconds)}.`),
          h('p', { class: 'hint' }, `Queue number ${entry.queueNumber}. Keep this page open; you will move on to the seat map automatically.`));
        break;
      case 'ADMITTED': {
        storeAdmission(this.showId, entry);
        this.stop();
        const admission = admissionFor(this.showId) || { admissionToken: entry.admissionToken };
        this.showAdmitted(admission);
        announce('It is your turn. Pick your seats now.');
        this.onAdmitted(admission);
        break;
      }
      case 'SOLD_OUT':
        replace(this.status, h('p', {}, entry.message || 'All seats are sold or held right now.'),
          h('p', { class: 'hint' }, 'If seats come back, you keep your place and move on automatically.'));
        break;
      case 'EXPIRED':
        this.stop();
        replace(this.status, h('p', {}, 'Your turn in the waiting room has passed.'),
          h('button', { type: 'button', class: 'primary', onclick: () => this.enter() }, 'Join the queue again'));
        break;
      default:
        this.status.textContent = `Queue status: ${entry.status}`;
    }
  }

  /** Shows that the buyer may pick seats now (also for an admission remembered from before). */
  showAdmitted(admission) {
    const until = admission?.admissionExpiresAt;
    replace(this.el, h('h2', { id: 'queue-heading' }, 'Waiting room'),
      h('p', { class: 'message message-success', role: 'status' },
        `It's your turn: pick your seats${until ? ` before ${dateTime(until)}` : ''}.`));
    this.el.hidden = false;
  }
}
