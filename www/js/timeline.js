// PingWatcher page — the timeline: latency over time, one uPlot strip per hop shown (the
// final hop by default), lost samples as red marks from top to bottom, a band for the spread
// of latency where buckets aggregate several samples, route changes and comments as
// annotations. Drag pans, the wheel and the buttons zoom; each change of range refetches at the
// resolution the new range needs. A double-click focuses the trace graph on that moment.

/* global uPlot */
import { $, clear, debounce, el, fmtMs, fmtPct, fmtTime, getJSON, isoUtc, throttle } from './util.js';
import { cssVar, settings } from './settings.js';

export const PRESETS = [
    ['10m', 'Last 10 minutes', '10 min', 10 * 60e3],
    ['1h', 'Last hour', '1 h', 3600e3],
    ['6h', 'Last 6 hours', '6 h', 6 * 3600e3],
    ['24h', 'Last 24 hours', '24 h', 24 * 3600e3],
    ['7d', 'Last 7 days', '7 d', 7 * 86400e3],
];
const MIN_SPAN = 5e3;
const MAX_SPAN = 400 * 86400e3;
const MARGIN = 0.25; // fetched beyond each edge, so a pan shows data at once

export class Timeline {
    /* cb: { focusMoment(ms), pickMoment(ms), showChange(change), showComment(comment),
     *       rangeChanged(range) } */
    constructor(root, cb) {
        this.root = root;
        this.cb = cb;
        this.stripsBox = $('#tl-strips', root);
        this.rangeText = $('#tl-range', root);
        this.hopsBox = $('#tl-hops-list', root);
        this.target = null;
        this.strips = new Map(); // key ('last' or hop number) -> strip
        this.shown = ['last'];
        this.span = 3600e3;
        this.start = Date.now() - this.span;
        this.end = Date.now();
        this.follow = true;
        this.changes = [];
        this.comments = [];
        this.focusAt = null;
        this.pickAt = null;
        this.finalHop = null;
        this.hopInfo = new Map();
        this.problem = null; // { hop, label } where the diagnosis finds a problem starting
        this.gen = 0;
        this.stats = { lastFetchMs: 0, lastRedrawMs: 0, lastFullMs: 0 };
        this.refetchSoon = debounce(() => this.refetch(), 200);
        this.liveRefetch = throttle(() => this.refetch(), 2000);
        this.syncKey = uPlot.sync('pw-timeline');
        new ResizeObserver(debounce(() => this.resize(), 60)).observe(this.stripsBox);
        this.tip = document.getElementById('tooltip');
    }

    /* A new target: clears everything. opts: { start, end } of a fixed range, or { span }. */
    setTarget(target, opts = {}) {
        this.target = target;
        this.changes = [];
        this.comments = [];
        this.focusAt = null;
        this.pickAt = null;
        this.finalHop = null;
        this.hopInfo = new Map();
        this.problem = null;
        this.hopSig = null;
        this.resolutionS = null;
        this.slowLive = null;
        this.shown = ['last'];
        for (const s of this.strips.values()) s.u.destroy();
        this.strips.clear();
        clear(this.stripsBox);
        if (opts.start && opts.end) {
            this.setRangeValues(opts.start, opts.end, false);
        } else {
            this.span = opts.span || this.span;
            this.setRangeValues(Date.now() - this.span, Date.now(), true);
        }
        this.renderHopChoices();
        return this.refetch(); // builds the strips while its requests are out
    }

    setRangeValues(start, end, follow) {
        let span = Math.min(MAX_SPAN, Math.max(MIN_SPAN, end - start));
        const now = Date.now();
        if (end > now) end = now;
        if (follow) end = now;
        start = end - span;
        this.start = start;
        this.end = end;
        this.span = span;
        this.follow = follow;
        this.updateRangeText();
        this.updatePresetButtons();
    }

