// PingWatcher page — the summary: every target's final hop side by side (Avg, Min, Cur, PL%,
// a sparkline of recent latency and loss, the alerts firing, the path diagnosis's verdict),
// sortable by any column, live.

import { $, clear, el, fmtMs, fmtPct, svg } from './util.js';
import { SEVERITY, latencySeverity, lossSeverity } from './settings.js';
import { VERDICT } from './diagnosis.js';

const COLS = [
    { key: 'name', title: 'Target', type: 'text' },
    { key: 'host', title: 'Host', type: 'text' },
    { key: 'avg_ms', title: 'Avg', type: 'num' },
    { key: 'min_ms', title: 'Min', type: 'num' },
    { key: 'cur_ms', title: 'Cur', type: 'num' },
    { key: 'loss_pct', title: 'PL%', type: 'num' },
    { key: 'recent', title: 'Last 30 min', type: 'num' },
];

export class Summary {
    constructor(root, { open }) {
        this.root = root;
        this.open = open;
        this.table = $('#summary-table', root);
        this.thead = $('thead', this.table);
        this.tbody = $('tbody', this.table);
        this.caption = $('caption', this.table);
        this.rows = new Map(); // id -> row data
        this.firing = new Map(); // target id -> names of the alert rules firing for it
        this.sort = { key: 'name', dir: 1 };
        this.renderHead();
    }

    renderHead() {
        const tr = el('tr');
        for (const c of COLS) {
            const on = this.sort.key === c.key;
            const btn = el('button', { type: 'button', className: 'sort', dataset: { key: c.key } },
                c.title,
                el('span', { className: 'sort-icon', 'aria-hidden': 'true' }, on ? (this.sort.dir > 0 ? ' ▲' : ' ▼') : ' ↕'));
            btn.addEventListener('click', () => {
                this.sort = { key: c.key, dir: on ? -this.sort.dir : 1 };
                this.renderHead();
                this.renderBody();
            });
            tr.append(el('th', {
                scope: 'col',
                className: c.type === 'num' ? 'num' : c.key === 'host' ? 'host' : null,
                'aria-sort': on ? (this.sort.dir > 0 ? 'ascending' : 'descending') : 'none',
            }, btn));
        }
        clear(this.thead).append(tr);
    }

    /* The /api/summary answer. */
    load(data) {
        this.focus = data.focus;
        this.time = data.time_ms;
        this.rows = new Map((data.targets || []).map((t) => [t.id, t]));
        this.renderBody();
    }

    /* One "summary" event of the live stream: stats of one target. */
    liveUpdate(ev) {
        const row = this.rows.get(ev.id);
        if (!row) return false; /* unknown: the caller reloads */
        for (const k of ['paused', 'samples', 'hop', 'ip', 'avg_ms', 'min_ms', 'max_ms', 'cur_ms',
            'cur_lost', 'loss_pct', 'jitter_ms', 'sent', 'lost', 'label', 'host']) {
            if (k in ev) row[k] = ev[k];
        }
        row.name = row.label || row.host;
        row.updated_ms = ev.time_ms;
        const tr = this.tbody.querySelector(`tr[data-id="${ev.id}"]`);
        if (tr) tr.replaceWith(this.row(row));
        else this.renderBody();
        if (this.sort.key !== 'name' && this.sort.key !== 'host') this.resortSoon();
        return true;
    }

    /* The alerts firing: a Map target id -> rule names (setFiring compares, so polling is cheap). */
    setFiring(firing) {
        const key = (m) => JSON.stringify(Array.from(m.entries()).sort((a, b) => a[0] - b[0]));
        if (key(firing) === key(this.firing)) return;
        this.firing = firing;
        this.renderBody();
    }

    remove(id) {
        this.rows.delete(id);
        this.renderBody();
    }

    resortSoon() {
        clearTimeout(this.resortTimer);
        this.resortTimer = setTimeout(() => this.renderBody(), 1000);
    }

    sortValue(r, key) {
        if (key === 'recent') {
            const v = (r.sparkline && r.sparkline.avg_ms || []).filter((x) => x !== null);
            return v.length ? v.reduce((a, b) => a + b, 0) / v.length : null;
        }
        if (key === 'cur_ms' && r.cur_lost) return Infinity;
        return r[key];
    }

    sorted() {
        const { key, dir } = this.sort;
        const col = COLS.find((c) => c.key === key);
        return Array.from(this.rows.values()).sort((a, b) => {
            const va = this.sortValue(a, key);
            const vb = this.sortValue(b, key);
            // Missing values last whatever the direction.
            if (va === null || va === undefined) return vb === null || vb === undefined ? a.id - b.id : 1;
            if (vb === null || vb === undefined) return -1;
            const c = col.type === 'num' ? va - vb : String(va).localeCompare(String(vb));
            return c ? c * dir : a.id - b.id;
        });
    }

    renderBody() {
        const list = this.sorted();
        clear(this.tbody).append(...list.map((r) => this.row(r)));
        if (!list.length) {
            this.tbody.append(el('tr', null, el('td', { colspan: COLS.length, className: 'empty' },
                'No targets yet: add one with the form above.')));
        }
        const win = this.focus === 'all' ? 'all samples' : `the last ${this.focus || 10} samples`;
        clear(this.caption).append(`All targets: final hop, statistics over ${win} (latencies in ms)`);
    }

