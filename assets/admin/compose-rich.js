// The compose form's rich part (issue 16): buttons, pictures, behaviour flags, data, texts in
// other languages, a tag audience, pacing and quiet hours, and the live preview of the
// notification beside the form. admin.js owns sending; this module turns the fields into the
// API's message members (`richFields`) and draws the preview.

const MAX_ACTIONS = 3;
const MAX_DATA_BYTES = 1024;
const MAX_SPREAD_SECS = 86400;

const $ = (id) => document.getElementById(id);

/** A field refused before sending: the message and the control to focus. */
export class FieldError extends Error {
  constructor(message, control) {
    super(message);
    this.control = control;
  }
}

let h;
let rowSerial = 0;

/** One row of inputs inside a fieldset: `fields` are [key, label, attrs]. */
function row(container, kind, fields, onRemove) {
  const n = ++rowSerial;
  const position = container.children.length + 1;
  const legend = h('legend', { text: `${kind} ${position}` });
  const set = h('fieldset', { class: 'row', 'data-row': kind.toLowerCase() }, legend);
  for (const [key, label, attrs] of fields) {
    const id = `${kind.toLowerCase()}-${key}-${n}`;
    set.append(h('div', { class: 'field' }, h('label', { for: id, text: label }), h('input', { id, 'data-key': key, autocomplete: 'off', ...attrs })));
  }
  const remove = h('button', { type: 'button', class: 'danger small', text: 'Remove', 'aria-label': `Remove ${kind.toLowerCase()} ${position}` });
  remove.addEventListener('click', () => {
    set.remove();
    renumber(container, kind);
    onRemove();
  });
  set.append(remove);
  container.append(set);
  set.querySelector('input').focus();
  return set;
}

/** Legends and remove labels follow the rows' order after one is removed. */
function renumber(container, kind) {
  [...container.children].forEach((set, i) => {
    set.querySelector('legend').textContent = `${kind} ${i + 1}`;
    set.querySelector('button').setAttribute('aria-label', `Remove ${kind.toLowerCase()} ${i + 1}`);
  });
}

function rowValues(container) {
  return [...container.children].map((set) =>
    Object.fromEntries([...set.querySelectorAll('input')].map((i) => [i.dataset.key, i.value.trim()])),
  );
}

function tagList(id) {
  return $(id)
    .value.split(',')
    .map((t) => t.trim())
    .filter(Boolean);
}

/** `{"default": text, "uk": …}` when other languages give one; the plain text otherwise. */
function localized(text, languages, key) {
  const extra = languages.filter((l) => l.lang && l[key]);
  if (!extra.length) return text;
  const map = { default: text };
  for (const l of extra) map[l.lang] = l[key];
  return map;
}

/** The audience of the tags fieldset, or a FieldError. */
export function tagAudience() {
  const tags = {};
  for (const key of ['any', 'all', 'none']) {
    const list = tagList(`tags-${key}`);
    if (list.length) tags[key] = list;
  }
  if (!Object.keys(tags).length) throw new FieldError('Name at least one tag (any, all or none).', $('tags-any'));
  const to = { tags };
  if ($('tags-kind').value !== 'everyone') to.kind = $('tags-kind').value;
  return to;
}

/**
 * The rich members to merge into the message, from the form; `title` and `body` are the
 * default texts. Throws FieldError for what the browser can tell is wrong.
 */