    preset(spanMs) {
        this.setRangeValues(Date.now() - spanMs, Date.now(), true);
        this.redrawScales();
        return this.refetch();
    }

    /* factor > 1 zooms out. centre: a time in ms (default: the middle). */
    zoom(factor, centre) {
        const c = centre ?? (this.start + this.end) / 2;
        const span = Math.min(MAX_SPAN, Math.max(MIN_SPAN, this.span * factor));
        const frac = (c - this.start) / this.span;
        let start = c - frac * span;
        let end = start + span;
        const follow = this.follow && factor >= 1 ? true : this.follow && end >= Date.now() - 1000;
        this.setRangeValues(start, end, follow);
        this.redrawScales();
        this.refetchSoon();
    }

    /* fraction of the span: negative goes back in time. */
    pan(fraction) {
        const d = this.span * fraction;
        const end = this.end + d;
        this.setRangeValues(this.start + d, end, end >= Date.now() - 1000);
        this.redrawScales();
        this.refetchSoon();
    }

    goLive() {
        this.setRangeValues(Date.now() - this.span, Date.now(), true);
        this.redrawScales();
        return this.refetch();
    }

    /* Centres the view on a moment (keeping the span) without following. */
    showMoment(ms, span) {
        const s = span || this.span;
        this.setRangeValues(ms - s / 2, ms + s / 2, false);
        this.redrawScales();
        return this.refetch();
    }

    range() {
        return { start: this.start, end: this.end, follow: this.follow, span: this.span };
    }

    updateRangeText() {
        if (!this.rangeText) return;
        const res = this.resolutionS;
        clear(this.rangeText).append(
            this.follow ? 'Live: ' : 'From ',
            el('time', { datetime: isoUtc(this.start) }, fmtTime(this.start)),
            ' to ',
            this.follow ? 'now' : el('time', { datetime: isoUtc(this.end) }, fmtTime(this.end)),
            res ? ` · one point per ${res >= 60 ? +(res / 60).toFixed(1) + ' min' : res + ' s'}` : '',
        );
        this.cb.rangeChanged && this.cb.rangeChanged(this.range());
    }

    updatePresetButtons() {
        for (const b of this.root.querySelectorAll('[data-preset]')) {
            const p = PRESETS.find((x) => x[0] === b.dataset.preset);
            const on = this.follow && p && Math.abs(p[3] - this.span) < 1000;
            b.setAttribute('aria-pressed', on ? 'true' : 'false');
        }
        const live = this.root.querySelector('#tl-live');
        if (live) live.setAttribute('aria-pressed', this.follow ? 'true' : 'false');
    }

    /* Hops known from the trace graph: names for strip titles and the choice list. */
    setHops(hops) {
        const fin = hops.length ? hops[hops.length - 1].hop : null;
        const sig = hops.map((h) => `${h.hop}:${h.ip}:${h.dns}`).join('|');
        if (sig === this.hopSig) return;
        this.hopSig = sig;
        this.finalHop = fin;
        this.hopInfo = new Map(hops.map((h) => [h.hop, h]));
        this.renderHopChoices();
        for (const s of this.strips.values()) {
            this.stripTitle(s);
            this.markStrip(s);
        }
    }

    renderHopChoices() {
        if (!this.hopsBox) return;
        clear(this.hopsBox);
        const items = [['last', 'Final hop' + (this.finalHop ? ` (${this.finalHop})` : '')]];
        for (const [n, h] of this.hopInfo) {
            if (n === this.finalHop) continue;
            items.push([n, `${n}${h.ip ? ' ' + h.ip : ''}`]);
        }
        const marked = this.problemKey();
        for (const [key, label] of items) {
            const id = 'tl-hop-' + key;
            const cb = el('input', { type: 'checkbox', id, value: String(key) });
            cb.checked = this.shown.includes(key);
            cb.addEventListener('change', () => this.toggleHop(key, cb.checked));
            this.hopsBox.append(el('li', null, cb, el('label', { for: id }, label,
                key === marked ? el('span', { className: 'diag-badge' }, ' ⚠ ', this.problem.label.toLowerCase()) : null)));
        }
    }

