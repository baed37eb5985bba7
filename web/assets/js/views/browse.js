// Browse and search events: filters live in the URL (#/?query=..&city=..), so results can be
// bookmarked and the back button works.

import { api } from '../api.js';
import { h, replace } from '../dom.js';
import { dateRange, label } from '../format.js';
import { navigate } from '../router.js';
import { showPage, showError, announce } from '../page.js';
import { describeError, isAbort } from '../errors.js';

const CATEGORIES = ['movies', 'concerts', 'sports', 'theater'];
const PAGE_SIZE = 12;

/** Only same-origin posters are shown: the page makes no third-party requests. */
export function posterSrc(url) {
  if (!url) return null;
  try {
    const u = new URL(url, location.href);
    return u.origin === location.origin ? u.href : null;
  } catch {
    return null;
  }
}

function filtersFrom(query) {
  const page = Math.max(1, Number.parseInt(query.get('page') || '1', 10) || 1);
  return {
    query: query.get('query') || '',
    city: query.get('city') || '',
    category: CATEGORIES.includes(query.get('category')) ? query.get('category') : '',
    date: /^\d{4}-\d{2}-\d{2}$/.test(query.get('date') || '') ? query.get('date') : '',
    page,
  };
}

function toHash(filters) {
  const q = new URLSearchParams();
  for (const k of ['query', 'city', 'category', 'date']) if (filters[k]) q.set(k, filters[k]);
  if (filters.page > 1) q.set('page', String(filters.page));
  const s = q.toString();
  return s ? `/?${s}` : '/';
}

function searchForm(filters) {
  const field = (id, text, control) => h('div', { class: 'field' }, h('label', { for: id }, text), control);
  const form = h('form', { class: 'search', role: 'search', 'aria-label': 'Find events' },
    field('f-query', 'Search', h('input', { id: 'f-query', name: 'query', type: 'search', value: filters.query, placeholder: 'Title or description' })),
    field('f-city', 'City', h('input', { id: 'f-city', name: 'city', type: 'text', value: filters.city, autocomplete: 'address-level2' })),
    field('f-category', 'Category', h('select', { id: 'f-category', name: 'category' },
      h('option', { value: '' }, 'Any category'),
      CATEGORIES.map((c) => h('option', { value: c, selected: c === filters.category }, label(c))))),
    field('f-date', 'Date', h('input', { id: 'f-date', name: 'date', type: 'date', value: filters.date })),
    h('div', { class: 'field field-actions' },
      h('button', { type: 'submit', class: 'primary' }, 'Search'),
      h('button', { type: 'reset', class: 'secondary' }, 'Clear')));
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const data = new FormData(form);
    navigate(toHash({
      query: data.get('query').trim(), city: data.get('city').trim(), category: data.get('category'), date: data.get('date'), page: 1,
    }));
  });
  form.addEventListener('reset', (e) => {
    e.preventDefault();
    navigate('/');
  });
  return form;
}

function eventCard(ev) {
  const src = posterSrc(ev.posterUrl);
  return h('li', { class: 'card event-card' },
    src
      ? h('img', { class: 'poster', src, alt: '', loading: 'lazy' })
      : h('div', { class: `poster poster-placeholder cat-${ev.category}`, 'aria-hidden': 'true' }, (ev.title || '?').charAt(0)),
    h('div', { class: 'card-body' },
      h('h2', { class: 'card-title' }, h('a', { href: `#/events/${encodeURIComponent(ev.eventId)}` }, ev.title)),
      h('p', { class: 'meta' }, h('span', { class: `tag cat-${ev.category}` }, label(ev.category)), ` ${ev.city}`),
      h('p', { class: 'meta' }, ev.venueName),
      h('p', { class: 'meta' }, dateRange(ev.startDate, ev.endDate))));
}

function pager(filters, page) {
  const pages = Math.max(1, Math.ceil(page.total / page.limit));
  const go = (n) => h('a', { class: 'button secondary', href: `#${toHash({ ...filters, page: n })}` });
  const prev = filters.page > 1 ? go(filters.page - 1) : h('span', { class: 'button secondary', 'aria-disabled': 'true' });
  const next = filters.page < pages ? go(filters.page + 1) : h('span', { class: 'button secondary', 'aria-disabled': 'true' });
  prev.append('← Previous');
  next.append('Next →');
  return h('nav', { class: 'pager', 'aria-label': 'Result pages' }, prev, h('span', {}, `Page ${filters.page} of ${pages}`), next);
}

/** The browse page. */
export async function browseView({ outlet, query, signal }) {
  const filters = filtersFrom(query);
  const results = h('section', { 'aria-labelledby': 'results-heading' },
    h('h2', { id: 'results-heading', class: 'visually-hidden' }, 'Results'),
    h('p', { class: 'loading', role: 'status' }, 'Searching…'));
  showPage(outlet, 'Find events', searchForm(filters), results);
  try {
    const page = await api.events({ ...filters, limit: PAGE_SIZE }, signal);
    const count = h('p', { class: 'result-count', role: 'status' },
      page.total === 0 ? 'No events match these filters.' : `${page.total} event${page.total === 1 ? '' : 's'} found`);
    replace(results, results.firstChild, count,
      page.items.length ? h('ul', { class: 'cards', 'aria-label': 'Events' }, page.items.map(eventCard)) : null,
      page.total > page.limit ? pager(filters, page) : null);
    announce(count.textContent);
  } catch (err) {
    if (isAbort(err)) return;
    if (err.code === 'invalid-request') {
      replace(results, h('p', { class: 'message message-error', role: 'alert' }, describeError(err)));
      return;
    }
    showError(outlet, err, { title: 'Events could not be loaded' });
  }
}
