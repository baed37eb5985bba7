// Hash routing: the server serves only index.html and /assets, every page lives after '#'.
//   #/                         browse and search (filters in the query: #/?city=Pune&page=2)
//   #/events/<eventId>         an event and its shows
//   #/events/<eventId>/shows/<showId>   seat map, hold, checkout (and the queue)
//   #/bookings                 my bookings
//   #/bookings/<bookingId>     one booking with its tickets

const routes = [];

/** Registers a view for a path pattern such as '/events/:eventId'. */
export function route(pattern, view) {
  const names = [];
  const re = new RegExp(`^${pattern.replace(/:(\w+)/g, (_, n) => { names.push(n); return '([^/]+)'; })}/?$`);
  routes.push({ re, names, view });
}

/** The current location as { path, params, query }. */
export function current() {
  const raw = location.hash.replace(/^#/, '') || '/';
  const [path, qs = ''] = raw.split('?');
  return { path, query: new URLSearchParams(qs) };
}

/** Navigates to a hash path ('/events/..'), optionally replacing the history entry. */
export function navigate(path, { replace = false } = {}) {
  const hash = `#${path}`;
  if (replace) {
    history.replaceState(null, '', hash);
    window.dispatchEvent(new HashChangeEvent('hashchange'));
  } else {
    location.hash = hash;
  }
}

/** Starts routing: renders the matching view into `outlet` on every hash change. */
export function start(outlet, notFound) {
  let active = null;
  const render = () => {
    active?.abort();
    active = new AbortController();
    const { path, query } = current();
    for (const r of routes) {
      const m = r.re.exec(path);
      if (!m) continue;
      const params = Object.fromEntries(r.names.map((n, i) => [n, decodeURIComponent(m[i + 1])]));
      r.view({ outlet, params, query, signal: active.signal });
      return;
    }
    notFound({ outlet, signal: active.signal });
  };
  window.addEventListener('hashchange', render);
  render();
}