    /* The strip key of the problem hop ('last' when it is the final hop), or null. */
    problemKey() {
        if (!this.problem) return null;
        return this.problem.hop === this.finalHop ? 'last' : this.problem.hop;
    }

    /* Marks the strip (and its choice) of the hop where the diagnosis finds a problem
     * starting: { hop, label } or null. */
    setProblem(p) {
        const same = (a, b) => (a && b ? a.hop === b.hop && a.label === b.label : a === b);
        if (same(p, this.problem)) return;
        this.problem = p;
        this.renderHopChoices();
        for (const s of this.strips.values()) this.markStrip(s);
    }

    markStrip(s) {
        const on = s.key === this.problemKey();
        s.box.classList.toggle('diag-problem', on);
        const old = s.box.querySelector('.strip-head .diag-badge');
        if (old) old.remove();
        if (on) s.title.after(el('span', { className: 'diag-badge' }, '⚠ ', this.problem.label));
    }

    toggleHop(key, on) {
        if (on && !this.shown.includes(key)) this.shown.push(key);
        if (!on) this.shown = this.shown.filter((k) => k !== key);
        this.shown.sort((a, b) => (a === 'last' ? 1e9 : a) - (b === 'last' ? 1e9 : b));
        this.ensureStrips();
        const box = this.hopsBox && this.hopsBox.querySelector(`#tl-hop-${key}`);
        if (box) box.checked = on;
        return this.refetch();
    }

    ensureStrips() {
        for (const [key, s] of this.strips) {
            if (!this.shown.includes(key)) {
                s.u.destroy();
                s.box.remove();
                this.strips.delete(key);
            }
        }
        for (const key of this.shown) {
            if (!this.strips.has(key)) this.strips.set(key, this.makeStrip(key));
        }
        // Document order follows hop order.
        for (const key of this.shown) this.stripsBox.append(this.strips.get(key).box);
        if (!this.shown.length) {
            if (!$('.tl-none', this.stripsBox)) {
                this.stripsBox.append(el('p', { className: 'tl-none' }, 'No hop selected: tick one below.'));
            }
        } else {
            const none = $('.tl-none', this.stripsBox);
            if (none) none.remove();
        }
    }

    stripTitle(s) {
        const h = s.key === 'last' ? this.hopInfo.get(this.finalHop) : this.hopInfo.get(s.key);
        const what = s.key === 'last' ? 'Final hop' : `Hop ${s.key}`;
        const who = h ? [h.ip, h.dns && h.dns !== '----------' ? `(${h.dns})` : ''].filter(Boolean).join(' ') : '';
        s.title.textContent = who ? `${what} — ${who}` : what;
        s.plotBox.setAttribute('aria-label', `Latency and loss over time, ${what.toLowerCase()}${who ? ' ' + who : ''}. ` +
            'Arrow keys pan, plus and minus zoom, Enter focuses the trace graph on the middle moment.');
    }

    makeStrip(key) {
        const title = el('h4', { className: 'strip-title' });
        const readout = el('span', { className: 'readout' });
        const hide = el('button', { type: 'button', className: 'icon-btn', 'aria-label': 'Hide this hop', title: 'Hide' }, '×');
        const plotBox = el('div', { className: 'plot', tabindex: '0', role: 'group', 'aria-roledescription': 'chart' });
        const box = el('div', { className: 'strip', dataset: { hop: String(key) } },
            el('div', { className: 'strip-head' }, title, readout, hide), plotBox);
        hide.addEventListener('click', () => this.toggleHop(key, false));
        const s = { key, box, title, readout, plotBox, u: null, meta: null, data: null, markers: [] };
        this.stripTitle(s);
        this.markStrip(s);
        s.u = this.makePlot(s);
        this.bindInteractions(s);
        return s;
    }