export function richFields(title, body) {
  const out = {};
  const actions = rowValues($('action-rows'));
  const rows = [...$('action-rows').children];
  actions.forEach((a, i) => {
    if (!a.id || !a.title) throw new FieldError(`Button ${i + 1} needs an id and a label.`, rows[i].querySelector(a.id ? '[data-key="title"]' : 'input'));
  });
  if (actions.length) out.actions = actions.map((a) => (a.url ? a : { id: a.id, title: a.title }));
  for (const key of ['icon', 'image', 'badge', 'tag']) {
    const value = $(key).value.trim();
    if (value) out[key] = value;
  }
  if ($('require-interaction').checked) out.requireInteraction = true;
  if ($('silent').checked) out.silent = true;
  if ($('renotify').checked) out.renotify = true;
  if ($('dir').value) out.dir = $('dir').value;
  const lang = $('lang').value.trim();
  if (lang) out.lang = lang;
  const badge = $('app-badge').value.trim();
  if (badge) {
    if (!/^\d+$/.test(badge)) throw new FieldError('The app badge is a whole number, 0 or more.', $('app-badge'));
    out.appBadge = Number(badge);
  }
  const data = $('data').value.trim();
  if (data) {
    let parsed;
    try {
      parsed = JSON.parse(data);
    } catch (err) {
      throw new FieldError(`Data is not JSON: ${err.message}`, $('data'));
    }
    if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) throw new FieldError('Data must be a JSON object: {…}.', $('data'));
    const size = new TextEncoder().encode(JSON.stringify(parsed)).length;
    if (size > MAX_DATA_BYTES) throw new FieldError(`Data is ${size} bytes as JSON; at most ${MAX_DATA_BYTES}.`, $('data'));
    out.data = parsed;
  }
  const languages = rowValues($('language-rows'));
  const langRows = [...$('language-rows').children];
  const seen = new Set();
  languages.forEach((l, i) => {
    if (!l.lang) throw new FieldError(`Language ${i + 1} needs a language tag such as uk.`, langRows[i].querySelector('input'));
    if (seen.has(l.lang.toLowerCase())) throw new FieldError(`The language ${l.lang} is given twice.`, langRows[i].querySelector('input'));
    seen.add(l.lang.toLowerCase());
    if (l.body && !body) throw new FieldError('A body in another language needs the default body too.', $('body'));
  });
  const titles = localized(title, languages, 'title');
  if (titles !== title) out.title = titles;
  const bodies = localized(body, languages, 'body');
  if (bodies !== body) out.body = bodies;
  const spread = $('spread-over').value.trim();
  if (spread) {
    const secs = Number(spread) * Number($('spread-unit').value);
    if (!Number.isInteger(secs) || secs < 1 || secs > MAX_SPREAD_SECS) throw new FieldError('Spread the pushes over 1 second to 24 hours.', $('spread-over'));
    out.spreadOver = secs;
  }
  const from = $('quiet-from').value.slice(0, 5);
  const to = $('quiet-to').value.slice(0, 5);
  if ($('ignore-quiet-hours').checked) {
    if (from || to) throw new FieldError('Either quiet hours or ignoring them, not both.', $('ignore-quiet-hours'));
    out.ignoreQuietHours = true;
  } else if (from || to) {
    if (!from || !to) throw new FieldError('Quiet hours need both a start and an end.', from ? $('quiet-to') : $('quiet-from'));
    if (from === to) throw new FieldError('Quiet hours must not start and end at the same time.', $('quiet-to'));
    out.quietHours = { from, to };
  }
  return out;
}

/** Empties every rich field (after a message is sent). */
export function resetRich() {
  for (const id of ['icon', 'image', 'badge', 'tag', 'lang', 'app-badge', 'data', 'spread-over', 'quiet-from', 'quiet-to', 'tags-any', 'tags-all', 'tags-none']) $(id).value = '';
  for (const id of ['require-interaction', 'silent', 'renotify', 'ignore-quiet-hours']) $(id).checked = false;
  $('dir').value = '';
  $('tags-kind').value = 'everyone';
  $('action-rows').replaceChildren();
  $('language-rows').replaceChildren();
  syncButtons();
  renderPreview();
}

// ---------------------------------------------------------------- preview

/** Pictures the console may load under its CSP (img-src 'self' data: https:); others are named. */
function picture(url, cls, alt) {
  let src;
  try {
    src = new URL(url, location.origin);
  } catch {
    return h('span', { class: `${cls} preview-missing`, text: alt });
  }
  if (src.origin === location.origin || src.protocol === 'https:') return h('img', { class: cls, src: src.href, alt, referrerpolicy: 'no-referrer' });
  return h('span', { class: `${cls} preview-missing`, text: `${alt}: ${url}` });
}

