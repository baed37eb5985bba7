// Live seat statuses for one show.
//
// Primary: the WebSocket GET /v1/shows/{showId}/seats/live (a SNAPSHOT, then SEAT_UPDATE
// frames each naming the version it applies on top of). A frame whose `fromVersion` differs
// from ours means we missed something: drop the socket and reconnect for a fresh snapshot.
// Close code 4001 (too slow) reconnects at once. While there is no working socket, the seat
// map is polled every 2 s, so the page stays current on a server without the live route.

import { api, wsUrl } from './api.js';

const SLOW_CONSUMER = 4001;
const CLIENT_GAP = 4000;
const MAX_BACKOFF_MS = 30_000;

/** Keeps a show's seat statuses current. Callbacks: onSnapshot(seats, version), onUpdate(seats, version), onMode(mode). */
export class LiveSeats {
  constructor({ eventId, showId, onSnapshot, onUpdate, onMode, pollMs = 2000 }) {
    Object.assign(this, { eventId, showId, onSnapshot, onUpdate, onMode, pollMs });
    this.version = undefined;
    this.failures = 0;
    this.stopped = false;
    this.mode = 'connecting';
  }

  /** Starts with the version of the seat map already drawn. */
  start(version) {
    this.polledVersion = version;
    this.connect();
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.reconnectTimer);
    clearTimeout(this.pollTimer);
    this.pollAbort?.abort();
    if (this.ws) {
      this.ws.onclose = null;
      this.ws.close(1000, 'page left');
    }
  }

  setMode(mode) {
    if (mode === this.mode) return;
    this.mode = mode;
    this.onMode?.(mode);
  }

  connect() {
    if (this.stopped) return;
    this.version = undefined;
    let ws;
    try {
      ws = new WebSocket(wsUrl(`/v1/shows/${encodeURIComponent(this.showId)}/seats/live`));
    } catch {
      this.scheduleReconnect();
      return;
    }
    this.ws = ws;
    ws.onmessage = (e) => this.onFrame(ws, e.data);
    ws.onclose = (e) => this.onClose(e);
  }

  onFrame(ws, data) {
    let frame;
    try {
      frame = JSON.parse(data);
    } catch {
      return; // Not ours to interpret; the contract only sends JSON text frames.
    }
    if (frame.type === 'SNAPSHOT') {
      this.version = frame.version;
      this.polledVersion = frame.version;
      this.failures = 0;
      this.stopPolling();
      this.setMode('live');
      this.onSnapshot?.(frame.seats || [], frame.version);
    } else if (frame.type === 'SEAT_UPDATE') {
      if (this.version === undefined || frame.fromVersion !== this.version) {
        this.resync(ws);
        return;
      }
      this.version = frame.version;
      this.polledVersion = frame.version;
      this.onUpdate?.(frame.seats || [], frame.version);
    }
  }

  /** We missed an update: drop this socket without waiting for its close, and start over. */
  resync(ws) {
    ws.onmessage = null;
    ws.onclose = null;
    ws.close(CLIENT_GAP, 'version gap');
    this.ws = null;
    this.connect();
  }

  onClose(e) {
    this.ws = null;
    if (this.stopped) return;
    if (e.code === SLOW_CONSUMER) {
      // We fell behind: resync from a new snapshot right away (a short pause lets the server breathe).
      this.reconnectTimer = setTimeout(() => this.connect(), 250);
      return;
    }
    this.scheduleReconnect();
  }

  scheduleReconnect() {
    this.failures += 1;
    this.setMode('polling');
    this.startPolling();
    const delay = Math.min(MAX_BACKOFF_MS, 1000 * 2 ** (this.failures - 1));
    this.reconnectTimer = setTimeout(() => this.connect(), delay);
  }

  startPolling() {
    if (this.pollTimer || this.stopped) return;
    this.pollGen = (this.pollGen || 0) + 1;
    const gen = this.pollGen;
    const tick = async () => {
      this.pollAbort = new AbortController();
      try {
        const map = await api.seats(this.eventId, this.showId, this.pollAbort.signal);
        if (this.mode === 'polling' && map.version !== this.polledVersion) {
          this.polledVersion = map.version;
          this.onSnapshot?.(map.sections.flatMap((s) => s.seats), map.version);
        }
      } catch {
        // Polling is the fallback; a failed poll is retried on the next tick.
      }
      if (gen !== this.pollGen) return;
      if (this.mode === 'polling' && !this.stopped) this.pollTimer = setTimeout(tick, this.pollMs);
      else this.pollTimer = undefined;
    };
    this.pollTimer = setTimeout(tick, this.pollMs);
  }

  stopPolling() {
    clearTimeout(this.pollTimer);
    this.pollTimer = undefined;
    this.pollGen = (this.pollGen || 0) + 1;
    this.pollAbort?.abort();
  }
}