    colours() {
        return {
            line: cssVar('--tl-line') || '#2a6fdb',
            band: cssVar('--tl-band') || 'rgba(42,111,219,.2)',
            loss: cssVar('--loss') || '#d32f2f',
            route: cssVar('--route') || '#e08a00',
            comment: cssVar('--comment') || '#7b3fbf',
            axis: cssVar('--muted') || '#666',
            grid: cssVar('--grid') || 'rgba(0,0,0,.08)',
            focus: cssVar('--focus-line') || '#111',
            warn: cssVar('--warn') || '#b58900',
            bad: cssVar('--bad') || '#d32f2f',
        };
    }

    makePlot(s) {
        const c = this.colours();
        const width = Math.max(200, this.stripsBox.clientWidth || 600);
        const height = width < 600 ? 150 : 190;
        const opts = {
            width,
            height,
            legend: { show: false },
            cursor: {
                drag: { x: false, y: false, setScale: false },
                sync: { key: this.syncKey.key },
                bind: { dblclick: () => null },
                points: { size: 6 },
            },
            scales: {
                x: { time: true, auto: false, range: () => [this.start / 1000, this.end / 1000] },
                y: {
                    auto: true,
                    range: (u, min, max) => [0, niceMax(max)],
                },
            },
            axes: [
                {
                    stroke: c.axis,
                    grid: { stroke: c.grid, width: 1 },
                    ticks: { stroke: c.grid },
                    values: timeTicks,
                },
                {
                    stroke: c.axis,
                    grid: { stroke: c.grid, width: 1 },
                    ticks: { stroke: c.grid },
                    size: 58,
                    values: (u, vals) => vals.map((v) => v + ' ms'),
                },
            ],
            series: [
                {},
                { label: 'Avg', stroke: c.line, width: 1.5, spanGaps: false, points: { show: false } },
                { label: 'High', stroke: 'transparent', width: 0, points: { show: false } },
                { label: 'Low', stroke: 'transparent', width: 0, points: { show: false } },
            ],
            bands: [{ series: [2, 3], fill: c.band }],
            hooks: {
                drawAxes: [(u) => this.drawLoss(u, s, c)],
                draw: [(u) => this.drawAnnotations(u, s, c)],
                setCursor: [(u) => this.readout(u, s)],
            },
        };
        return new uPlot(opts, [[], [], [], []], s.plotBox);
    }

    bindInteractions(s) {
        const u = s.u;
        const over = u.over;
        let drag = null;
        over.addEventListener('pointerdown', (e) => {
            if (e.button !== 0 || e.target.closest('.ann')) return;
            drag = { x: e.clientX, start: this.start, end: this.end, moved: false, id: e.pointerId };
            over.setPointerCapture(e.pointerId);
        });
        over.addEventListener('pointermove', (e) => {
            if (!drag || e.pointerId !== drag.id) return;
            const dx = e.clientX - drag.x;
            if (Math.abs(dx) > 3) drag.moved = true;
            if (!drag.moved) return;
            const dt = (-dx / u.bbox.width) * (drag.end - drag.start) * devicePixelRatio;
            const end = Math.min(Date.now(), drag.end + dt);
            this.setRangeValues(end - (drag.end - drag.start), end, false);
            this.redrawScales();
            over.classList.add('panning');
        });
        const up = (e) => {
            if (!drag || e.pointerId !== drag.id) return;
            over.classList.remove('panning');
            const d = drag;
            drag = null;
            if (d.moved) {
                if (this.end >= Date.now() - 1000) this.follow = true;
                this.updatePresetButtons();
                this.refetch();
            } else if (e.type === 'pointerup') {
                const t = u.posToVal(e.clientX - over.getBoundingClientRect().left, 'x') * 1000;
                this.setPick(t);
                this.cb.pickMoment && this.cb.pickMoment(t);
            }
        };
        over.addEventListener('pointerup', up);
        over.addEventListener('pointercancel', up);
        over.addEventListener('dblclick', (e) => {
            if (e.target.closest('.ann')) return;
            const t = u.posToVal(e.clientX - over.getBoundingClientRect().left, 'x') * 1000;
            this.cb.focusMoment && this.cb.focusMoment(Math.min(t, Date.now()));
        });
        over.addEventListener('wheel', (e) => {
            e.preventDefault();
            const t = u.posToVal(e.clientX - over.getBoundingClientRect().left, 'x') * 1000;
            this.zoom(e.deltaY > 0 ? 1.25 : 0.8, t);
        }, { passive: false });
        s.plotBox.addEventListener('keydown', (e) => {
            const k = e.key;
            if (k === 'ArrowLeft') this.pan(-0.25);
            else if (k === 'ArrowRight') this.pan(0.25);
            else if (k === '+' || k === '=') this.zoom(0.5);
            else if (k === '-' || k === '_') this.zoom(2);
            else if (k === 'Enter') this.cb.focusMoment && this.cb.focusMoment(Math.min((this.start + this.end) / 2, Date.now()));
            else return;
            e.preventDefault();
        });
    }

