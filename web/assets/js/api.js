// The HTTP client for the boxoffice v1 contract (docs/API.md).
//
// Every call goes through `request`: it adds the guest bearer token (signing in
// automatically and renewing on expiry or 401), turns problem+json answers into
// ApiError values, and retries idempotent writes on 503/network errors with the
// SAME Idempotency-Key, so a retry can never book twice.

const TOKEN_KEY = 'boxoffice.auth';
const RENEW_MARGIN_MS = 30_000;
const MAX_RETRIES = 3;
const MAX_RETRY_WAIT_MS = 5_000;

/** An API failure: `code` is the contract's stable kebab-case code (or 'network'). */
export class ApiError extends Error {
  constructor(status, problem, headers) {
    super(problem?.detail || problem?.title || `HTTP ${status}`);
    this.name = 'ApiError';
    this.status = status;
    this.problem = problem || {};
    this.code = this.problem.code || codeForStatus(status);
    const retryAfter = headers?.get?.('Retry-After');
    this.retryAfterSeconds = retryAfter ? parseRetryAfter(retryAfter) : undefined;
  }

  /** True when the endpoint does not exist on this server (yet): 404 route, 405, 501. */
  get isMissingEndpoint() {
    return this.status === 501 || this.status === 405 || (this.status === 404 && this.code === 'not-found');
  }
}

function codeForStatus(status) {
  if (status === 0) return 'network';
  if (status === 404) return 'not-found';
  if (status === 501) return 'not-implemented';
  if (status === 503) return 'unavailable';
  if (status === 429) return 'rate-limited';
  return `http-${status}`;
}

function parseRetryAfter(value) {
  const seconds = Number(value);
  if (Number.isFinite(seconds)) return Math.max(0, Math.ceil(seconds));
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, Math.ceil((at - Date.now()) / 1000));
}

/** A fresh Idempotency-Key (UUID v4). getRandomValues also works outside secure contexts. */
export function newIdempotencyKey() {
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const hex = [...b].map((x) => x.toString(16).padStart(2, '0')).join('');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

// ---- guest session -------------------------------------------------------

let pendingSignIn = null;

function storedSession() {
  try {
    const s = JSON.parse(localStorage.getItem(TOKEN_KEY) || 'null');
    return s && typeof s.token === 'string' ? s : null;
  } catch {
    return null;
  }
}

/** The current guest session `{ token, userId, expiresAt }`, signing in when needed. */
export async function session() {
  const s = storedSession();
  if (s && Date.parse(s.expiresAt) - Date.now() > RENEW_MARGIN_MS) return s;
  return signIn();
}

/** Forgets the stored token and signs in as a new guest (shared by concurrent callers). */
export function signIn() {
  if (!pendingSignIn) {
    pendingSignIn = (async () => {
      localStorage.removeItem(TOKEN_KEY);
      let res;
      try {
        res = await send('POST', '/v1/auth/guest', { auth: false });
      } catch (err) {
        if (err instanceof ApiError) err.duringSignIn = true;
        throw err;
      }
      localStorage.setItem(TOKEN_KEY, JSON.stringify(res.data));
      return res.data;
    })().finally(() => {
      pendingSignIn = null;
    });
  }
  return pendingSignIn;
}

/** The signed-in user's id, if any, without signing in. */
export function currentUserId() {
  return storedSession()?.userId;
}

// ---- requests ------------------------------------------------------------

const sleep = (ms, signal) => new Promise((resolve, reject) => {
  const t = setTimeout(resolve, ms);
  signal?.addEventListener('abort', () => { clearTimeout(t); reject(signal.reason); }, { once: true });
});

async function send(method, path, { body, auth = true, headers = {}, signal, raw = false } = {}) {
  const h = new Headers(headers);
  if (auth) h.set('Authorization', `Bearer ${(await session()).token}`);
  if (body !== undefined) h.set('Content-Type', 'application/json');
  if (!raw) h.set('Accept', 'application/json');
  let res;
  try {
    res = await fetch(path, { method, headers: h, body: body === undefined ? undefined : JSON.stringify(body), signal });
  } catch (err) {
    if (signal?.aborted) throw err;
    throw new ApiError(0, { title: 'Network error', detail: 'The server could not be reached.' });
  }
  if (res.ok) {
    if (raw) return { status: res.status, headers: res.headers, blob: await res.blob() };
    const text = await res.text();
    return { status: res.status, headers: res.headers, data: text ? JSON.parse(text) : null };
  }
  let problem = null;
  try {
    problem = await res.json();
  } catch {
    // Not problem+json (e.g. a proxy page): status alone decides.
  }
  throw new ApiError(res.status, problem, res.headers);
}

/**
 * Calls the API. Options: body, auth (default true), headers, signal,
 * idempotencyKey (writes: retried on 503/network with the same key), raw (answer as blob).
 * Resolves to { status, headers, data | blob }; rejects with ApiError.
 */
export async function request(method, path, options = {}) {
  const headers = { ...(options.headers || {}) };
  if (options.idempotencyKey) headers['Idempotency-Key'] = options.idempotencyKey;
  const opts = { ...options, headers };
  const retryable = options.idempotencyKey || method === 'GET';
  for (let attempt = 0; ; attempt += 1) {
    try {
      return await send(method, path, opts);
    } catch (err) {
      if (!(err instanceof ApiError)) throw err;
      if (err.status === 401 && opts.auth !== false && attempt === 0) {
        await signIn();
        continue;
      }
      // Reads also wait out a rate limit; writes report it, so the buyer decides to try again.
      const transient = err.status === 0 || err.status === 503 || (method === 'GET' && err.status === 429);
      if (!retryable || !transient || attempt + 1 >= MAX_RETRIES) throw err;
      const waitMs = Math.min(MAX_RETRY_WAIT_MS, (err.retryAfterSeconds ?? 2 ** attempt) * 1000);
      await sleep(waitMs, options.signal);
    }
  }
}

/** Builds a query string from the non-empty entries of `params`. */
export function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== '') q.set(k, v);
  const s = q.toString();
  return s ? `?${s}` : '';
}

