// PingWatcher page — the trace graph: one row per hop with its focus statistics and a graph
// column drawn on one latency scale shared by all rows (range min–max, average marker, a line
// joining the averages), like PingPlotter's main panel.

import { $, clear, el, fmtMs, fmtPct, niceCeil, niceStep, svg, timeEl } from './util.js';
import { SEVERITY, latencySeverity, lossSeverity } from './settings.js';

const DNS_NONE = '----------';

export class TraceGraph {
    constructor(root) {
        this.root = root;
        this.table = $('#trace-table', root);
        this.tbody = $('tbody', this.table);
        this.caption = $('caption', this.table);
        this.axis = $('#tg-axis', root);
        this.overlay = $('#tg-overlay', root);
        this.wrap = $('#tg-wrap', root);
        this.notes = $('#tg-notes', root);
        this.data = null;
        this.problems = new Map(); // hop -> words marking it (the diagnosis, diagnosis.js)
        this.scaleMax = 1;
        new ResizeObserver(() => this.drawOverlay()).observe(this.wrap);
    }

    /* data: the /hops answer; info: { name, at } */
    render(data) {
        this.data = data;
        const hops = data.hops || [];
        let max = 0;
        for (const h of hops) {
            for (const v of [h.max_ms, h.avg_ms, h.cur_ms]) {
                if (v !== null && v !== undefined && v > max) max = v;
            }
        }
        this.scaleMax = niceCeil(max * 1.05 || 1);

        const name = data.label || data.target;
        const win = data.focus === 'all' ? 'all samples' : `the last ${data.focus} samples`;
        clear(this.caption).append(
            `Hops to ${name}${data.ip && data.ip !== name ? ` (${data.ip})` : ''}: statistics over ${win}`,
            data.at ? el('span', { className: 'cap-at' }, ' ending ', timeEl(data.at_ms)) :
                ' ending now',
            !data.samples ? ' (no samples)' : data.focus !== 'all' && data.samples < data.focus ?
                ` (only ${data.samples} sample${data.samples === 1 ? '' : 's'})` : '');

        const rows = hops.map((h) => this.row(h));
        clear(this.tbody).append(...rows);
        if (!hops.length) {
            this.tbody.append(el('tr', null, el('td', { colspan: 9, className: 'empty' },
                data.at ? 'No samples at that moment.' : 'Waiting for the first sample…')));
        }
        this.drawAxis();
        this.drawOverlay();
        this.renderNotes(hops);
    }

    row(h) {
        const latSev = latencySeverity(h.avg_ms);
        const curSev = h.cur_lost ? 2 : latencySeverity(h.cur_ms);
        const lossSev = lossSeverity(h.loss_pct);
        const dns = h.dns === null || h.dns === undefined || h.dns === '' ? DNS_NONE : h.dns;
        const tr = el('tr', { dataset: { hop: h.hop } });
        const ipCell = el('td', { className: 'ip' }, h.ip === null ? '*' : h.ip);
        // Narrow screens hide the DNS column and show the name under the address instead.
        const sub = el('span', { className: 'dns-sub', 'aria-hidden': 'true' }, dns === DNS_NONE ? '' : dns);
        if (h.ips && h.ips.length > 1) {
            ipCell.title = 'Responders seen in this window: ' + h.ips.join(', ');
            ipCell.append(el('span', { className: 'multi', 'aria-label': `${h.ips.length} responders` },
                ` +${h.ips.length - 1}`));
        }
        ipCell.append(sub);
        tr.append(
            el('th', { scope: 'row', className: 'num hop' }, String(h.hop)),
            ipCell,
            el('td', { className: 'dns dns-col' + (dns === DNS_NONE ? ' none' : ''), title: dns }, dns),
            msCell('avg', h.avg_ms, latSev),
            msCell('min', h.min_ms, 0),
            curCell(h, curSev),
            lossCell(h, lossSev),
            msCell('jitter jitter-col', h.jitter_ms, 0),
            el('td', { className: 'graph' }, el('span', { className: 'sr-only' }, graphText(h))),
        );
        tr.title = `Hop ${h.hop}: ${h.sent} sent, ${h.lost} lost` +
            (h.max_ms !== null && h.max_ms !== undefined ? `, max ${fmtMs(h.max_ms)} ms` : '');
        this.markProblem(tr);
        return tr;
    }

    /* The hops where the diagnosis finds a problem starting: a Map hop -> words. */
    setProblems(problems) {
        const had = this.problems.size > 0;
        this.problems = problems;
        for (const tr of this.tbody.rows) this.markProblem(tr);
        if (had !== (problems.size > 0) && this.data) this.renderNotes(this.data.hops || []);
    }