    setPick(ms) {
        this.pickAt = ms;
        this.redrawAll();
    }

    setFocusAt(ms) {
        this.focusAt = ms;
        this.redrawAll();
    }

    setAnnotations(changes, comments) {
        this.changes = changes || this.changes;
        this.comments = comments || this.comments;
        this.redrawAll();
    }

    redrawAll() {
        for (const s of this.strips.values()) s.u.redraw(false, false);
    }

    /* The view is left: pending and throttled refetches find no target and do nothing. */
    detach() {
        this.target = null;
        this.gen++;
    }

    /* Applies the current range to every strip without fetching (pan/zoom feedback). */
    redrawScales() {
        const t0 = performance.now();
        for (const s of this.strips.values()) {
            s.u.batch(() => {
                s.u.setScale('x', { min: this.start / 1000, max: this.end / 1000 });
            });
        }
        this.stats.lastRedrawMs = performance.now() - t0;
    }

    resize() {
        const w = this.stripsBox.clientWidth;
        if (!w) return;
        for (const s of this.strips.values()) {
            s.u.setSize({ width: w, height: w < 600 ? 150 : 190 });
        }
    }

    /* Fetches every strip for the current range (plus margins) and draws. */
    async refetch() {
        if (!this.target) return;
        const gen = ++this.gen;
        const t0 = performance.now();
        if (this.follow) this.setRangeValues(Date.now() - this.span, Date.now(), true);
        const span = this.end - this.start;
        const fStart = Math.max(0, Math.floor(this.start - span * MARGIN));
        const fEnd = Math.ceil(this.follow ? Date.now() : Math.min(Date.now(), this.end + span * MARGIN));
        const width = Math.max(200, this.stripsBox.clientWidth || 600);
        const points = Math.min(2000, Math.round(width * (1 + 2 * MARGIN)));
        const id = this.target.id;
        const jobs = this.shown.map(async (key) => {
            const d = await getJSON(`/api/targets/${id}/timeline`, {
                hop: key,
                start: (fStart / 1000).toFixed(3),
                end: (fEnd / 1000).toFixed(3),
                points,
            });
            return [key, d];
        });
        // The plots are built while the requests are out (a first uPlot costs some ms).
        this.ensureStrips();
        let results;
        try {
            results = await Promise.all(jobs);
        } catch (e) {
            if (gen === this.gen) this.showError(e);
            return;
        }
        if (gen !== this.gen) return; /* a newer request superseded this one */
        const t1 = performance.now();
        for (const [key, d] of results) {
            const s = this.strips.get(key);
            if (s) this.setStripData(s, d);
        }
        this.stats.lastFetchMs = t1 - t0;
        this.stats.lastFullMs = performance.now() - t0;
        this.updateRangeText();
        this.root.dataset.loaded = String(gen);
        this.root.dispatchEvent(new CustomEvent('pw:timeline-drawn', { bubbles: true }));
    }

