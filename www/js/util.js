// PingWatcher page — DOM, formatting and fetch helpers shared by every view.
//
// Safety rule of the whole page: text that comes from the API (DNS names from PTR records,
// labels, comments, error messages) only ever reaches the DOM as textContent or an attribute
// value set through the DOM API, never through innerHTML.

const SVG_NS = 'http://www.w3.org/2000/svg';

/* Creates an element. attrs: plain attributes (className/dataset/on* handled specially);
 * children: strings (become text nodes), nodes, or arrays of either; null/false skipped. */
export function el(tag, attrs, ...children) {
    const e = document.createElement(tag);
    setAttrs(e, attrs);
    append(e, children);
    return e;
}

/* The same for SVG elements. */
export function svg(tag, attrs, ...children) {
    const e = document.createElementNS(SVG_NS, tag);
    setAttrs(e, attrs);
    append(e, children);
    return e;
}

function setAttrs(e, attrs) {
    if (!attrs) return;
    for (const [k, v] of Object.entries(attrs)) {
        if (v === null || v === undefined || v === false) continue;
        if (k === 'className') e.setAttribute('class', v);
        else if (k === 'dataset') Object.assign(e.dataset, v);
        else if (k === 'text') e.textContent = v;
        else if (k.startsWith('on') && typeof v === 'function') e.addEventListener(k.slice(2), v);
        else e.setAttribute(k, v === true ? '' : String(v));
    }
}

function append(e, children) {
    for (const c of children) {
        if (c === null || c === undefined || c === false) continue;
        if (Array.isArray(c)) append(e, c);
        else if (c instanceof Node) e.appendChild(c);
        else e.appendChild(document.createTextNode(String(c)));
    }
}

export function $(sel, root = document) {
    return root.querySelector(sel);
}

export function $$(sel, root = document) {
    return Array.from(root.querySelectorAll(sel));
}

export function clear(node) {
    while (node.firstChild) node.removeChild(node.firstChild);
    return node;
}

/* ---- numbers and times ---- */

/* Latency in ms as shown in tables: 2 decimals below 1 ms, 1 below 100 ms, else whole ms. */
export function fmtMs(v) {
    if (v === null || v === undefined || Number.isNaN(v)) return '';
    const a = Math.abs(v);
    return v.toFixed(a < 1 ? 2 : a < 100 ? 1 : 0);
}

export function fmtPct(v) {
    if (v === null || v === undefined) return '';
    return v === 0 ? '0' : v < 1 ? v.toFixed(2) : v < 10 ? v.toFixed(1) : v.toFixed(0);
}

const pad = (n, w = 2) => String(n).padStart(w, '0');

/* Local time "YYYY-MM-DD HH:MM:SS" (what people read); the UTC form goes in title attributes. */
export function fmtTime(ms, withDate = true) {
    const d = new Date(ms);
    const t = `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
    if (!withDate) return t;
    return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${t}`;
}

export function isoUtc(ms) {
    return new Date(ms).toISOString();
}

/* A <time> element showing local time, with the UTC instant as datetime and title. */
export function timeEl(ms, withDate = true) {
    const iso = isoUtc(ms);
    return el('time', { datetime: iso, title: iso + ' (UTC)' }, fmtTime(ms, withDate));
}