    /* A class on the row, and a symbol with words after the hop number. */
    markProblem(tr) {
        const label = tr.dataset.hop ? this.problems.get(Number(tr.dataset.hop)) : null;
        const th = tr.querySelector('th.hop');
        tr.classList.toggle('diag-problem', !!label);
        if (!th) return;
        const old = th.querySelector('.diag-mark');
        if (old && old.title === label) return;
        if (old) old.remove();
        if (label) {
            th.append(el('span', { className: 'diag-mark', title: label },
                el('span', { 'aria-hidden': 'true' }, ' ⚠'), el('span', { className: 'sr-only' }, ` (${label})`)));
        }
    }

    drawAxis() {
        const max = this.scaleMax;
        const step = niceStep(max, 4);
        const ticks = [];
        for (let v = 0; v <= max + 1e-9; v += step) ticks.push(v);
        // Positions through CSSOM: our CSP refuses style attributes.
        clear(this.axis).append(...ticks.map((v) => {
            const t = el('span', { className: 'tick' }, String(+v.toFixed(2)));
            t.style.left = `${(100 * v) / max}%`;
            return t;
        }));
        this.axis.lastChild.classList.add('last');
    }

    /* The overlay: one SVG over the graph column, positioned from the rows' real layout. */
    drawOverlay() {
        const ov = this.overlay;
        clear(ov);
        if (!this.data || !this.data.hops || !this.data.hops.length) {
            ov.setAttribute('width', 0);
            return;
        }
        const head = $('th.graph', this.table);
        const rows = Array.from(this.tbody.rows);
        const wrapBox = this.wrap.getBoundingClientRect();
        const headBox = head.getBoundingClientRect();
        const left = headBox.left - wrapBox.left + this.wrap.scrollLeft;
        const pad = 8;
        const w = Math.max(10, headBox.width - 2 * pad);
        const top = this.tbody.getBoundingClientRect().top - wrapBox.top + this.wrap.scrollTop;
        const height = this.tbody.getBoundingClientRect().height;
        ov.style.left = `${left + pad}px`;
        ov.style.top = `${top}px`;
        ov.setAttribute('width', w);
        ov.setAttribute('height', height);
        ov.setAttribute('viewBox', `0 0 ${w} ${height}`);
        const x = (v) => Math.max(0, Math.min(w, (v / this.scaleMax) * w));
        const max = this.scaleMax;
        const step = niceStep(max, 4);

        const grid = svg('g', { className: 'grid' });
        for (let v = step; v < max - 1e-9; v += step) {
            grid.append(svg('line', { x1: x(v), x2: x(v), y1: 0, y2: height }));
        }
        ov.append(grid);

        const tbTop = this.tbody.getBoundingClientRect().top;
        const pts = [];
        const marks = svg('g', { className: 'marks' });
        this.data.hops.forEach((h, i) => {
            const r = rows[i];
            if (!r) return;
            const rb = r.getBoundingClientRect();
            const cy = rb.top - tbTop + rb.height / 2;
            if (h.min_ms !== null && h.max_ms !== null && h.min_ms !== undefined) {
                marks.append(svg('rect', {
                    className: 'range',
                    x: x(h.min_ms),
                    y: cy - 3,
                    width: Math.max(1.5, x(h.max_ms) - x(h.min_ms)),
                    height: 6,
                    rx: 2,
                }));
            }
            if (h.avg_ms !== null && h.avg_ms !== undefined) {
                const sev = latencySeverity(h.avg_ms);
                pts.push([x(h.avg_ms), cy]);
                marks.append(marker(sev, x(h.avg_ms), cy));
            }
            if (h.cur_lost) {
                // A lost newest probe: a cross at the right edge of the scale.
                marks.append(svg('path', {
                    className: 'lost-mark',
                    d: `M${w - 9},${cy - 4}l8,8M${w - 9},${cy + 4}l8,-8`,
                }));
            }
        });
        if (pts.length > 1) {
            ov.append(svg('polyline', {
                className: 'avg-line',
                points: pts.map((p) => p.map((n) => n.toFixed(1)).join(',')).join(' '),
            }));
        }
        ov.append(marks);
    }