    showError(e) {
        for (const s of this.strips.values()) s.readout.textContent = 'Could not load: ' + e.message;
    }

    setStripData(s, d) {
        const buckets = bucketRows(d);
        const res = (d.resolution_s || 0) * 1000;
        this.resolutionS = d.resolution_s || this.resolutionS;
        const spread = settings().spread;
        const xs = [], avg = [], hi = [], lo = [];
        const meta = [];
        let prevEnd = null;
        for (const b of buckets) {
            const st = b.start_ms;
            if (prevEnd !== null && res && st - prevEnd > res * 0.5) {
                // A gap without samples: break the line there.
                xs.push(prevEnd / 1000);
                avg.push(null);
                hi.push(null);
                lo.push(null);
                meta.push(null);
            }
            xs.push((st + (b.end_ms - st) / 2) / 1000);
            avg.push(b.avg_ms);
            if (spread === 'none' || b.count < 2) {
                hi.push(null);
                lo.push(null);
            } else if (spread === 'minmax') {
                hi.push(b.max_ms);
                lo.push(b.min_ms);
            } else {
                hi.push(b.p90_ms);
                lo.push(b.p10_ms);
            }
            meta.push(b);
            prevEnd = b.end_ms;
        }
        s.meta = meta;
        s.data = [xs, avg, hi, lo];
        s.u.batch(() => {
            s.u.setData(s.data, false);
            s.u.setScale('x', { min: this.start / 1000, max: this.end / 1000 });
        });
        s.box.dataset.buckets = String(buckets.length);
        s.box.dataset.resolution = String(d.resolution_s ?? '');
        if (!buckets.length) s.readout.textContent = 'No samples in this range';
        else this.readout(s.u, s);
    }

    /* Lost samples: a red mark from top to bottom over each bucket with loss, stronger the
     * larger its share. Drawn under the line. */
    drawLoss(u, s, c) {
        if (!s.meta) return;
        const ctx = u.ctx;
        const { left, top, width, height } = u.bbox;
        ctx.save();
        // Latency above the thresholds: faint yellow and red zones with a dashed edge, where
        // the y range reaches them.
        const { latWarn, latBad } = settings();
        const yMax = u.scales.y.max;
        for (const [from, to, colour] of [[latWarn, latBad, c.warn], [latBad, Infinity, c.bad]]) {
            if (!(from < yMax)) continue;
            const y0 = u.valToPos(Math.min(to, yMax), 'y', true);
            const y1 = u.valToPos(from, 'y', true);
            ctx.globalAlpha = 0.08;
            ctx.fillStyle = colour;
            ctx.fillRect(left, y0, width, y1 - y0);
            ctx.globalAlpha = 0.6;
            ctx.strokeStyle = colour;
            ctx.setLineDash([4 * devicePixelRatio, 4 * devicePixelRatio]);
            ctx.beginPath();
            ctx.moveTo(left, y1);
            ctx.lineTo(left + width, y1);
            ctx.stroke();
            ctx.setLineDash([]);
        }
        ctx.fillStyle = c.loss;
        for (const b of s.meta) {
            if (!b || !b.lost) continue;
            const x0 = u.valToPos(b.start_ms / 1000, 'x', true);
            const x1 = u.valToPos(b.end_ms / 1000, 'x', true);
            if (x1 < u.bbox.left || x0 > u.bbox.left + u.bbox.width) continue;
            const frac = b.count ? b.lost / b.count : 1;
            ctx.globalAlpha = 0.35 + 0.65 * frac;
            ctx.fillRect(x0, top, Math.max(2 * devicePixelRatio, x1 - x0), height);
        }
        ctx.restore();
    }

