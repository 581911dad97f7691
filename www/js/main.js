// PingWatcher page — start-up, views (hash routes), live streams and the HTMX forms.
//
// Routes: #/summary, #/target/ID[?range=1h|start=&end=|at=], #/sessions.
// Data views (trace graph, timeline, summary, lists) are drawn from the JSON API; forms and
// buttons that change something are HTMX requests (they carry HX-Request, the app's
// same-origin marker), configured here through htmx:configRequest.

import { $, $$, ApiError, clear, el, fmtTime, fragmentText, fromLocalInput, getJSON, abandonTargetReads, isoUtc, throttle, timeEl, toLocalInput, toast } from './util.js';
import { applyTheme, onChange, settings, update as updateSettings, DEFAULTS } from './settings.js';
import { LiveStream, showState } from './live.js';
import { TraceGraph } from './tracegraph.js';
import { PRESETS, Timeline, routeText } from './timeline.js';
import { SPARK_POINTS, SPARK_WINDOW_MS, Summary } from './summary.js';
import { Sessions, exportUrl, sessionRow } from './sessions.js';
import { DiagnosisPanel, problemLabel, reportUrl } from './diagnosis.js';

const state = {
    view: null,
    targets: [],
    targetsById: new Map(),
    targetId: null,
    target: null,
    at: null, // ms of a past moment shown by the trace graph, or null (live)
    hops: null,
    stream: null,
    lastRoute: null,
    hopsBusy: false,
    hopsAgain: false,
    configs: [],
    firing: new Map(), // target id -> [{ rule, name, since_ms }] of the alerts firing
    firingKey: null, // what the alert banner shows, to leave it alone when nothing changed
    diagKey: null, // target|at|focus of the diagnosis shown or asked for
    diagAt: 0, // when it was asked for (ms)
    diagTimer: null,
    diagShown: new Set(), // target:hop strips the diagnosis has put on the timeline
};

let traceGraph, timeline, summary, sessions, diagnosis;

/* ---------------------------------------------------------------- targets */

async function loadTargets() {
    const d = await getJSON('/api/targets');
    state.targets = d.targets || [];
    state.targetsById = new Map(state.targets.map((t) => [t.id, t]));
    renderTargetList();
    return state.targets;
}

function targetName(t) {
    return t.label || t.host;
}

function renderTargetList() {
    const ul = $('#target-list');
    clear(ul);
    for (const t of state.targets) {
        const current = state.view === 'target' && state.targetId === t.id;
        ul.append(el('li', null, el('a', {
            href: `#/target/${t.id}`,
            'aria-current': current ? 'page' : null,
            className: t.paused ? 'paused' : null,
        },
        el('span', { className: 'tname' }, targetName(t)),
        t.label ? el('span', { className: 'thost' }, t.host) : null,
        t.paused ? el('span', { className: 'badge' }, 'paused') : null)));
    }
    if (!state.targets.length) ul.append(el('li', { className: 'muted' }, 'None yet.'));
}

async function loadConfigs() {
    try {
        const d = await getJSON('/api/configs');
        state.configs = d.configs || [];
    } catch {
        state.configs = [];
    }
    for (const sel of $$('.config-select')) {
        const keep = sel.value;
        while (sel.options.length > 1) sel.remove(1);
        for (const c of state.configs) {
            sel.append(el('option', { value: c.name }, `${c.name} (${c.packet_type}, ${c.trace_interval} s)`));
        }
        sel.value = keep;
    }
}

/* ---------------------------------------------------------------- routing */

