// Hand-drawn SVG charts for the admin console: stacked bar charts over time and horizontal
// bars. No dependencies; runs under CSP default-src 'self' (no inline styles: colours come
// from admin.css classes, shapes from attributes).
//
// Readable without colour: every series has its own fill pattern (solid, hatching, dots,
// cross-hatching, stripes) shown in the legend. Numbers appear on hover (each bar has a
// <title>, and the readout line below the chart follows the pointer) and on focus (the chart
// is one tab stop; arrow keys, Home and End move between buckets and the readout says what
// the highlighted bucket holds).

const SVG = 'http://www.w3.org/2000/svg';
const PATTERNS = ['solid', 'hatch', 'dots', 'cross', 'stripes', 'grid'];
let chartCount = 0;

function svg(tag, attrs, ...children) {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v !== undefined && v !== null) node.setAttribute(k, String(v));
  }
  for (const child of children) if (child) node.append(child);
  return node;
}

function html(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null) continue;
    if (k === 'class') node.className = v;
    else if (k === 'text') node.textContent = v;
    else node.setAttribute(k, String(v));
  }
  for (const child of children) if (child !== null && child !== undefined) node.append(child);
  return node;
}

/** One <pattern> per series: a coloured ground with a texture of its own. */
function patternDefs(prefix, series) {
  const defs = svg('defs');
  series.forEach((s, i) => {
    const kind = PATTERNS[i % PATTERNS.length];
    const p = svg('pattern', { id: `${prefix}-p${i}`, width: 6, height: 6, patternUnits: 'userSpaceOnUse' });
    p.append(svg('rect', { width: 6, height: 6, class: `series-${s.tone}` }));
    const ink = { class: 'texture' };
    if (kind === 'hatch') p.append(svg('path', { d: 'M-1,1 l2,-2 M0,6 l6,-6 M5,7 l2,-2', ...ink }));
    if (kind === 'dots') p.append(svg('circle', { cx: 3, cy: 3, r: 1.1, class: 'texture-dot' }));
    if (kind === 'cross') p.append(svg('path', { d: 'M0,0 l6,6 M6,0 l-6,6', ...ink }));
    if (kind === 'stripes') p.append(svg('path', { d: 'M0,3 h6', ...ink }));
    if (kind === 'grid') p.append(svg('path', { d: 'M3,0 v6 M0,3 h6', ...ink }));
    defs.append(p);
  });
  return defs;
}

function legend(prefix, series) {
  return html(
    'ul',
    { class: 'legend' },
    ...series.map((s, i) => {
      const swatch = svg('svg', { width: 16, height: 16, viewBox: '0 0 16 16', 'aria-hidden': 'true', focusable: 'false' });
      swatch.append(patternDefs(`${prefix}-l${i}`, [s]));
      swatch.append(svg('rect', { x: 0.5, y: 0.5, width: 15, height: 15, fill: `url(#${prefix}-l${i}-p0)`, class: 'swatch' }));
      return html('li', null, swatch, ` ${s.label}`);
    }),
  );
}

function niceMax(value) {
  if (value <= 0) return 1;
  const magnitude = 10 ** Math.floor(Math.log10(value));
  for (const step of [1, 2, 2.5, 5, 10]) if (step * magnitude >= value) return step * magnitude;
  return 10 * magnitude;
}

const numberFormat = new Intl.NumberFormat();
export const fmt = (n) => numberFormat.format(n || 0);

/**
 * A stacked bar chart. `buckets`: [{ label, short, values: { key: n } }] oldest first;
 * `series`: [{ key, label, tone }]; `below`: keys drawn below the axis (e.g. pruned).
 * Returns the chart element; `data-total` and the readout carry the numbers for tests.
 */