    drawAnnotations(u, s, c) {
        const ctx = u.ctx;
        const { left, top, width, height } = u.bbox;
        const dpr = devicePixelRatio;
        const vline = (t, colour, dash, lw = 1.5) => {
            const x = u.valToPos(t / 1000, 'x', true);
            if (x < left - 1 || x > left + width + 1) return;
            ctx.save();
            ctx.strokeStyle = colour;
            ctx.lineWidth = lw * dpr;
            ctx.setLineDash(dash.map((d) => d * dpr));
            ctx.beginPath();
            ctx.moveTo(x, top);
            ctx.lineTo(x, top + height);
            ctx.stroke();
            ctx.restore();
        };
        for (const ch of this.changes) vline(ch.time_ms, c.route, [5, 3]);
        for (const cm of this.comments) vline(cm.time_ms, c.comment, [2, 2]);
        if (this.focusAt) vline(this.focusAt, c.focus, [], 2);
        if (this.pickAt) vline(this.pickAt, c.comment, [1, 3], 1);
        this.placeMarkers(u, s);
    }

    /* Focusable markers over the plot for each annotation: details on hover or focus. */
    placeMarkers(u, s) {
        const want = [
            ...this.changes.map((ch) => ({ kind: 'route', t: ch.time_ms, item: ch })),
            ...this.comments.map((cm) => ({ kind: 'comment', t: cm.time_ms, item: cm })),
        ];
        const sig = want.map((w) => w.kind + w.t + (w.item.id || '')).join(',');
        if (sig !== s.markerSig) {
            for (const m of s.markers) m.remove();
            s.markers = want.map((w) => this.makeMarker(w));
            for (const m of s.markers) u.over.append(m);
            s.markerSig = sig;
        }
        const wpx = u.over.clientWidth;
        for (const m of s.markers) {
            const x = u.valToPos(Number(m.dataset.t) / 1000, 'x');
            const inside = x >= -1 && x <= wpx + 1;
            m.hidden = !inside;
            m.style.left = `${x}px`;
        }
    }

    makeMarker(w) {
        const text = w.kind === 'route' ? routeText(w.item) : commentText(w.item);
        const b = el('button', {
            type: 'button',
            className: 'ann ann-' + w.kind,
            dataset: { t: String(w.t), kind: w.kind },
            'aria-label': text,
        }, w.kind === 'route' ? 'R' : 'C');
        const show = () => this.showTip(b, text);
        const hide = () => this.hideTip();
        b.addEventListener('mouseenter', show);
        b.addEventListener('focus', show);
        b.addEventListener('mouseleave', hide);
        b.addEventListener('blur', hide);
        b.addEventListener('click', () => {
            if (w.kind === 'route') this.cb.showChange && this.cb.showChange(w.item);
            else this.cb.showComment && this.cb.showComment(w.item);
        });
        return b;
    }

    showTip(anchor, text) {
        const tip = this.tip;
        if (!tip) return;
        tip.textContent = text;
        tip.hidden = false;
        const r = anchor.getBoundingClientRect();
        const tw = tip.offsetWidth;
        const x = Math.max(4, Math.min(window.innerWidth - tw - 4, r.left + r.width / 2 - tw / 2));
        tip.style.left = `${x + window.scrollX}px`;
        tip.style.top = `${r.bottom + 6 + window.scrollY}px`;
    }

    hideTip() {
        if (this.tip) this.tip.hidden = true;
    }

