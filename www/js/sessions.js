// PingWatcher page — sessions (named time ranges of one target): list, filter by date, open,
// delete, export as CSV or JSON.

import { $, clear, el, fmtDuration, timeEl } from './util.js';

export function exportUrl(targetId, fmt, start, end) {
    const q = new URLSearchParams({ format: fmt, start: (start / 1000).toFixed(3), end: (end / 1000).toFixed(3) });
    return `/api/targets/${targetId}/sessions/export?${q}`;
}

export function sessionExportUrl(s, fmt) {
    return `/api/targets/${s.target}/sessions/${s.id}/export?format=${fmt}`;
}

export class Sessions {
    /* actions: { open(session), names: Map id -> target name } */
    constructor(root, actions) {
        this.root = root;
        this.actions = actions;
        this.tbody = $('#sessions-table tbody', root);
        this.from = $('#sessions-from', root);
        this.to = $('#sessions-to', root);
        this.count = $('#sessions-count', root);
        this.list = [];
        for (const i of [this.from, this.to]) i.addEventListener('input', () => this.render());
        $('#sessions-clear', root).addEventListener('click', () => {
            this.from.value = '';
            this.to.value = '';
            this.render();
        });
    }

    load(list, names) {
        this.list = list.slice().sort((a, b) => b.start_ms - a.start_ms);
        this.names = names;
        this.render();
    }

    /* Sessions overlapping the chosen days (local dates, both inclusive). */
    filtered() {
        const from = this.from.value ? new Date(this.from.value + 'T00:00:00').getTime() : -Infinity;
        const to = this.to.value ? new Date(this.to.value + 'T00:00:00').getTime() + 86400e3 : Infinity;
        return this.list.filter((s) => s.end_ms >= from && s.start_ms < to);
    }

    render() {
        const list = this.filtered();
        clear(this.tbody);
        for (const s of list) this.tbody.append(sessionRow(s, this.names, this.actions, true));
        if (!list.length) {
            this.tbody.append(el('tr', null, el('td', { colspan: 5, className: 'empty' },
                this.list.length ? 'No session in those dates.' : 'No sessions saved yet: save one from a target\'s timeline.')));
        }
        this.count.textContent = `${list.length} of ${this.list.length} session${this.list.length === 1 ? '' : 's'}`;
        if (window.htmx) window.htmx.process(this.tbody);
    }
}

/* A session row with its actions; deletion goes through HTMX (hx-delete). */
export function sessionRow(s, names, actions, withTarget) {
    const name = names && names.get(s.target);
    const open = el('button', { type: 'button', className: 'btn-small' }, 'Open');
    open.addEventListener('click', () => actions.open(s));
    const del = el('button', {
        type: 'button',
        className: 'btn-small danger',
        'hx-delete': `/api/targets/${s.target}/sessions/${s.id}`,
        'hx-confirm': 'Delete this session? The samples stay; only the saved range goes.',
        'hx-swap': 'none',
        dataset: { refresh: 'sessions' },
        'aria-label': `Delete session ${s.name}`,
    }, 'Delete');
    return el('tr', { id: `session-${s.id}`, dataset: { id: String(s.id) } },
        el('th', { scope: 'row' }, s.name),
        withTarget ? el('td', null, name ? el('a', { href: `#/target/${s.target}` }, name) : `target ${s.target} (removed)`) : null,
        el('td', null, timeEl(s.start_ms)),
        el('td', null, timeEl(s.end_ms), el('span', { className: 'muted' }, ` (${fmtDuration(s.end_ms - s.start_ms)})`)),
        el('td', { className: 'actions' },
            name || !withTarget ? open : null,
            el('a', { className: 'btn-small', href: sessionExportUrl(s, 'csv'), download: '', 'aria-label': `Export ${s.name} as CSV` }, 'CSV'),
            el('a', { className: 'btn-small', href: sessionExportUrl(s, 'json'), download: '', 'aria-label': `Export ${s.name} as JSON` }, 'JSON'),
            del),
    );
}