export function stackedBars(container, { title, buckets, series, below = [], unit = '' }) {
  const prefix = `c${++chartCount}`;
  // Drawn at the container's width, so text keeps its size (a hidden container draws at 720
  // and the console redraws when its page is shown).
  const width = Math.max(280, Math.round(container.clientWidth || 720));
  const height = 220;
  const pad = { left: 44, right: 8, top: 10, bottom: 26 };
  const above = series.filter((s) => !below.includes(s.key));
  const under = series.filter((s) => below.includes(s.key));
  const sum = (b, list) => list.reduce((t, s) => t + (b.values[s.key] || 0), 0);
  const maxAbove = niceMax(Math.max(0, ...buckets.map((b) => sum(b, above))));
  const maxBelow = under.length ? niceMax(Math.max(0, ...buckets.map((b) => sum(b, under)))) : 0;
  const plotH = height - pad.top - pad.bottom;
  const zeroY = pad.top + (plotH * maxAbove) / (maxAbove + maxBelow);
  const scale = (plotH) / (maxAbove + maxBelow);
  const step = (width - pad.left - pad.right) / Math.max(1, buckets.length);
  const barW = Math.max(1, step * 0.8);
  const total = buckets.reduce((t, b) => t + sum(b, series), 0);

  const root = svg('svg', {
    viewBox: `0 0 ${width} ${height}`,
    class: 'chart-svg',
    role: 'img',
    tabindex: 0,
    'aria-label': `${title}. ${fmt(total)} in all. Use the arrow keys to read each bar.`,
    'aria-describedby': `${prefix}-readout`,
  });
  root.append(patternDefs(prefix, series));
  // Grid: the axis and the top value.
  root.append(svg('line', { x1: pad.left, x2: width - pad.right, y1: zeroY, y2: zeroY, class: 'axis' }));
  root.append(svg('text', { x: pad.left - 4, y: pad.top + 8, class: 'tick', 'text-anchor': 'end' }, document.createTextNode(fmt(maxAbove))));
  root.append(svg('text', { x: pad.left - 4, y: zeroY + 4, class: 'tick', 'text-anchor': 'end' }, document.createTextNode('0')));
  if (maxBelow && height - pad.bottom - zeroY > 14) {
    root.append(svg('text', { x: pad.left - 4, y: height - pad.bottom, class: 'tick', 'text-anchor': 'end' }, document.createTextNode(`−${fmt(maxBelow)}`)));
  }
  const labelEvery = Math.max(1, Math.ceil(buckets.length / Math.max(2, Math.floor(width / 95))));
  const groups = buckets.map((b, i) => {
    const x = pad.left + i * step + (step - barW) / 2;
    const g = svg('g', { class: 'bucket', 'data-index': i });
    let y = zeroY;
    above.forEach((s) => {
      const v = b.values[s.key] || 0;
      if (!v) return;
      const h = v * scale;
      y -= h;
      g.append(svg('rect', { x, y, width: barW, height: h, fill: `url(#${prefix}-p${series.indexOf(s)})`, class: 'bar' }));
    });
    let yb = zeroY;
    under.forEach((s) => {
      const v = b.values[s.key] || 0;
      if (!v) return;
      const h = v * scale;
      g.append(svg('rect', { x, y: yb, width: barW, height: h, fill: `url(#${prefix}-p${series.indexOf(s)})`, class: 'bar' }));
      yb += h;
    });
    // A full-height, invisible target so thin bars are easy to hover.
    g.append(svg('rect', { x: pad.left + i * step, y: pad.top, width: step, height: plotH, class: 'hit' }));
    g.append(svg('title', null, document.createTextNode(describe(b, series, unit))));
    if (i % labelEvery === 0 || i === buckets.length - 1) {
      if (i % labelEvery === 0) {
        root.append(svg('text', { x: x + barW / 2, y: height - 8, class: 'tick', 'text-anchor': 'middle' }, document.createTextNode(b.short || b.label)));
      }
    }
    root.append(g);
    return g;
  });
  const cursor = svg('rect', { x: 0, y: pad.top, width: step, height: plotH, class: 'cursor', visibility: 'hidden' });
  root.append(cursor);

  const readout = html('p', { class: 'readout', id: `${prefix}-readout`, 'aria-live': 'polite' });
  readout.textContent = `${fmt(total)} in all. Hover or focus the chart for each ${buckets.length > 40 ? 'bar' : 'bucket'}.`;
  let current = -1;
  const show = (i) => {
    if (i < 0 || i >= buckets.length) return;
    current = i;
    cursor.setAttribute('x', String(pad.left + i * step));
    cursor.setAttribute('visibility', 'visible');
    groups.forEach((g, j) => g.classList.toggle('active', j === i));
    readout.textContent = describe(buckets[i], series, unit);
    readout.dataset.index = String(i);
  };
  root.addEventListener('keydown', (ev) => {
    const moves = { ArrowLeft: -1, ArrowRight: 1, ArrowDown: -1, ArrowUp: 1 };
    if (ev.key in moves) show(Math.min(buckets.length - 1, Math.max(0, (current < 0 ? buckets.length : current) + moves[ev.key])));
    else if (ev.key === 'Home') show(0);
    else if (ev.key === 'End') show(buckets.length - 1);
    else return;
    ev.preventDefault();
  });
  root.addEventListener('focus', () => show(current < 0 ? buckets.length - 1 : current));
  root.addEventListener('pointermove', (ev) => {
    const box = root.getBoundingClientRect();
    const x = ((ev.clientX - box.left) / box.width) * width;
    show(Math.floor((x - pad.left) / step));
  });

  const figure = html('figure', { class: 'chart-figure', 'data-total': total });
  figure.append(legend(prefix, series), root, readout);
  container.replaceChildren(figure);
  return figure;
}

