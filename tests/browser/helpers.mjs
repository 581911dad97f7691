// Helpers shared by the browser tests: reading the page's tables and formatting numbers the
// way the page does (www/js/util.js), so assertions compare exact text.

export function fmtMs(v) {
    if (v === null || v === undefined) return '—';
    const a = Math.abs(v);
    return v.toFixed(a < 1 ? 2 : a < 100 ? 1 : 0);
}

export function fmtPct(v) {
    return v === 0 ? '0' : v < 1 ? v.toFixed(2) : v < 10 ? v.toFixed(1) : v.toFixed(0);
}

/* The trace graph's rows as the page shows them. */
export async function traceRows(page) {
    return page.$$eval('#trace-table tbody tr[data-hop]', (trs) => trs.map((tr) => {
        const cell = (cls) => tr.querySelector(`td.${cls}`);
        const text = (cls) => {
            const c = cell(cls);
            if (!c) return null;
            // The value without the severity symbol.
            const clone = c.cloneNode(true);
            clone.querySelectorAll('.sev, .multi, .dns-sub, .diag-mark').forEach((s) => s.remove());
            return clone.textContent.trim();
        };
        return {
            hop: Number(tr.dataset.hop), // the hop cell may carry the diagnosis's mark
            ip: text('ip'),
            dns: text('dns'),
            avg: text('avg'),
            min: text('min'),
            cur: text('cur'),
            loss: text('loss'),
            jitter: text('jitter'),
            avgValue: cell('avg').dataset.value,
            graph: cell('graph').textContent.trim(),
        };
    }));
}

/* What the page must show for one hop of the API's answer. */
export function expectedRow(h) {
    return {
        hop: h.hop,
        ip: h.ip === null ? '*' : h.ip,
        dns: h.dns === null || h.dns === '' ? '----------' : h.dns,
        avg: fmtMs(h.avg_ms),
        min: fmtMs(h.min_ms),
        cur: h.cur_lost ? 'ERR' : fmtMs(h.cur_ms),
        loss: fmtPct(h.loss_pct),
        jitter: fmtMs(h.jitter_ms),
    };
}

export function pick(o, keys) {
    return Object.fromEntries(keys.map((k) => [k, o[k]]));
}

/* Minimal CSV parser (quotes, doubled quotes, CRLF). */
export function parseCsv(text) {
    const rows = [];
    let row = [];
    let f = '';
    let q = false;
    for (let i = 0; i < text.length; i++) {
        const c = text[i];
        if (q) {
            if (c === '"' && text[i + 1] === '"') {
                f += '"';
                i++;
            } else if (c === '"') q = false;
            else f += c;
        } else if (c === '"') q = true;
        else if (c === ',') {
            row.push(f);
            f = '';
        } else if (c === '\n') {
            row.push(f.replace(/\r$/, ''));
            rows.push(row);
            row = [];
            f = '';
        } else f += c;
    }
    if (f || row.length) {
        row.push(f);
        rows.push(row);
    }
    return rows;
}

/* Relative luminance of a CSS rgb() colour. */
export function luminance(rgb) {
    const m = /rgba?\((\d+),\s*(\d+),\s*(\d+)/.exec(rgb);
    if (!m) return NaN;
    const [r, g, b] = m.slice(1, 4).map((v) => {
        const s = Number(v) / 255;
        return s <= 0.03928 ? s / 12.92 : ((s + 0.055) / 1.055) ** 2.4;
    });
    return 0.2126 * r + 0.7152 * g + 0.0722 * b;
}