function syncPreviewLanguages() {
  const select = $('preview-lang');
  const chosen = select.value;
  const langs = rowValues($('language-rows'))
    .map((l) => l.lang)
    .filter(Boolean);
  const defaultName = $('lang').value.trim();
  select.replaceChildren(
    h('option', { value: '', text: defaultName ? `default (${defaultName})` : 'default' }),
    ...langs.map((l) => h('option', { value: l, text: l })),
  );
  select.value = langs.includes(chosen) ? chosen : '';
}

// What the preview last drew (see renderPreview).
let drawn = '';

/** Draws the notification as the chosen language's device would get it. */
export function renderPreview() {
  syncPreviewLanguages();
  const chosen = $('preview-lang').value;
  const entry = rowValues($('language-rows')).find((l) => l.lang && l.lang === chosen) || {};
  const title = entry.title || $('title').value.trim() || 'Title';
  const body = entry.body || $('body').value.trim();
  const icon = $('icon').value.trim();
  const image = $('image').value.trim();
  const dir = $('dir').value;
  const buttons = rowValues($('action-rows')).filter((a) => a.title);
  const lang = chosen || $('lang').value.trim();
  const flags = [
    $('require-interaction').checked ? 'stays until acted on' : null,
    $('silent').checked ? 'silent' : null,
    $('renotify').checked ? 'alerts again' : null,
    $('app-badge').value.trim() ? `app badge ${$('app-badge').value.trim()}` : null,
  ].filter(Boolean);
  // Redrawn only when what it shows changed. Leaving a field fires `change` after its last
  // `input`: redrawing then replaced the pictures with new, not yet sized <img> elements, the
  // scrolled compose card got shorter between the press and the release of the pointer on
  // Send, the button moved away from under it, and the click (so the send) was lost.
  const state = JSON.stringify([chosen, title, body, icon, image, dir, buttons.map((a) => a.title), lang, flags]);
  if (state === drawn) return;
  drawn = state;
  const mock = h(
    'div',
    { class: 'mock', lang: lang || undefined, dir: dir && dir !== 'auto' ? dir : undefined, 'data-language': chosen || 'default' },
    h(
      'div',
      { class: 'mock-head' },
      icon ? picture(icon, 'mock-icon', 'Icon') : h('span', { class: 'mock-icon mock-icon-blank', 'aria-hidden': 'true' }),
      h('div', { class: 'mock-text' }, h('strong', { class: 'mock-title', text: title }), body ? h('p', { class: 'mock-body', text: body }) : null),
    ),
    image ? picture(image, 'mock-image', 'Image') : null,
    buttons.length
      ? h('ul', { class: 'mock-actions', 'aria-label': 'Buttons' }, ...buttons.map((a) => h('li', { text: a.title })))
      : null,
  );
  $('preview').replaceChildren(mock, flags.length ? h('p', { class: 'hint mock-flags', text: flags.join(' · ') }) : '');
}

function syncButtons() {
  $('add-action').disabled = $('action-rows').children.length >= MAX_ACTIONS;
}

/** Wires the rich fields; `make` is admin.js's element builder. */
export function setupRichCompose(make) {
  h = make;
  $('add-action').addEventListener('click', () => {
    if ($('action-rows').children.length >= MAX_ACTIONS) return;
    row(
      $('action-rows'),
      'Button',
      [
        ['id', 'Id', { spellcheck: 'false', maxlength: '64', placeholder: 'pay' }],
        ['title', 'Label', { maxlength: '64', placeholder: 'Pay now' }],
        ['url', 'Link (optional)', { inputmode: 'url', placeholder: '/pay' }],
      ],
      () => {
        syncButtons();
        renderPreview();
        $('add-action').focus();
      },
    );
    syncButtons();
    renderPreview();
  });
  $('add-language').addEventListener('click', () => {
    row(
      $('language-rows'),
      'Language',
      [
        ['lang', 'Language tag', { spellcheck: 'false', maxlength: '35', placeholder: 'uk' }],
        ['title', 'Title', { maxlength: '200' }],
        ['body', 'Body', {}],
      ],
      () => {
        renderPreview();
        $('add-language').focus();
      },
    );
    renderPreview();
  });
  const form = $('compose-form');
  form.addEventListener('input', renderPreview);
  form.addEventListener('change', renderPreview);
  $('preview-lang').addEventListener('change', renderPreview);
  syncButtons();
  renderPreview();
}
