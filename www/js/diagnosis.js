// PingWatcher page — the path diagnosis under the trace graph: the verdict in plain words, the
// problem with its figures, the notes that explain what is not a problem, and the evidence
// report of the timeline's range. Drawn from /api/targets/{id}/diagnosis (JSON); every text
// of the answer (summaries name hops by their PTR names) goes in as textContent only.

import { $, clear, el, fmtMs, fmtPct, timeEl } from './util.js';

/* Icon and words for each verdict, never colour alone. */
export const VERDICT = {
    problem: { icon: '⚠', word: 'Problem found', cls: 'bad' },
    clean: { icon: '✓', word: 'No problem found', cls: 'ok' },
    insufficient_data: { icon: '…', word: 'Not enough data yet', cls: 'info' },
};

const KIND = { loss: 'Packet loss', latency: 'Added latency' };

export function reportUrl(targetId, start, end) {
    const q = new URLSearchParams({ start: (start / 1000).toFixed(3), end: (end / 1000).toFixed(3) });
    return `/api/targets/${targetId}/report?${q}`;
}

/* The words that mark a problem hop in the hop table and on the timeline. */
export function problemLabel(p) {
    return `${KIND[p.kind] || 'Problem'} starts here`;
}

export class DiagnosisPanel {
    /* cb: { showHop(hop) } */
    constructor(root, cb) {
        this.root = root;
        this.cb = cb;
        this.verdict = $('#diag-verdict', root);
        this.summary = $('#diag-summary', root);
        this.problems = $('#diag-problems', root);
        this.notes = $('#diag-notes', root);
        this.scope = $('#diag-scope', root);
        this.key = null;
        this.data = null;
    }

    /* Before the first answer for a target (or when it cannot be had). */
    reset(text) {
        this.key = null;
        this.data = null;
        this.root.dataset.verdict = '';
        clear(this.verdict);
        this.summary.textContent = text || 'Judging the path…';
        clear(this.problems);
        clear(this.notes);
        clear(this.scope);
    }

    /* ans: the /diagnosis answer. Redraws only what changed (the live refresh repeats it). */
    render(ans) {
        const d = ans.diagnosis;
        const key = JSON.stringify([ans.id, d.verdict, d.summary, d.problems, d.notes, d.samples, ans.focus]);
        this.data = ans;
        if (key === this.key) return;
        this.key = key;
        const v = VERDICT[d.verdict] || VERDICT.insufficient_data;
        this.root.dataset.verdict = d.verdict;
        clear(this.verdict).append(
            el('span', { className: `diag-icon sev-${v.cls}`, 'aria-hidden': 'true' }, v.icon), ' ', v.word);
        this.verdict.className = `diag-verdict diag-${v.cls}`;
        this.summary.textContent = d.summary;

        clear(this.problems).append(...(d.problems || []).map((p) => this.problem(p, d.summary)));
        clear(this.notes).append(...(d.notes || []).map((n) => el('li', {
            className: `note note-info diag-note diag-note-${n.kind}`,
            dataset: { hop: n.hop === null ? '' : String(n.hop) },
        },
        el('span', { className: 'note-icon', 'aria-hidden': 'true' }, 'i'),
        el('span', { className: 'sr-only' }, 'Note: '),
        n.text)));

        const win = ans.focus ? `the last ${ans.focus} samples` : 'all samples';
        const parts = [`Judged ${d.samples} sample${d.samples === 1 ? '' : 's'} (${win} of the hour`,
            ans.end_ms ? [' up to ', timeEl(ans.end_ms)] : '', ')'];
        if (d.start_us && d.end_us && d.samples) {
            parts.push(', taken from ', timeEl(d.start_us / 1000), ' to ', timeEl(d.end_us / 1000));
        }
        if (d.scoped_to_route) parts.push(', only since the last route change');
        parts.push('.');
        if (d.verdict === 'insufficient_data' && d.need_samples) {
            parts.push(` About ${d.need_samples} more samples would decide.`);
        }
        clear(this.scope).append(...parts.flat());
    }

    problem(p, summary) {
        const where = [p.ip, p.dns ? `(${p.dns})` : ''].filter(Boolean).join(' ');
        const end = p.to_destination ? 'the destination' : `hop ${p.end_hop}`;
        const figures = [];
        if (p.kind === 'loss' || p.loss_pct > 0) {
            figures.push(`${p.lost} of ${p.sent} probes lost at ${end}: ${fmtPct(p.loss_pct)} % ` +
                `(95 % confidence interval ${fmtPct(p.loss_ci[0])}–${fmtPct(p.loss_ci[1])} %)`);
        }
        if (p.added_ms !== null && p.added_ms !== undefined) {
            figures.push(`${fmtMs(p.added_ms)} ms added: ${fmtMs(p.base_ms)} ms before hop ${p.from_hop}, ` +
                `${fmtMs(p.end_ms)} ms at ${end}`);
        }
        if (!p.certain && p.need_samples) {
            figures.push(`It may start at an earlier hop: about ${p.need_samples} more samples would tell.`);
        }
        const show = el('button', { type: 'button', className: 'btn-small' }, `Show hop ${p.from_hop} on the timeline`);
        show.addEventListener('click', () => this.cb.showHop(p.from_hop));
        return el('li', { className: `diag-problem diag-${p.kind}`, dataset: { hop: String(p.from_hop) } },
            el('strong', { className: 'diag-problem-title' },
                el('span', { 'aria-hidden': 'true' }, '⚠ '),
                `${KIND[p.kind] || 'Problem'} from hop ${p.from_hop}`, where ? ` — ${where}` : ''),
            p.since_us ? el('span', { className: 'muted' }, ' since ', timeEl(p.since_us / 1000)) : null,
            el('ul', { className: 'diag-figures' }, ...figures.map((f) => el('li', null, f))),
            p.text !== summary ? el('p', { className: 'diag-text' }, p.text) : null,
            show);
    }
}