    row(r) {
        const latSev = latencySeverity(r.avg_ms);
        const lossSev = lossSeverity(r.loss_pct);
        const link = el('a', { href: `#/target/${r.id}` }, r.name || r.host);
        const tr = el('tr', { dataset: { id: String(r.id) }, className: 'clickable' + (r.paused ? ' paused' : '') },
            el('th', { scope: 'row' }, link, r.paused ? el('span', { className: 'badge' }, 'paused') : null,
                firingBadge(this.firing.get(r.id)), verdictBadge(r)),
            el('td', { className: 'host' }, r.host),
            num('avg_ms', r.avg_ms, latSev),
            num('min_ms', r.min_ms, 0),
            r.cur_lost ? el('td', { className: 'num cur_ms lat-bad err', dataset: { value: 'ERR' } }, 'ERR', icon(2)) :
                num('cur_ms', r.cur_ms, latencySeverity(r.cur_ms)),
            el('td', { className: 'num loss_pct loss-' + SEVERITY[lossSev].cls, dataset: { value: r.loss_pct } },
                fmtPct(r.loss_pct), icon(lossSev)),
            el('td', { className: 'spark' }, sparkline(r.sparkline, this.time || Date.now())),
        );
        tr.addEventListener('click', (e) => {
            if (e.target.closest('a, button')) return;
            this.open(r.id);
        });
        return tr;
    }
}

/* Icon and words, never colour alone; the rule names in the label and the tooltip. */
function firingBadge(names) {
    if (!names || !names.length) return null;
    const label = `${names.length === 1 ? 'Alert' : 'Alerts'} firing: ${names.join(', ')}`;
    return el('a', { href: 'alerts.html', className: 'firing-badge', title: label, 'aria-label': label },
        el('span', { 'aria-hidden': 'true' }, '⚠ '), names.length === 1 ? 'alert' : `${names.length} alerts`);
}

/* The diagnosis of the newest samples (/api/summary's verdict): symbol and words, the whole
 * sentence in the tooltip. Refreshed with the summary's periodic reload, not the live events. */
function verdictBadge(r) {
    const v = VERDICT[r.verdict];
    if (!v) return null;
    const short = r.verdict === 'problem' ? (r.verdict_hop ? `problem at hop ${r.verdict_hop}` : 'problem') :
        r.verdict === 'clean' ? 'path clean' : 'judging';
    const label = `Diagnosis: ${v.word}` + (r.verdict_summary ? `. ${r.verdict_summary}` : '');
    return el('span', { className: `summary-verdict diag-${v.cls}`, title: label, dataset: { verdict: r.verdict } },
        el('span', { 'aria-hidden': 'true' }, v.icon + ' '), short,
        el('span', { className: 'sr-only' }, ` (${label})`));
}

function icon(sev) {
    if (!sev) return null;
    const s = SEVERITY[sev];
    return el('span', { className: 'sev sev-' + s.cls, role: 'img', 'aria-label': s.word, title: s.word }, s.icon);
}

function num(key, v, sev) {
    const none = v === null || v === undefined;
    return el('td', {
        className: `num ${key}` + (sev ? ` lat-${SEVERITY[sev].cls}` : ''),
        dataset: { value: none ? '' : v },
    }, none ? '—' : fmtMs(v), icon(sev));
}

/* Latency as a line, loss as red bars from the bottom, placed by time over the window the
 * summary asked for (SPARK_WINDOW_MS up to the answer's time). */
export const SPARK_WINDOW_MS = 30 * 60e3;
export const SPARK_POINTS = 60;

function sparkline(sp, now) {
    const W = 120, H = 28;
    const box = svg('svg', { width: W, height: H, viewBox: `0 0 ${W} ${H}`, className: 'sparkline', role: 'img' });
    const avg = (sp && sp.avg_ms) || [];
    const loss = (sp && sp.loss_pct) || [];
    const n = avg.length;
    const valid = avg.filter((v) => v !== null);
    if (!n) {
        box.setAttribute('aria-label', 'no recent samples');
        return box;
    }
    const max = Math.max(...valid, 0.001);
    const t = sp.time_ms || [];
    const step = SPARK_WINDOW_MS / SPARK_POINTS;
    const from = now - SPARK_WINDOW_MS;
    // Bucket i covers [t[i], t[i] + step): its middle, on the window's time axis.
    const x = (i) => Math.max(1, Math.min(W - 1, ((t[i] + step / 2 - from) / SPARK_WINDOW_MS) * (W - 2) + 1));
    const bw = Math.max(1.5, (step / SPARK_WINDOW_MS) * (W - 2));
    loss.forEach((l, i) => {
        if (l > 0) {
            const h = Math.max(3, (l / 100) * (H - 2));
            box.append(svg('rect', { className: 'spark-loss', x: x(i) - bw / 2, y: H - h, width: bw, height: h }));
        }
    });
    let d = '';
    let pen = false;
    avg.forEach((v, i) => {
        if (v === null) {
            pen = false;
            return;
        }
        const y = H - 2 - (v / max) * (H - 6);
        d += `${pen ? 'L' : 'M'}${x(i).toFixed(1)},${y.toFixed(1)}`;
        pen = true;
    });
    if (d) box.append(svg('path', { className: 'spark-line', d }));
    // A lone point (a new target) as a dot, so it shows.
    avg.forEach((v, i) => {
        const alone = v !== null && (i === 0 || avg[i - 1] === null) && (i === n - 1 || avg[i + 1] === null);
        if (alone) box.append(svg('circle', { className: 'spark-dot', cx: x(i), cy: H - 2 - (v / max) * (H - 6), r: 1.8 }));
    });
    const lossy = loss.filter((l) => l > 0).length;
    box.setAttribute('aria-label', valid.length ?
        `recent latency ${fmtMs(Math.min(...valid))} to ${fmtMs(max)} ms; ${lossy ? lossy + ' periods with loss' : 'no loss'}` :
        'no replies recently');
    return box;
}