    /* Reading notes (spec gotchas 1 and 2), shown under the table when they apply. */
    renderNotes(hops) {
        clear(this.notes);
        const notes = [];
        const withData = hops.filter((h) => h.sent > 0);
        if (withData.length >= 2) {
            const last = withData[withData.length - 1];
            const lastLoss = last.loss_pct;
            // Loss that does not carry on to the destination: ICMP deprioritisation.
            const spurious = withData.slice(0, -1).filter((h) =>
                h.loss_pct >= 1 && h.loss_pct > lastLoss + Math.max(2, lastLoss * 0.5));
            if (spurious.length) {
                notes.push(['info', `Loss at hop${spurious.length > 1 ? 's' : ''} ` +
                    spurious.map((h) => h.hop).join(', ') +
                    ' does not persist to later hops: routers often give low priority to ' +
                    'answering probes addressed to them (ICMP deprioritisation). That is usually ' +
                    'not a problem; loss that starts at a hop and continues to the destination is.']);
            }
            // Loss that starts somewhere and continues to the end; once the diagnosis has placed
            // a problem its panel says where, with confidence intervals this rule lacks.
            if (lastLoss >= 1 && !this.problems.size) {
                let start = withData.length - 1;
                while (start > 0 && withData[start - 1].loss_pct >= lastLoss * 0.5 &&
                    withData[start - 1].loss_pct >= 1) start--;
                notes.push(['warn', `The destination loses ${fmtPct(lastLoss)} % of probes; ` +
                    (start < withData.length - 1 ?
                        `the loss starts at hop ${withData[start].hop} and continues to the end, ` +
                        'so look there first.' :
                        'no earlier hop shows it, so it is at the destination or on its return path.')]);
            }
            // Clean intermediate hops but a slow destination: asymmetric return path.
            const inter = withData.slice(0, -1).filter((h) => h.avg_ms !== null);
            if (inter.length && last.avg_ms !== null) {
                const worst = Math.max(...inter.map((h) => h.avg_ms));
                const interLoss = Math.max(...inter.map((h) => h.loss_pct));
                if (last.avg_ms - worst > Math.max(30, worst) && interLoss < 1) {
                    notes.push(['info', `Every hop before the destination answers within ` +
                        `${fmtMs(worst)} ms but the destination takes ${fmtMs(last.avg_ms)} ms. ` +
                        'Traceroute sees only the way out: the answers may come back on a ' +
                        'different, slower path (asymmetric routing), or the destination itself ' +
                        'is slow to answer.']);
                }
            }
        }
        for (const [kind, text] of notes) {
            this.notes.append(el('li', { className: 'note note-' + kind },
                el('span', { className: 'note-icon', 'aria-hidden': 'true' }, kind === 'warn' ? '!' : 'i'),
                el('span', { className: 'sr-only' }, kind === 'warn' ? 'Warning: ' : 'Note: '),
                text));
        }
    }
}

function sevIcon(sev) {
    if (!sev) return null;
    const s = SEVERITY[sev];
    return el('span', { className: 'sev sev-' + s.cls, role: 'img', 'aria-label': s.word, title: s.word },
        s.icon);
}

function msCell(kind, v, sev) {
    const td = el('td', {
        className: `num ${kind}` + (sev ? ` lat-${SEVERITY[sev].cls}` : ''),
        dataset: { value: v === null || v === undefined ? '' : v },
    }, v === null || v === undefined ? '—' : fmtMs(v), sevIcon(sev));
    if (v === null || v === undefined) td.title = 'no answer in this window';
    return td;
}

function curCell(h, sev) {
    if (h.cur_lost) {
        return el('td', { className: 'num cur lat-bad err', dataset: { value: 'ERR' }, title: 'the newest probe was lost' },
            'ERR', sevIcon(2));
    }
    return msCell('cur', h.cur_ms, sev);
}

function lossCell(h, sev) {
    return el('td', {
        className: 'num loss loss-' + SEVERITY[sev].cls,
        dataset: { value: h.loss_pct },
        title: `${h.lost} of ${h.sent} probes lost`,
    }, fmtPct(h.loss_pct), sevIcon(sev));
}

function graphText(h) {
    if (h.avg_ms === null || h.avg_ms === undefined) return 'no reply in this window';
    return `min ${fmtMs(h.min_ms)}, average ${fmtMs(h.avg_ms)}, max ${fmtMs(h.max_ms)} ms`;
}

/* The average marker: shape and colour both tell the severity. */
function marker(sev, cx, cy) {
    const cls = 'avg-mark sev-' + SEVERITY[sev].cls;
    if (sev === 0) return svg('circle', { className: cls, cx, cy, r: 4.5 });
    if (sev === 1) {
        return svg('path', { className: cls, d: `M${cx},${cy - 6}L${cx + 6},${cy + 4.5}L${cx - 6},${cy + 4.5}Z` });
    }
    return svg('rect', { className: cls, x: cx - 5, y: cy - 5, width: 10, height: 10 });
}