/** The ws:// or wss:// URL for a path on this origin. */
export function wsUrl(path) {
  const u = new URL(path, location.href);
  u.protocol = u.protocol === 'https:' ? 'wss:' : 'ws:';
  return u.toString();
}

// ---- the endpoints the UI uses -------------------------------------------

const enc = encodeURIComponent;

export const api = {
  events: (params, signal) => request('GET', `/v1/events${query(params)}`, { auth: false, signal }).then((r) => r.data),
  event: (eventId, signal) => request('GET', `/v1/events/${enc(eventId)}`, { auth: false, signal }).then((r) => r.data),
  seats: (eventId, showId, signal) =>
    request('GET', `/v1/events/${enc(eventId)}/shows/${enc(showId)}/seats`, { auth: false, signal }).then((r) => r.data),
  hold: (showId, seatIds, { idempotencyKey, admissionToken, challengeSolution, signal }) =>
    request('POST', '/v1/bookings/hold', {
      body: { showId, seatIds },
      idempotencyKey,
      headers: {
        ...(admissionToken ? { 'Admission-Token': admissionToken } : {}),
        ...(challengeSolution !== undefined ? { 'Challenge-Solution': challengeSolution } : {}),
      },
      signal,
    }),
  getHold: (holdId, signal) => request('GET', `/v1/bookings/holds/${enc(holdId)}`, { signal }).then((r) => r.data),
  releaseHold: (holdId, idempotencyKey) => request('DELETE', `/v1/bookings/holds/${enc(holdId)}`, { idempotencyKey }),
  confirm: (holdId, paymentMethodId, idempotencyKey) =>
    request('POST', '/v1/bookings/confirm', { body: { holdId, paymentMethodId }, idempotencyKey }).then((r) => r.data),
  bookings: (params, signal) => request('GET', `/v1/bookings${query(params)}`, { signal }).then((r) => r.data),
  booking: (bookingId, signal) => request('GET', `/v1/bookings/${enc(bookingId)}`, { signal }).then((r) => r.data),
  cancelBooking: (bookingId, idempotencyKey) =>
    request('DELETE', `/v1/bookings/${enc(bookingId)}`, { body: { reason: 'Cancelled by the customer' }, idempotencyKey })
      .then((r) => r.data),
  blob: (url, signal) => request('GET', url, { raw: true, signal }).then((r) => r.blob),
  joinQueue: (showId, { idempotencyKey, challengeSolution, signal }) =>
    request('POST', `/v1/shows/${enc(showId)}/queue`, {
      idempotencyKey,
      headers: challengeSolution !== undefined ? { 'Challenge-Solution': challengeSolution } : {},
      signal,
    }).then((r) => r.data),
  queueMe: (showId, signal) => request('GET', `/v1/shows/${enc(showId)}/queue/me`, { signal }).then((r) => r.data),
};