function parseHash() {
    const h = location.hash.replace(/^#\/?/, '');
    const [path, query] = h.split('?');
    const parts = path.split('/').filter(Boolean);
    return { parts, params: new URLSearchParams(query || '') };
}

function setHash(h, replace = true) {
    if (location.hash === h) return;
    if (replace) history.replaceState(null, '', h);
    else location.hash = h;
}

function showView(name) {
    state.view = name;
    for (const v of $$('.view')) v.hidden = v.id !== 'view-' + name;
    for (const [id, v] of [['nav-summary', 'summary'], ['nav-target', 'target'], ['nav-sessions', 'sessions']]) {
        const a = document.getElementById(id);
        if (v === name) a.setAttribute('aria-current', 'page');
        else a.removeAttribute('aria-current');
    }
    renderTargetList();
}

async function route() {
    const { parts, params } = parseHash();
    for (const e of $$('.form-error')) {
        e.hidden = true;
        e.textContent = '';
    }
    const view = parts[0] || '';
    if (view !== 'target') leaveTarget();
    if (view !== 'summary') closeSummary();
    if (view === 'summary') return openSummary();
    if (view === 'sessions') return openSessions();
    if (view === 'target') {
        const id = Number(parts[1]) || (state.targetId ?? (state.targets[0] && state.targets[0].id));
        if (!id) return showEmpty();
        return openTarget(id, params);
    }
    // No route: one target goes straight to its trace graph, several to the summary.
    if (state.targets.length === 1) setHash(`#/target/${state.targets[0].id}`);
    else if (state.targets.length === 0) return showEmpty();
    else setHash('#/summary');
    return route();
}

function showEmpty() {
    showView('empty');
    showState('idle');
    document.title = 'PingWatcher';
    $('#add-host').focus();
}

/* ---------------------------------------------------------------- one target */

function closeTargetView() {
    if (state.stream) state.stream.close();
    state.stream = null;
}

/* Leaving the target view, or removing its target: nothing of it runs any more, and coming
 * back builds it anew (the next view may still be loading when that happens). */
function leaveTarget() {
    if (state.view === 'target') state.view = null;
    closeTargetView();
    clearTimeout(state.diagTimer);
    timeline.detach();
    abandonTargetReads();
    // Their abandoned reads never finish: nothing may stay marked as waiting for them.
    state.hopsBusy = false;
    state.hopsAgain = false;
    state.diagKey = null;
}

async function openTarget(id, params) {
    let t = state.targetsById.get(id);
    if (!t) {
        try {
            t = await getJSON(`/api/targets/${id}`);
        } catch (e) {
            toast(e instanceof ApiError && e.status === 404 ? `Target ${id} does not exist (any more).` : e.message);
            setHash('#/summary');
            return route();
        }
    }
    const changed = state.targetId !== id || state.view !== 'target';
    state.targetId = id;
    state.target = t;
    showView('target');
    document.title = `${targetName(t)} — PingWatcher`;
    renderTargetHead();
    const at = params.get('at') ? Number(params.get('at')) : null;
    const start = params.get('start') ? Number(params.get('start')) : null;
    const end = params.get('end') ? Number(params.get('end')) : null;
    const preset = PRESETS.find((p) => p[0] === params.get('range'));
    if (!changed && !params.toString()) {
        // The plain address of the target shown: live figures.
        if (state.at) backToLive();
        return;
    }
    const t0 = performance.now();
    state.at = at;
    state.lastRoute = null;
    // Without a range asked for: the span in use, or for a target monitored for less than
    // 10 minutes the 10-minute view (an hour would show a sliver of data at the right edge).
    let span = preset ? preset[3] : changed ? null : timeline.span;
    if (!span) span = t.created_ms && Date.now() - t.created_ms < 10 * 60e3 ? 10 * 60e3 : 3600e3;
    const tlOpts = start && end ? { start, end } : { span };
    const hopsDone = loadHops();
    const tlDone = timeline.setTarget(t, tlOpts);
    timeline.setFocusAt(at);
    const annotations = Promise.all([loadRouteChanges(), loadComments(), loadTargetSessions()]);
    if (changed) openTargetStream(id);
    renderAlertBanner();
    loadFiring();
    resetCommentTime();
    await Promise.all([hopsDone, tlDone]);
    const ms = performance.now() - t0;
    document.body.dataset.renderMs = ms.toFixed(1);
    document.body.dataset.rendered = String(id);
    window.dispatchEvent(new CustomEvent('pw:target-rendered', { detail: { id, ms } }));
    await annotations;
}

function renderTargetHead() {
    const t = state.target;
    $('#target-title').textContent = targetName(t);
    const meta = [t.host];
    if (t.address && t.address !== t.host) meta.push(t.address);
    meta.push(String(t.packet_type).toUpperCase() + (t.port ? ` port ${t.port}` : ''));
    meta.push(`every ${t.trace_interval} s`);
    if (t.config) meta.push(`configuration ${t.config}`);
    if (t.final_hop_only) meta.push('final hop only');
    if (t.paused) meta.push('paused');
    $('#target-meta').textContent = meta.join(' · ');
    $('#btn-pause').hidden = !!t.paused;
    $('#btn-resume').hidden = !t.paused;
    fillEditForm(t);
}

function fillEditForm(t) {
    const f = $('#edit-form');
    const values = {
        label: t.label || '',
        packet_type: t.packet_type,
        trace_interval: t.trace_interval,
        config: '',
        packet_size: t.packet_size ?? '',
        max_hops: t.max_hops ?? '',
        timeout: t.timeout ?? '',
        inter_packet_delay: t.inter_packet_delay ?? '',
        port: t.port ?? '',
    };
    for (const [k, v] of Object.entries(values)) {
        const i = f.elements[k];
        if (!i) continue;
        i.value = String(v);
        i.dataset.initial = String(v);
    }
    const fho = f.elements.final_hop_only;
    fho.checked = !!t.final_hop_only;
    fho.dataset.initial = String(!!t.final_hop_only);
    $('#edit-locked').hidden = !t.from_config;
    for (const i of f.elements) if (i.type !== 'hidden') i.disabled = !!t.from_config;
}

/* The hop table; one request at a time, the newest state winning. */
async function loadHops() {
    if (state.hopsBusy) {
        state.hopsAgain = true;
        return state.hopsPromise;
    }
    state.hopsBusy = true;
    state.hopsPromise = (async () => {
        try {
            do {
                state.hopsAgain = false;
                const id = state.targetId;
                if (!id || state.view !== 'target') return;
                const at = state.at;
                const focus = settings().focus;
                let d;
                try {
                    d = await getJSON(`/api/targets/${id}/hops`, { focus, at: at ? (at / 1000).toFixed(3) : null });
                } catch (e) {
                    toast(`Could not load the hops: ${e.message}`);
                    return;
                }
                if (id !== state.targetId || at !== state.at || focus !== settings().focus) {
                    state.hopsAgain = true;
                    continue;
                }
                state.hops = d;
                traceGraph.render(d);
                if (!at) timeline.setHops(d.hops || []);
                renderHistoryBanner();
                loadDiagnosis();
            } while (state.hopsAgain);
        } finally {
            state.hopsBusy = false;
        }
    })();
    return state.hopsPromise;
}

/* ---------------------------------------------------------------- diagnosis */

/* The diagnosis follows the hop table (its focus, its past moment) and is asked for with each
 * of its refreshes; live at most every DIAG_LIVE_MS, as the app judges up to an hour of
 * samples each time. */
const DIAG_LIVE_MS = 5000;

function diagViewKey() {
    return `${state.targetId}|${state.at}|${settings().focus}`;
}

async function loadDiagnosis() {
    const id = state.targetId;
    if (!id || state.view !== 'target') return;
    const at = state.at;
    const focus = settings().focus;
    const key = diagViewKey();
    const since = Date.now() - state.diagAt;
    clearTimeout(state.diagTimer);
    if (key === state.diagKey && (at || since < DIAG_LIVE_MS)) {
        // The same view: a past moment stays as it was; live, once more when the time is up.
        if (!at) state.diagTimer = setTimeout(loadDiagnosis, DIAG_LIVE_MS - since);
        return;
    }
    if (key !== state.diagKey) {
        diagnosis.reset();
        traceGraph.setProblems(new Map());
        timeline.setProblem(null);
    }
    state.diagKey = key;
    state.diagAt = Date.now();
    let d;
    try {
        d = await getJSON(`/api/targets/${id}/diagnosis`, {
            focus: focus === 'all' ? null : focus,
            at: at ? (at / 1000).toFixed(3) : null,
        });
    } catch (e) {
        if (key === diagViewKey()) {
            state.diagKey = null; // the next table refresh tries again
            diagnosis.reset(`The diagnosis could not be loaded: ${e.message}`);
        }
        return;
    }
    if (key !== diagViewKey()) return; // the view moved on meanwhile
    diagnosis.render(d);
    const problems = d.diagnosis.problems || [];
    traceGraph.setProblems(new Map(problems.map((p) => [p.from_hop, problemLabel(p)])));
    const first = problems[0];
    timeline.setProblem(first ? { hop: first.from_hop, label: problemLabel(first) } : null);
    // The problem hop's strip joins the timeline once per target and hop (hidden again, it stays so).
    if (first && !state.diagShown.has(`${id}:${first.from_hop}`)) {
        state.diagShown.add(`${id}:${first.from_hop}`);
        showHopStrip(first.from_hop, false);
    }
    document.body.dataset.diagnosis = `${id}:${d.diagnosis.verdict}`;
}

function showHopStrip(hop, scroll) {
    const key = hop === timeline.finalHop ? 'last' : hop;
    const done = timeline.shown.includes(key) ? Promise.resolve() : timeline.toggleHop(key, true);
    if (scroll) {
        const strip = timeline.strips.get(key);
        (strip ? strip.box : $('#timeline')).scrollIntoView({ block: 'nearest', behavior: 'smooth' });
    }
    return done;
}

function renderHistoryBanner() {
    const b = $('#history-banner');
    if (!state.at) {
        b.hidden = true;
        return;
    }
    b.hidden = false;
    const f = settings().focus;
    clear($('#history-text')).append('The trace graph shows ',
        f === 'all' ? 'all samples' : `the ${f} samples`, ' up to ', timeEl(state.at),
        ', not live figures.');
}

/* ---------------------------------------------------------------- alerts firing */

/* Polled (FIRING_POLL_MS) while the summary or a trace graph is shown, and with their data. */
const FIRING_POLL_MS = 5000;

async function loadFiring() {
    let d;
    try {
        d = await getJSON('/api/alerts/firing');
    } catch {
        return; // an indicator, not the page's data: the next poll tries again
    }
    const m = new Map();
    for (const f of d.firing || []) {
        if (!m.has(f.target)) m.set(f.target, []);
        m.get(f.target).push(f);
    }
    state.firing = m;
    summary.setFiring(new Map(Array.from(m, ([id, list]) => [id, list.map((f) => f.name)])));
    renderAlertBanner();
}

function renderAlertBanner() {
    const list = (state.view === 'target' && state.firing.get(state.targetId)) || [];
    const key = JSON.stringify([state.targetId, list.map((f) => [f.rule, f.name, f.since_ms])]);
    if (key === state.firingKey) return;
    state.firingKey = key;
    const b = $('#alert-banner');
    b.hidden = !list.length;
    const items = clear($('#alert-banner-list'));
    $('#alert-banner-title').textContent = list.length === 1 ? 'Alert firing for this target:' : 'Alerts firing for this target:';
    for (const f of list) {
        items.append(el('li', { dataset: { rule: String(f.rule) } }, el('strong', null, f.name), ' since ', timeEl(f.since_ms)));
    }
}

function focusMoment(ms) {
    state.at = Math.round(ms);
    timeline.setFocusAt(state.at);
    updateHashParams({ at: state.at });
    loadHops().then(() => $('#history-banner').scrollIntoView({ block: 'nearest' }));
    $('#back-live').focus({ preventScroll: true });
}

function backToLive() {
    state.at = null;
    timeline.setFocusAt(null);
    updateHashParams({ at: null });
    loadHops();
    $('#tg-heading').scrollIntoView({ block: 'nearest' });
}

function updateHashParams(patch) {
    if (state.view !== 'target') return;
    const { params } = parseHash();
    for (const [k, v] of Object.entries(patch)) {
        if (v === null || v === undefined) params.delete(k);
        else params.set(k, String(v));
    }
    const q = params.toString();
    history.replaceState(null, '', `#/target/${state.targetId}${q ? '?' + q : ''}`);
}

function openTargetStream(id) {
    closeTargetView();
    state.stream = new LiveStream(`/api/targets/${id}/live`, {
        sample: (ev) => onSample(ev),
        removed: () => {
            leaveTarget();
            toast('This target was removed.', 'info');
            loadTargets().then(() => {
                setHash('#/summary');
                route();
            });
        },
    }, (s) => showState(s));
}

const hopsSoon = throttle(() => loadHops(), 300);

function onSample(ev) {
    if (ev.id !== state.targetId) return;
    state.lastSampleMs = ev.time_ms;
    if (!state.at) hopsSoon();
    timeline.liveSample();
    if (state.lastRoute !== null && ev.route_id !== state.lastRoute) loadRouteChanges();
    state.lastRoute = ev.route_id;
    document.body.dataset.lastSample = String(ev.time_ms);
}

async function loadRouteChanges() {
    const id = state.targetId;
    let d;
    try {
        d = await getJSON(`/api/targets/${id}/route_changes`, { limit: 1000 });
    } catch (e) {
        return;
    }
    if (id !== state.targetId) return;
    const list = d.route_changes || [];
    timeline.setAnnotations(list, null);
    const tb = $('#rc-table tbody');
    clear(tb);
    for (const ch of list.slice().reverse()) {
        const show = el('button', { type: 'button', className: 'btn-small', 'aria-label': `Show the change at ${fmtTime(ch.time_ms)} on the timeline` }, 'Show');
        show.addEventListener('click', () => showOnTimeline(ch.time_ms));
        tb.append(el('tr', { dataset: { t: String(ch.time_ms) }, title: routeText(ch) },
            el('th', { scope: 'row' }, timeEl(ch.time_ms)),
            el('td', { className: 'num' }, String(ch.first_hop)),
            el('td', { className: 'ip' }, ch.was),
            el('td', { className: 'ip' }, ch.now),
            el('td', { className: 'actions' }, show)));
    }
    if (!list.length) tb.append(el('tr', null, el('td', { colspan: 5, className: 'empty' }, 'No route change recorded.')));
    if (d.truncated) tb.append(el('tr', null, el('td', { colspan: 5, className: 'muted' }, 'Only the first 1000 changes are listed.')));
}

function showOnTimeline(ms) {
    const span = Math.min(timeline.span, 3600e3);
    timeline.showMoment(ms, span);
    timeline.setPick(ms);
    $('#timeline').scrollIntoView({ block: 'start', behavior: 'smooth' });
}

function highlightRow(table, ms) {
    for (const tr of $$(`${table} tbody tr`)) {
        tr.classList.toggle('highlight', tr.dataset.t === String(ms));
        if (tr.dataset.t === String(ms)) tr.scrollIntoView({ block: 'nearest', behavior: 'smooth' });
    }
}

async function loadComments() {
    const id = state.targetId;
    let d;
    try {
        d = await getJSON(`/api/targets/${id}/comments`, { limit: 1000 });
    } catch {
        return;
    }
    if (id !== state.targetId) return;
    const list = d.comments || [];
    timeline.setAnnotations(null, list);
    const tb = $('#cm-table tbody');
    clear(tb);
    for (const c of list.slice().reverse()) {
        const show = el('button', { type: 'button', className: 'btn-small' }, 'Show');
        show.addEventListener('click', () => showOnTimeline(c.time_ms));
        tb.append(el('tr', { id: `comment-${c.id}`, dataset: { t: String(c.time_ms) } },
            el('th', { scope: 'row' }, timeEl(c.time_ms)),
            el('td', { className: 'comment-text' }, c.text),
            el('td', null, c.author || '—'),
            el('td', { className: 'actions' }, show, el('button', {
                type: 'button',
                className: 'btn-small danger',
                'hx-delete': `/api/targets/${id}/comments/${c.id}`,
                'hx-confirm': 'Delete this comment?',
                'hx-swap': 'none',
                dataset: { refresh: 'comments' },
                'aria-label': 'Delete this comment',
            }, 'Delete'))));
    }
    if (!list.length) tb.append(el('tr', null, el('td', { colspan: 4, className: 'empty' }, 'No comments yet.')));
    window.htmx.process(tb);
}

async function loadTargetSessions() {
    const id = state.targetId;
    let d;
    try {
        d = await getJSON(`/api/targets/${id}/sessions`);
    } catch {
        return;
    }
    if (id !== state.targetId) return;
    const tb = $('#ts-table tbody');
    clear(tb);
    const list = (d.sessions || []).slice().sort((a, b) => b.start_ms - a.start_ms);
    for (const s of list) tb.append(sessionRow(s, state.targetsById && new Map([[id, targetName(state.target)]]), { open: openSession }, false));
    if (!list.length) tb.append(el('tr', null, el('td', { colspan: 4, className: 'empty' }, 'No sessions saved for this target.')));
    window.htmx.process(tb);
}

function openSession(s) {
    const h = `#/target/${s.target}?start=${s.start_ms}&end=${s.end_ms}&at=${s.end_ms}`;
    if (state.view === 'target' && state.targetId === s.target) {
        history.replaceState(null, '', h);
        state.at = s.end_ms;
        timeline.setFocusAt(s.end_ms);
        timeline.setRangeValues(s.start_ms, s.end_ms, false);
        timeline.redrawScales();
        timeline.refetch();
        loadHops();
        $('#timeline').scrollIntoView({ block: 'start' });
    } else {
        location.hash = h;
    }
}

function resetCommentTime() {
    $('#comment-time').value = toLocalInput(Date.now());
}

function onRangeChanged(r) {
    const id = state.targetId;
    if (!id) return;
    const end = r.follow ? Date.now() : r.end;
    $('#export-csv').href = exportUrl(id, 'csv', r.start, end);
    $('#export-json').href = exportUrl(id, 'json', r.start, end);
    $('#diag-report').href = reportUrl(id, r.start, end);
    clear($('#visible-range-text')).append('The timeline shows ', timeEl(r.start), ' to ',
        r.follow ? 'now' : timeEl(r.end), '.');
}

/* ---------------------------------------------------------------- summary */

let summaryStream = null;
let summaryTimer = null;

async function openSummary() {
    showView('summary');
    document.title = 'Summary — PingWatcher';
    await loadSummary();
    if (!summaryStream) {
        summaryStream = new LiveStream(`/api/summary/live?focus=${encodeURIComponent(settings().focus)}`, {
            summary: (ev) => {
                if (!summary.liveUpdate(ev)) reloadSummarySoon();
            },
            removed: (ev) => {
                summary.remove(ev.id);
                loadTargets();
            },
        }, (s) => showState(s));
    }
    clearInterval(summaryTimer);
    summaryTimer = setInterval(loadSummary, 60000); // sparklines
}

function closeSummary() {
    if (summaryStream) summaryStream.close();
    summaryStream = null;
    clearInterval(summaryTimer);
}

async function loadSummary() {
    try {
        summary.load(await getJSON('/api/summary', {
            focus: settings().focus,
            window: `${SPARK_WINDOW_MS / 1000}s`,
            points: SPARK_POINTS,
        }));
        document.body.dataset.summaryLoaded = String(Date.now());
        loadFiring();
    } catch (e) {
        toast(`Could not load the summary: ${e.message}`);
    }
}

const reloadSummarySoon = throttle(() => {
    loadSummary();
    loadTargets();
}, 2000);

/* ---------------------------------------------------------------- sessions */

async function openSessions() {
    showView('sessions');
    document.title = 'Sessions — PingWatcher';
    showState('idle');
    await loadAllSessions();
}

async function loadAllSessions() {
    try {
        const d = await getJSON('/api/sessions');
        sessions.load(d.sessions || [], new Map(state.targets.map((t) => [t.id, targetName(t)])));
    } catch (e) {
        toast(`Could not load the sessions: ${e.message}`);
    }
}

/* ---------------------------------------------------------------- HTMX forms */

function formOf(elt) {
    return elt.closest('form');
}

function setFormError(elt, msg) {
    const f = formOf(elt);
    const box = f && $('.form-error', f);
    if (box) {
        box.textContent = msg || '';
        box.hidden = !msg;
    } else if (msg) {
        toast(msg);
    }
}

function wireHtmx() {
    document.body.addEventListener('htmx:configRequest', (e) => {
        const d = e.detail;
        const elt = d.elt;
        if (d.path.includes('{target}')) {
            if (!state.targetId) {
                e.preventDefault();
                return;
            }
            d.path = d.path.replace('{target}', String(state.targetId));
        }
        const p = d.parameters;
        const f = elt.tagName === 'FORM' ? elt : null;
        if (f && (f.id === 'add-form' || f.id === 'edit-form')) {
            // Empty fields mean "the default": leave them out. The edit form sends only changes.
            for (const [k, v] of Array.from(p.entries())) {
                const input = f.elements[k];
                const initial = input && input.dataset ? input.dataset.initial : undefined;
                if (v === '' || (f.id === 'edit-form' && initial !== undefined && String(v) === initial)) p.delete(k);
            }
            if (f.id === 'edit-form') {
                const fho = f.elements.final_hop_only;
                if (String(fho.checked) !== fho.dataset.initial) p.set('final_hop_only', String(fho.checked));
                if (!Array.from(p.keys()).length) {
                    e.preventDefault();
                    setFormError(f, 'Nothing changed.');
                }
            }
        }
        if (f && f.id === 'comment-form') {
            const ms = fromLocalInput(p.get('time'));
            if (Number.isNaN(ms)) {
                e.preventDefault();
                setFormError(f, 'Give the moment of the comment.');
                return;
            }
            p.set('time', isoUtc(Math.min(ms, Date.now())));
        }
        if (f && f.id === 'session-form') {
            const r = timeline.range();
            p.set('start', isoUtc(r.start));
            p.set('end', isoUtc(r.follow ? Date.now() : r.end));
        }
        setFormError(elt, '');
    });
    // Removing the target shown: its view stops reading first, so no read of it can meet the
    // removal half-way; if the removal fails, the view is opened again.
    document.body.addEventListener('htmx:beforeRequest', (e) => {
        if (e.detail.elt.dataset.refresh === 'removed') {
            leaveTarget();
            state.targetId = null;
        }
    });
    const removalFailed = (elt) => {
        if (elt.dataset.refresh === 'removed') route();
    };
    document.body.addEventListener('htmx:responseError', (e) => {
        const xhr = e.detail.xhr;
        const msg = fragmentText(xhr.responseText, `The server answered ${xhr.status}.`);
        setFormError(e.detail.elt, msg);
        removalFailed(e.detail.elt);
    });
    document.body.addEventListener('htmx:sendError', (e) => {
        setFormError(e.detail.elt, 'The server cannot be reached; try again.');
        removalFailed(e.detail.elt);
    });
    document.body.addEventListener('htmx:afterRequest', async (e) => {
        if (!e.detail.successful) return;
        const elt = e.detail.elt;
        const xhr = e.detail.xhr;
        const f = formOf(elt);
        if (f && f.id === 'add-form') {
            const loc = xhr.getResponseHeader('Location') || '';
            const m = /\/api\/targets\/(\d+)/.exec(loc) || /id="target-(\d+)"/.exec(xhr.responseText);
            f.reset();
            setBarFolded(true);
            await loadTargets();
            toast('Monitoring started.', 'info');
            if (m) location.hash = `#/target/${m[1]}`;
            return;
        }
        const what = elt.dataset.refresh || (f && f.dataset.refresh);
        if (what === 'target') {
            await loadTargets();
            state.target = state.targetsById.get(state.targetId) || state.target;
            renderTargetHead();
            if (elt.id === 'btn-pause' || elt.id === 'btn-resume') {
                (state.target.paused ? $('#btn-resume') : $('#btn-pause')).focus();
            }
            if (f) toast('Options saved.', 'info');
        } else if (what === 'removed') {
            leaveTarget();
            state.targetId = null;
            state.target = null;
            await loadTargets();
            toast('Monitoring stopped; the target was removed.', 'info');
            location.hash = '#/summary';
        } else if (what === 'comments') {
            if (f) $('#comment-text').value = '';
            await loadComments();
        } else if (what === 'sessions') {
            if (f) $('#session-name').value = '';
            if (state.view === 'sessions') await loadAllSessions();
            else await loadTargetSessions();
        }
    });
}

/* The "more options" fields, from one template, for the add and edit forms. */
function buildOptionFields() {
    const tpl = $('#tpl-options');
    for (const box of $$('[data-options]')) {
        const prefix = box.dataset.options;
        const frag = tpl.content.cloneNode(true);
        for (const i of frag.querySelectorAll('[data-name]')) {
            i.name = i.dataset.name;
            i.id = `${prefix}-${i.dataset.name}`;
        }
        for (const l of frag.querySelectorAll('label[data-for]')) l.htmlFor = `${prefix}-${l.dataset.for}`;
        box.append(frag);
    }
}

/* ---------------------------------------------------------------- settings and theme */

function wireSettings() {
    const dlg = $('#settings');
    const form = $('#settings-form');
    const fill = (s) => {
        for (const k of ['latWarn', 'latBad', 'lossWarn', 'lossBad']) form.elements[k].value = s[k];
        form.elements.theme.value = s.theme;
    };
    $('#settings-open').addEventListener('click', () => {
        fill(settings());
        dlg.showModal();
    });
    $('#settings-reset').addEventListener('click', () => fill(DEFAULTS));
    dlg.addEventListener('close', () => {
        if (dlg.returnValue !== 'save') return;
        const v = {};
        for (const k of ['latWarn', 'latBad', 'lossWarn', 'lossBad']) v[k] = Number(form.elements[k].value);
        if (v.latBad < v.latWarn) v.latBad = v.latWarn;
        if (v.lossBad < v.lossWarn) v.lossBad = v.lossWarn;
        v.theme = form.elements.theme.value;
        updateSettings(v);
    });
    const tt = $('#theme-toggle');
    const names = { auto: 'Auto theme', light: 'Light theme', dark: 'Dark theme' };
    const label = () => {
        const s = settings().theme;
        $('.theme-name', tt).textContent = names[s];
        tt.title = 'Theme: ' + (s === 'auto' ? 'follows the system; select for light' : s === 'light' ? 'light; select for dark' : 'dark; select to follow the system');
    };
    tt.addEventListener('click', () => {
        const order = ['auto', 'light', 'dark'];
        updateSettings({ theme: order[(order.indexOf(settings().theme) + 1) % 3] });
    });
    label();
    const redraw = () => {
        applyTheme();
        timeline.rebuild();
        if (state.hops) traceGraph.render(state.hops);
        if (state.view === 'summary') summary.renderBody();
        label();
    };
    window.matchMedia('(prefers-color-scheme: dark)').addEventListener('change', () => {
        if (settings().theme === 'auto') redraw();
    });
    onChange((s, patch) => {
        if ('theme' in patch) redraw();
        if (['latWarn', 'latBad', 'lossWarn', 'lossBad'].some((k) => k in patch)) {
            if (state.hops) traceGraph.render(state.hops);
            summary.renderBody();
            timeline.redrawAll();
        }
    });
}

/* ---------------------------------------------------------------- start */

/* On narrow screens the target bar folds behind a "New target" button (CSS decides; on wide
 * screens data-folded has no effect). */
function setBarFolded(folded) {
    const form = $('#add-form');
    const tog = $('#add-toggle');
    form.dataset.folded = String(folded);
    tog.setAttribute('aria-expanded', String(!folded));
    tog.lastChild.textContent = folded ? ' New target' : ' Close';
    tog.firstElementChild.textContent = folded ? '+' : '×';
}

function wireTargetBar() {
    $('#add-toggle').addEventListener('click', () => {
        const folded = $('#add-form').dataset.folded === 'true';
        setBarFolded(!folded);
        if (folded) $('#add-host').focus();
    });
}

function wireTargetView() {
    const focus = settings().focus;
    const radio = document.getElementById(`focus-${focus}`) || document.getElementById('focus-10');
    radio.checked = true;
    const sf = $('#summary-focus');
    sf.value = settings().focus;
    const setFocus = (value) => {
        updateSettings({ focus: value });
        sf.value = value;
        const r = document.getElementById(`focus-${value}`);
        if (r) r.checked = true;
        if (state.view === 'target') loadHops().then(renderHistoryBanner);
        if (state.view === 'summary') {
            closeSummary();
            openSummary();
        }
    };
    for (const r of $$('input[name="focus"]')) r.addEventListener('change', () => setFocus(r.value));
    sf.addEventListener('change', () => setFocus(sf.value));
    $('#back-live').addEventListener('click', backToLive);
    for (const b of $$('[data-preset]')) {
        b.addEventListener('click', () => {
            const p = PRESETS.find((x) => x[0] === b.dataset.preset);
            updateHashParams({ range: p[0], start: null, end: null });
            timeline.preset(p[3]);
        });
    }
    $('#tl-zoom-in').addEventListener('click', () => timeline.zoom(0.5));
    $('#tl-zoom-out').addEventListener('click', () => timeline.zoom(2));
    $('#tl-back').addEventListener('click', () => timeline.pan(-0.5));
    $('#tl-fwd').addEventListener('click', () => timeline.pan(0.5));
    $('#tl-live').addEventListener('click', () => timeline.goLive());
    const spread = $('#tl-spread');
    spread.value = settings().spread;
    spread.addEventListener('change', () => {
        updateSettings({ spread: spread.value });
        timeline.refetch();
    });
}

async function start() {
    applyTheme();
    buildOptionFields();
    traceGraph = new TraceGraph($('#view-target'));
    timeline = new Timeline($('#timeline'), {
        focusMoment,
        pickMoment: (ms) => {
            $('#comment-time').value = toLocalInput(ms);
        },
        showChange: (ch) => highlightRow('#rc-table', ch.time_ms),
        showComment: (c) => highlightRow('#cm-table', c.time_ms),
        rangeChanged: onRangeChanged,
    });
    summary = new Summary($('#view-summary'), { open: (id) => { location.hash = `#/target/${id}`; } });
    sessions = new Sessions($('#view-sessions'), { open: openSession });
    diagnosis = new DiagnosisPanel($('#diagnosis'), { showHop: (hop) => showHopStrip(hop, true) });
    // A live range ends now when the report is asked for, not when the range last moved.
    $('#diag-report').addEventListener('click', () => {
        const r = timeline.range();
        if (state.targetId) $('#diag-report').href = reportUrl(state.targetId, r.start, r.follow ? Date.now() : r.end);
    });
    wireHtmx();
    wireSettings();
    wireTargetView();
    wireTargetBar();
    window.addEventListener('hashchange', () => route());
    // For the tests and the benchmark: the objects behind the page.
    window.pw = { state, timeline, traceGraph, summary, settings, diagnosis };
    try {
        await Promise.all([loadTargets(), loadConfigs()]);
    } catch (e) {
        toast(`The PingWatcher API cannot be read: ${e.message}`);
    }
    setBarFolded(state.targets.length > 0);
    // Targets added elsewhere (the CLI, another browser) show up within half a minute.
    setInterval(() => loadTargets().catch(() => {}), 30000);
    setInterval(() => {
        if (!document.hidden && (state.view === 'summary' || state.view === 'target')) loadFiring();
    }, FIRING_POLL_MS);
    await route();
    document.body.dataset.ready = 'true';
}

start();
