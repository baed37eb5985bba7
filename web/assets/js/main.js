// Entry point: registers the pages and starts the router. Guest sign-in happens lazily, on the
// first request that needs a token (see api.js).

import { route, start } from './router.js';
import { showPage } from './page.js';
import { h } from './dom.js';
import { browseView } from './views/browse.js';
import { eventView } from './views/event.js';
import { showView } from './views/show.js';
import { bookingView } from './views/booking.js';
import { bookingsView } from './views/bookings.js';

route('/', browseView);
route('/events/:eventId', eventView);
route('/events/:eventId/shows/:showId', showView);
route('/bookings', bookingsView);
route('/bookings/:bookingId', bookingView);

function highlightNav() {
  const path = location.hash.replace(/^#/, '').split('?')[0] || '/';
  for (const a of document.querySelectorAll('.site-nav a')) {
    const target = a.getAttribute('href').slice(1);
    const here = target === '/' ? !path.startsWith('/bookings') : path.startsWith(target);
    if (here) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
}

window.addEventListener('hashchange', highlightNav);
highlightNav();
start(document.getElementById('main'), ({ outlet }) => showPage(outlet, 'Page not found',
  h('p', {}, 'There is nothing at this address. ', h('a', { href: '#/' }, 'Browse events'))));

// The skip link must not change the hash (that is the router's), so it moves focus itself.
document.querySelector('.skip-link')?.addEventListener('click', (e) => {
  e.preventDefault();
  document.getElementById('main').focus();
});