function describe(bucket, series, unit) {
  const parts = series.map((s) => `${s.label} ${fmt(bucket.values[s.key])}`);
  const total = series.reduce((t, s) => t + (bucket.values[s.key] || 0), 0);
  return `${bucket.label}: ${parts.join(', ')} (total ${fmt(total)}${unit ? ` ${unit}` : ''})`;
}

/**
 * Horizontal stacked bars, one row per item, with the numbers written beside each bar (so
 * they are readable without hovering). `rows`: [{ label, values: { key: n } }].
 */
export function horizontalBars(container, { title, rows, series }) {
  const prefix = `c${++chartCount}`;
  const width = Math.max(260, Math.round(container.clientWidth || 720));
  // Narrow: the label and numbers on a line of their own above the bar.
  const narrow = width < 520;
  const rowH = narrow ? 42 : 30;
  const labelW = narrow ? 0 : 110;
  const numberW = narrow ? 0 : Math.min(250, width * 0.45);
  const height = rows.length * rowH + 6;
  const max = niceMax(Math.max(0, ...rows.map((r) => series.reduce((t, s) => t + (r.values[s.key] || 0), 0))));
  const scale = (width - labelW - numberW - 4) / max;
  const root = svg('svg', { viewBox: `0 0 ${width} ${height}`, class: 'chart-svg hbars', role: 'list', 'aria-label': title });
  root.append(patternDefs(prefix, series));
  rows.forEach((r, i) => {
    const y = i * rowH + 4;
    const barY = narrow ? y + 18 : y + 4;
    const barH = narrow ? rowH - 24 : rowH - 10;
    const g = svg('g', { class: 'row', tabindex: 0, role: 'listitem', 'aria-label': describe(r, series, '') });
    const total = series.reduce((t, s) => t + (r.values[s.key] || 0), 0);
    const detail = series.map((s) => `${fmt(r.values[s.key])} ${s.label.toLowerCase()}`).join(', ');
    if (narrow) {
      g.append(svg('text', { x: 0, y: y + 8, class: 'row-label' }, document.createTextNode(`${r.label}: ${fmt(total)}`)));
      if (series.length > 1) {
        g.append(svg('text', { x: width, y: y + 8, class: 'row-detail', 'text-anchor': 'end' }, document.createTextNode(detail)));
      }
    } else {
      g.append(svg('text', { x: labelW - 8, y: y + rowH / 2 + 1, class: 'row-label', 'text-anchor': 'end' }, document.createTextNode(r.label)));
    }
    let x = labelW;
    series.forEach((s, k) => {
      const v = r.values[s.key] || 0;
      if (!v) return;
      const w = Math.max(1, v * scale);
      g.append(svg('rect', { x, y: barY, width: w, height: barH, fill: `url(#${prefix}-p${k})`, class: 'bar' }));
      x += w;
    });
    if (!narrow) {
      const text = series.length > 1 ? `${fmt(total)} (${detail})` : fmt(total);
      g.append(svg('text', { x: x + 6, y: y + rowH / 2 + 1, class: 'row-value' }, document.createTextNode(text)));
    }
    g.append(svg('title', null, document.createTextNode(describe(r, series, ''))));
    root.append(g);
  });
  const figure = html('figure', { class: 'chart-figure' });
  if (series.length > 1) figure.append(legend(prefix, series));
  figure.append(root);
  container.replaceChildren(figure);
  return figure;
}
