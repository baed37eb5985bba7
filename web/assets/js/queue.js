// The waiting room: joining (with the proof-of-work challenge when a show asks for one),
// following one's place (WebSocket .../queue/live, with polling of .../queue/me as the
// fallback and safety net), and keeping the admission token for the hold request.

import { api, newIdempotencyKey, session, wsUrl, ApiError } from './api.js';

const ADMISSION_KEY = (showId) => `boxoffice.admission.${showId}`;

/** The stored, unexpired admission `{ admissionToken, admissionExpiresAt }` for a show. */
export function admissionFor(showId) {
  try {
    const a = JSON.parse(localStorage.getItem(ADMISSION_KEY(showId)) || 'null');
    if (a && a.admissionToken && (!a.admissionExpiresAt || Date.parse(a.admissionExpiresAt) > Date.now())) return a;
  } catch {
    // A corrupt entry is treated as no admission.
  }
  localStorage.removeItem(ADMISSION_KEY(showId));
  return null;
}

/** Remembers (or with null, forgets) the admission for a show. */
export function storeAdmission(showId, entry) {
  if (entry?.admissionToken) {
    localStorage.setItem(ADMISSION_KEY(showId), JSON.stringify({
      admissionToken: entry.admissionToken, admissionExpiresAt: entry.admissionExpiresAt,
    }));
  } else {
    localStorage.removeItem(ADMISSION_KEY(showId));
  }
}

/** Solves SHA-256(challenge + nonce) with `bits` leading zero bits in a Web Worker. */
export function solveInWorker(challenge, bits, { signal, onProgress } = {}) {
  return new Promise((resolve, reject) => {
    const worker = new Worker(new URL('./pow-worker.js', import.meta.url), { type: 'module' });
    const done = () => worker.terminate();
    signal?.addEventListener('abort', () => { done(); reject(signal.reason); }, { once: true });
    worker.onmessage = (e) => {
      if (e.data.progress !== undefined) onProgress?.(e.data.progress);
      if (e.data.nonce !== undefined) { done(); resolve(e.data.nonce); }
    };
    worker.onerror = (e) => { done(); reject(new Error(`proof-of-work failed: ${e.message}`)); };
    worker.postMessage({ challenge, bits });
  });
}

/** Joins a show's queue, answering a 428 challenge if the show asks for one. Resolves to a QueueEntry. */
export async function joinQueue(showId, { signal, onSolving } = {}) {
  try {
    return await api.joinQueue(showId, { idempotencyKey: newIdempotencyKey(), signal });
  } catch (err) {
    if (!(err instanceof ApiError) || err.code !== 'challenge-required') throw err;
    const { challenge, bits } = err.problem;
    onSolving?.(0, bits);
    const nonce = await solveInWorker(String(challenge), Number(bits), { signal, onProgress: (n) => onSolving?.(n, bits) });
    return api.joinQueue(showId, { idempotencyKey: newIdempotencyKey(), challengeSolution: nonce, signal });
  }
}

/**
 * Holds seats, answering the demand guard's 428 challenge (a proof of work the server asks of a
 * client address that holds much of a show, or whose holds are mostly refused) with one retry
 * under the same Idempotency-Key: the refused try was not taken. Resolves to the hold response.
 */
export async function holdSeats(showId, seatIds, { admissionToken, signal, onSolving } = {}) {
  const idempotencyKey = newIdempotencyKey();
  try {
    return await api.hold(showId, seatIds, { idempotencyKey, admissionToken, signal });
  } catch (err) {
    if (!(err instanceof ApiError) || err.code !== 'challenge-required') throw err;
    const { challenge, bits } = err.problem;
    onSolving?.(0, bits);
    const nonce = await solveInWorker(String(challenge), Number(bits), { signal, onProgress: (n) => onSolving?.(n, bits) });
    return api.hold(showId, seatIds, { idempotencyKey, admissionToken, challengeSolution: nonce, signal });
  }
}

/** Follows the caller's QueueEntry. Callbacks: onEntry(entry), onError(err), onMode('live'|'polling'). */
export class QueueWatcher {
  constructor({ showId, onEntry, onError, onMode, pollMs = 3000, livePollMs = 15000 }) {
    Object.assign(this, { showId, onEntry, onError, onMode, pollMs, livePollMs });
    this.stopped = false;
    this.live = false;
    this.failures = 0;
  }

  start() {
    this.connect();
    this.poll();
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.pollTimer);
    clearTimeout(this.reconnectTimer);
    this.abort?.abort();
    if (this.ws) { this.ws.onclose = null; this.ws.close(1000, 'page left'); }
  }

  async connect() {
    if (this.stopped) return;
    let token;
    try {
      token = (await session()).token;
    } catch {
      this.scheduleReconnect();
      return;
    }
    if (this.stopped) return;
    const ws = new WebSocket(wsUrl(`/v1/shows/${encodeURIComponent(this.showId)}/queue/live?token=${encodeURIComponent(token)}`));
    this.ws = ws;
    ws.onopen = () => { this.failures = 0; this.live = true; this.onMode?.('live'); };
    ws.onmessage = (e) => {
      try {
        this.deliver(JSON.parse(e.data));
      } catch {
        // Ignore frames that are not a QueueEntry.
      }
    };
    ws.onclose = () => {
      this.ws = null;
      if (this.live) { this.live = false; this.onMode?.('polling'); }
      this.scheduleReconnect();
    };
  }

  scheduleReconnect() {
    if (this.stopped) return;
    this.failures += 1;
    this.reconnectTimer = setTimeout(() => this.connect(), Math.min(30_000, 1000 * 2 ** (this.failures - 1)));
  }

  deliver(entry) {
    if (this.stopped || !entry || !entry.status) return;
    // The pushed entry may omit the token: read it from .../queue/me.
    if (entry.status === 'ADMITTED' && !entry.admissionToken) {
      clearTimeout(this.pollTimer);
      this.poll();
      return;
    }
    this.onEntry?.(entry);
  }

  async poll() {
    if (this.stopped) return;
    this.abort = new AbortController();
    try {
      this.deliver(await api.queueMe(this.showId, this.abort.signal));
    } catch (err) {
      if (this.stopped) return;
      this.onError?.(err);
    }
    if (!this.stopped) this.pollTimer = setTimeout(() => this.poll(), this.live ? this.livePollMs : this.pollMs);
  }
}