    readout(u, s) {
        const idx = u.cursor.idx;
        const b = idx !== null && idx !== undefined && s.meta ? s.meta[idx] : null;
        if (!b) {
            const n = s.meta ? s.meta.filter(Boolean).length : 0;
            s.readout.textContent = n ? '' : s.readout.textContent;
            return;
        }
        const parts = [fmtTime(b.start_ms)];
        if (b.avg_ms !== null) {
            parts.push(`avg ${fmtMs(b.avg_ms)} ms`);
            if (b.count > 1) parts.push(`p10–p90 ${fmtMs(b.p10_ms)}–${fmtMs(b.p90_ms)}`, `min–max ${fmtMs(b.min_ms)}–${fmtMs(b.max_ms)}`);
        } else {
            parts.push('no reply');
        }
        parts.push(`loss ${fmtPct(b.loss_pct)} %`, `${b.count} sample${b.count === 1 ? '' : 's'}`);
        s.readout.textContent = parts.join(' · ');
    }

    /* A new sample arrived: when following now, refetch (throttled to the resolution). */
    liveSample() {
        if (!this.follow || !this.target) return;
        const resMs = (this.resolutionS || 1) * 1000;
        if (resMs > 2000) {
            // A new point appears once per resolution step: refetch no more often than that.
            if (!this.slowLive || this.slowLiveMs !== resMs) {
                this.slowLive = throttle(() => this.refetch(), resMs);
                this.slowLiveMs = resMs;
            }
            this.slowLive();
        } else {
            this.liveRefetch();
        }
    }

    /* Theme change: colours are baked into the plots, so rebuild them. */
    rebuild() {
        for (const s of this.strips.values()) {
            s.u.destroy();
            clear(s.plotBox);
            s.markers = [];
            s.markerSig = null;
            s.u = this.makePlot(s);
            this.bindInteractions(s);
            if (s.data) {
                s.u.setData(s.data, false);
                s.u.setScale('x', { min: this.start / 1000, max: this.end / 1000 });
            }
        }
    }
}

/* 24-hour local time labels; the date under the first label and where the day changes. */
function timeTicks(u, splits, axisIdx, space, incr) {
    let lastDay = null;
    const p2 = (n) => String(n).padStart(2, '0');
    return splits.map((s) => {
        const d = new Date(s * 1000);
        const day = `${p2(d.getMonth() + 1)}-${p2(d.getDate())}`;
        const hm = `${p2(d.getHours())}:${p2(d.getMinutes())}`;
        let label;
        if (incr >= 86400) label = day;
        else if (incr < 60) label = `${hm}:${p2(d.getSeconds())}`;
        else label = hm;
        if (incr < 86400 && day !== lastDay) label += '\n' + day;
        lastDay = day;
        return label;
    });
}

function niceMax(max) {
    if (!(max > 0)) return 1;
    const p = Math.pow(10, Math.floor(Math.log10(max * 1.1)));
    for (const m of [1, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10]) {
        if (m * p >= max * 1.1) return m * p;
    }
    return 10 * p;
}

export function routeText(ch) {
    return `Route change at ${fmtTime(ch.time_ms)}: from hop ${ch.first_hop} on, ` +
        `${ch.was} was replaced by ${ch.now}` +
        (ch.old_route && ch.new_route ? ` (path of ${ch.old_route.length} hops → ${ch.new_route.length} hops)` : '');
}

export function commentText(cm) {
    return `Comment at ${fmtTime(cm.time_ms)}${cm.author ? ' by ' + cm.author : ''}: ${cm.text}`;
}

// The API sends a timeline's buckets as one array per field ({start_ms: [...], avg_ms: [...],
// ...}, much smaller than an object per bucket); the drawing reads an object per bucket, with
// its end and its loss share (which the API leaves out, as they follow from the rest).
export function bucketRows(d) {
    const c = d.buckets;
    if (Array.isArray(c)) return c;
    if (!c || !Array.isArray(c.start_ms)) return [];
    const res = (d.resolution_s || 0) * 1000;
    const keys = Object.keys(c);
    return c.start_ms.map((start, i) => {
        const b = {};
        for (const k of keys) b[k] = c[k][i];
        b.end_ms = start + res;
        b.loss_pct = b.count ? (100 * b.lost) / b.count : 0;
        return b;
    });
}