/* Value of an <input type="datetime-local" step="1"> for a moment, and back. */
export function toLocalInput(ms) {
    const d = new Date(ms);
    return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T` +
        `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

export function fromLocalInput(v) {
    if (!v) return NaN;
    return new Date(v).getTime();
}

export function fmtDuration(ms) {
    const s = Math.round(ms / 1000);
    if (s < 120) return `${s} s`;
    if (s < 7200) return `${Math.round(s / 60)} min`;
    if (s < 2 * 86400) return `${+(s / 3600).toFixed(1)} h`;
    return `${+(s / 86400).toFixed(1)} d`;
}

/* ---- the API ---- */

export class ApiError extends Error {
    constructor(status, code, message) {
        super(message);
        this.status = status;
        this.code = code;
    }
}

async function answer(res) {
    const type = res.headers.get('Content-Type') || '';
    let body = null;
    if (type.includes('json')) body = await res.json().catch(() => null);
    else await res.text().catch(() => '');
    if (!res.ok) {
        const e = body && body.error;
        throw new ApiError(res.status, e ? e.code : 'http_' + res.status,
            e ? e.message : `the server answered ${res.status} ${res.statusText}`);
    }
    return body;
}

/* Reads of one target's data (/api/targets/ID/...) belong to the target view that asked for
 * them. Leaving that view, or removing its target, abandons those still out: they are aborted
 * and their promises never settle, so no caller draws stale data or reports a 404 for a target
 * just removed. (Whoever waits on such a read must not hold a flag across it: see leaveTarget.)
 * Other reads (target list, summary, configurations) always finish. */
const TARGET_DATA = /^\/api\/targets\/\d+\//;
let targetReads = new AbortController();
export function abandonTargetReads() {
    targetReads.abort();
    targetReads = new AbortController();
}

/* GET a JSON document. params: object of query parameters (null/undefined left out). */
export async function getJSON(path, params) {
    const q = new URLSearchParams();
    for (const [k, v] of Object.entries(params || {})) {
        if (v !== null && v !== undefined && v !== '') q.set(k, String(v));
    }
    const qs = q.toString();
    const signal = TARGET_DATA.test(path) ? targetReads.signal : null;
    try {
        const res = await fetch(path + (qs ? '?' + qs : ''), {
            headers: { Accept: 'application/json' },
            signal,
        });
        // Checked after the body too: an abort while it is read leaves no body.
        const body = await answer(res);
        if (!signal || !signal.aborted) return body;
    } catch (e) {
        if (!signal || !signal.aborted) throw e;
    }
    return new Promise(() => {});
}

/* A change (POST/PATCH/PUT/DELETE) with the same-origin marker the app asks for. */
export async function mutate(method, path, params) {
    const init = {
        method,
        headers: { Accept: 'application/json', 'X-Requested-With': 'PingWatcher' },
    };
    if (params) {
        init.headers['Content-Type'] = 'application/json';
        init.body = JSON.stringify(params);
    }
    return answer(await fetch(path, init));
}

/* The text of an error fragment the app sent to HTMX (already escaped there; we still only
 * take its text). */
export function fragmentText(html, fallback) {
    if (!html) return fallback;
    const doc = new DOMParser().parseFromString(html, 'text/html');
    const t = (doc.body.textContent || '').trim();
    return t || fallback;
}

/* Runs fn at most once per `ms`, the last call winning (trailing edge). */
export function throttle(fn, ms) {
    let timer = null;
    let last = 0;
    let pendingArgs = null;
    return (...args) => {
        pendingArgs = args;
        if (timer) return;
        const wait = Math.max(0, last + ms - performance.now());
        timer = setTimeout(() => {
            timer = null;
            last = performance.now();
            fn(...pendingArgs);
        }, wait);
    };
}

export function debounce(fn, ms) {
    let timer = null;
    return (...args) => {
        clearTimeout(timer);
        timer = setTimeout(() => fn(...args), ms);
    };
}

/* A short message in the page's alert region. */
let toastTimer = null;
export function toast(msg, kind = 'error') {
    const t = document.getElementById('toast');
    if (!t) return;
    t.textContent = msg;
    t.dataset.kind = kind;
    t.hidden = false;
    clearTimeout(toastTimer);
    toastTimer = setTimeout(() => {
        t.hidden = true;
    }, kind === 'error' ? 8000 : 4000);
}

/* "nice" upper bound for an axis: 1, 2, 2.5, 5 x 10^k at or above v. */
export function niceCeil(v) {
    if (!(v > 0)) return 1;
    const p = Math.pow(10, Math.floor(Math.log10(v)));
    for (const m of [1, 2, 2.5, 5, 10]) {
        if (m * p >= v - 1e-9) return m * p;
    }
    return 10 * p;
}

/* Tick step for an axis from 0 to max with about n ticks. */
export function niceStep(max, n = 5) {
    const raw = max / n;
    const p = Math.pow(10, Math.floor(Math.log10(raw)));
    for (const m of [1, 2, 2.5, 5, 10]) {
        if (m * p >= raw) return m * p;
    }
    return 10 * p;
}
