// Shared page chrome: headings that take focus on navigation, loading and error states.

import { h, replace } from './dom.js';
import { describeError, isAbort } from './errors.js';

/** Sets the document title and renders the page's content, moving focus to its heading. */
export function showPage(outlet, title, ...content) {
  document.title = `${title} · boxoffice`;
  const heading = h('h1', { tabindex: '-1', class: 'page-title' }, title);
  replace(outlet, heading, ...content);
  // Focus the heading only after in-app navigation, so the first load keeps the skip link first.
  if (document.body.dataset.navigated) heading.focus({ preventScroll: false });
  document.body.dataset.navigated = '1';
  return heading;
}

/** A loading placeholder. */
export function showLoading(outlet, what) {
  replace(outlet, h('p', { class: 'loading', role: 'status' }, `Loading ${what}…`));
}

/** Renders an error as the whole page (unless the page was left meanwhile). */
export function showError(outlet, err, ctx = {}) {
  if (isAbort(err)) return;
  showPage(outlet, ctx.title || 'Something went wrong',
    h('p', { class: 'message message-error', role: 'alert' }, describeError(err, ctx)),
    h('p', {}, h('a', { href: '#/' }, 'Back to all events')));
}

/** Announces text to screen readers through the page's polite live region. */
export function announce(text) {
  const region = document.getElementById('announcer');
  if (!region) return;
  region.textContent = '';
  // A separate tick makes repeated identical messages announced again.
  setTimeout(() => { region.textContent = text; }, 50);
}
