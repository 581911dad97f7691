// PingWatcher — the alerts page: rules (list, create, edit, enable/disable, delete), what is
// firing now, and the history of alert events.
//
// Same safety rule as the main page (js/util.js): everything from the API reaches the DOM as
// textContent or a DOM-set attribute, never through innerHTML.

import {
    $, el, clear, getJSON, mutate, timeEl, toast, toLocalInput, fromLocalInput, fmtDuration,
} from './js/util.js';

const ACTIONS = {
    webhook: { label: 'Webhook', arg: 'url', argLabel: 'URL', type: 'url' },
    email: { label: 'Email', arg: 'to', argLabel: 'Recipient', type: 'email' },
    log: { label: 'Log line', arg: null },
    command: { label: 'Command', arg: 'name', argLabel: 'Configured command name', type: 'text' },
    image: { label: 'Graph image', arg: null },
    comment: { label: 'Timeline comment', arg: null },
};
const REFRESH_MS = 5000;

let targets = []; // [{id, label, host}]
let rules = [];
let editing = null; // id of the rule in the form, or null for a new one
let actionSeq = 0;

function targetName(id) {
    const t = targets.find((x) => String(x.id) === String(id));
    return t ? t.label || t.host : `#${id}`;
}

function hopText(h) {
    return h === undefined || h === null ? 'final' : String(h);
}

function conditionText(r) {
    return `${r.metric} ${r.operator} ${r.threshold} (focus ${r.focus}, ` +
        `${r.duration_samples} sample${r.duration_samples === 1 ? '' : 's'}, hop ${hopText(r.hop)})`;
}

function actionText(a) {
    const d = ACTIONS[a.type];
    const arg = d && d.arg ? a[d.arg] : '';
    return (d ? d.label : a.type) + (arg ? ` ${arg}` : '');
}

/* ---- loading ---- */

async function loadTargets() {
    try {
        const d = await getJSON('/api/targets');
        targets = d.targets || [];
    } catch (e) {
        targets = [];
        toast(`Targets could not be loaded: ${e.message}`);
    }
    fillTargetSelect($('#f-targets'), null);
    fillTargetSelect($('#h-target'), 'Any target');
}

function fillTargetSelect(sel, anyLabel) {
    const keep = new Set(Array.from(sel.selectedOptions).map((o) => o.value));
    clear(sel);
    if (anyLabel) sel.append(el('option', { value: '' }, anyLabel));
    for (const t of targets) {
        const o = el('option', { value: String(t.id) }, `${t.label || t.host} (${t.host}, #${t.id})`);
        o.selected = keep.has(String(t.id));
        sel.append(o);
    }
}

async function loadRules() {
    let d;
    try {
        d = await getJSON('/api/alerts');
    } catch (e) {
        toast(`Alert rules could not be loaded: ${e.message}`);
        return;
    }
    rules = d.rules || [];
    renderRules();
    const hr = $('#h-rule');
    const cur = hr.value;
    clear(hr);
    hr.append(el('option', { value: '' }, 'Any rule'));
    for (const r of rules) hr.append(el('option', { value: String(r.id) }, r.name));
    hr.value = cur && rules.some((r) => String(r.id) === cur) ? cur : '';
}

function renderRules() {
    const body = clear($('#rules-body'));
    $('#rules-empty').hidden = rules.length > 0;
    for (const r of rules) {
        const state = !r.enabled ? 'disabled' : r.firing ? 'firing' : 'quiet';
        const firingTargets = (r.states || []).filter((s) => s.firing).map((s) => targetName(s.target));
        const tg = r.targets === 'all' ? 'All targets' : r.targets.map(targetName).join(', ');
        const row = el('tr', { id: `alert-${r.id}`, dataset: { state } },
            el('td', { className: 'name' }, r.name),
            el('td', null, el('span', { className: `alert-state ${state}` },
                el('span', { 'aria-hidden': 'true' }, state === 'firing' ? '▲ ' : state === 'quiet' ? '● ' : '■ '),
                state === 'firing' ? `Firing (${firingTargets.join(', ')})` : state === 'quiet' ? 'Quiet' : 'Disabled')),
            el('td', null, conditionText(r)),
            el('td', null, tg),
            el('td', null, r.actions.map(actionText).join('; ')),
            el('td', { className: 'manage' },
                el('button', {
                    type: 'button', className: 'btn-small',
                    'aria-label': `${r.enabled ? 'Disable' : 'Enable'} rule ${r.name}`,
                    onclick: () => setEnabled(r, !r.enabled),
                }, r.enabled ? 'Disable' : 'Enable'),
                el('button', {
                    type: 'button', className: 'btn-small', 'aria-label': `Edit rule ${r.name}`,
                    onclick: () => openEditor(r),
                }, 'Edit'),
                el('button', {
                    type: 'button', className: 'btn-small danger', 'aria-label': `Delete rule ${r.name}`,
                    onclick: () => deleteRule(r),
                }, 'Delete')));
        body.append(row);
    }
}

async function loadFiring() {
    let d;
    try {
        d = await getJSON('/api/alerts/firing');
    } catch (e) {
        return; // the rules table shows the error already
    }
    const list = clear($('#firing-list'));
    const f = d.firing || [];
    $('#firing-empty').hidden = f.length > 0;
    for (const x of f) {
        list.append(el('li', { className: 'firing-item' },
            el('span', { className: 'alert-state firing' }, el('span', { 'aria-hidden': 'true' }, '▲ '), x.name),
            ' on ', el('a', { href: `index.html#/target/${encodeURIComponent(x.target)}` },
                x.target_name || `#${x.target}`),
            ' since ', timeEl(x.since_ms),
            ` (${fmtDuration(Date.now() - x.since_ms)})`));
    }
}

async function loadHistory() {
    const f = $('#history-form').elements;
    const start = fromLocalInput(f.start.value);
    const end = fromLocalInput(f.end.value);
    let d;
    try {
        d = await getJSON('/api/alerts/history', {
            rule: f.rule.value, target: f.target.value, limit: f.limit.value,
            start: Number.isNaN(start) ? null : start / 1000,
            end: Number.isNaN(end) ? null : end / 1000,
        });
    } catch (e) {
        toast(`History: ${e.message}`);
        return;
    }
    const body = clear($('#history-body'));
    const h = d.history || [];
    $('#history-empty').hidden = h.length > 0;
    for (const e of h) {
        const acts = (e.actions || []).map((a) =>
            `${a.type}: ${a.ok === true ? 'ok' : a.ok === false ? 'failed' : 'pending'}` +
            (a.detail && a.ok !== undefined ? ` (${a.detail})` : ''));
        body.append(el('tr', { dataset: { state: e.state } },
            el('td', null, timeEl(e.time_ms)),
            el('td', null, e.rule_name || `#${e.rule}`),
            el('td', null, e.target_name || `#${e.target}`),
            el('td', null, el('span', { className: `alert-event ${e.state}` }, e.state)),
            el('td', null, e.value === null || e.value === undefined ? 'ERR'
                : `${e.metric} ${+Number(e.value).toFixed(3)} ${e.operator} ${e.threshold}`),
            el('td', null, e.hop ? String(e.hop) : ''),
            el('td', null, acts.join('; '))));
    }
}

/* ---- the editor ---- */

function addActionRow(a) {
    const n = ++actionSeq;
    const typeSel = el('select', { id: `act-type-${n}`, className: 'act-type' },
        Object.entries(ACTIONS).map(([k, d]) => el('option', { value: k }, d.label)));
    const arg = el('input', { id: `act-arg-${n}`, className: 'act-arg', maxlength: '511', spellcheck: 'false' });
    const argLabel = el('label', { for: `act-arg-${n}` });
    const argField = el('div', { className: 'field' }, argLabel, arg);
    const sync = () => {
        const d = ACTIONS[typeSel.value];
        argField.hidden = !d.arg;
        arg.required = !!d.arg;
        argLabel.textContent = d.arg ? d.argLabel : '';
        arg.type = d.type || 'text';
    };
    typeSel.addEventListener('change', sync);
    const li = el('li', { className: 'action-row' },
        el('div', { className: 'field' }, el('label', { for: `act-type-${n}` }, `Action ${n}`), typeSel),
        argField,
        el('button', {
            type: 'button', className: 'btn-small danger', 'aria-label': `Remove action ${n}`,
            onclick: () => { li.remove(); },
        }, 'Remove'));
    if (a) {
        typeSel.value = a.type in ACTIONS ? a.type : 'log';
        const d = ACTIONS[typeSel.value];
        if (d.arg) arg.value = a[d.arg] || '';
    }
    sync();
    $('#actions-list').append(li);
    return typeSel;
}

function openEditor(r) {
    const f = $('#rule-form');
    editing = r ? r.id : null;
    $('#editor-heading').textContent = r ? `Edit rule “${r.name}”` : 'New rule';
    f.reset();
    showFormError(null);
    clear($('#actions-list'));
    f.elements.name.value = r ? r.name : '';
    f.elements.enabled.checked = r ? r.enabled : true;
    const all = !r || r.targets === 'all';
    $('#f-all').checked = all;
    $('#f-some').checked = !all;
    const sel = $('#f-targets');
    sel.disabled = all;
    for (const o of sel.options) o.selected = !all && r.targets.map(String).includes(o.value);
    if (r) {
        f.elements.metric.value = r.metric;
        f.elements.operator.value = r.operator;
        f.elements.threshold.value = r.threshold;
        f.elements.focus.value = r.focus;
        f.elements.duration_samples.value = r.duration_samples;
        f.elements.hop.value = hopText(r.hop);
        f.elements.repeat_interval_s.value = r.repeat_interval_s;
        for (const a of r.actions) addActionRow(a);
    } else {
        addActionRow({ type: 'log' });
    }
    $('#rule-editor').hidden = false;
    f.elements.name.focus();
}

function closeEditor() {
    $('#rule-editor').hidden = true;
    editing = null;
    $('#rule-new').focus();
}

function showFormError(msg) {
    const e = $('#form-error');
    e.hidden = !msg;
    e.textContent = msg || '';
}

/* The rule in the form as the API takes it; throws Error with a message for the user. */
function formRule() {
    const f = $('#rule-form').elements;
    const num = (name, what) => {
        const v = f[name].value.trim();
        if (v === '' || !Number.isFinite(Number(v))) throw new Error(`${what} must be a number`);
        return Number(v);
    };
    const name = f.name.value.trim();
    if (!name) throw new Error('Give the rule a name');
    let tg = 'all';
    if ($('#f-some').checked) {
        tg = Array.from($('#f-targets').selectedOptions).map((o) => o.value);
        if (!tg.length) throw new Error('Pick at least one target, or choose all targets');
    }
    const hop = f.hop.value.trim() || 'final';
    const actions = [];
    for (const li of $('#actions-list').children) {
        const type = $('.act-type', li).value;
        const d = ACTIONS[type];
        const a = { type };
        if (d.arg) {
            const v = $('.act-arg', li).value.trim();
            if (!v) throw new Error(`The ${d.label.toLowerCase()} action needs its ${d.argLabel.toLowerCase()}`);
            a[d.arg] = v;
        }
        actions.push(a);
    }
    if (!actions.length) throw new Error('Add at least one action');
    return {
        name, enabled: f.enabled.checked, targets: tg, metric: f.metric.value,
        operator: f.operator.value, threshold: num('threshold', 'Threshold'),
        focus: num('focus', 'Focus'), duration_samples: num('duration_samples', 'Holds for'),
        hop: /^\d+$/.test(hop) ? Number(hop) : hop,
        repeat_interval_s: num('repeat_interval_s', 'Repeat interval'), actions,
    };
}

async function saveRule(ev) {
    ev.preventDefault();
    let rule;
    try {
        rule = formRule();
    } catch (e) {
        showFormError(e.message);
        return;
    }
    const btn = $('#rule-save');
    btn.disabled = true;
    try {
        if (editing === null) await mutate('POST', '/api/alerts', rule);
        else await mutate('PATCH', `/api/alerts/${editing}`, rule);
        toast(`Rule “${rule.name}” saved`, 'info');
        closeEditor();
        await Promise.all([loadRules(), loadFiring()]);
    } catch (e) {
        showFormError(e.message);
    } finally {
        btn.disabled = false;
    }
}

async function setEnabled(r, on) {
    try {
        await mutate('PATCH', `/api/alerts/${r.id}`, { enabled: on });
        toast(`Rule “${r.name}” ${on ? 'enabled' : 'disabled'}`, 'info');
    } catch (e) {
        toast(e.message);
    }
    await Promise.all([loadRules(), loadFiring()]);
}

async function deleteRule(r) {
    if (!window.confirm(`Delete the alert rule “${r.name}”? Its history stays.`)) return;
    try {
        await mutate('DELETE', `/api/alerts/${r.id}`);
        toast(`Rule “${r.name}” deleted`, 'info');
        if (editing === r.id) closeEditor();
    } catch (e) {
        toast(e.message);
    }
    await Promise.all([loadRules(), loadFiring()]);
    $('#rule-new').focus();
}

/* ---- start ---- */

function init() {
    $('#rule-new').addEventListener('click', () => openEditor(null));
    $('#rule-cancel').addEventListener('click', closeEditor);
    $('#rule-form').addEventListener('submit', saveRule);
    $('#rule-form').addEventListener('keydown', (e) => {
        if (e.key === 'Escape') closeEditor();
    });
    $('#action-add').addEventListener('click', () => addActionRow(null).focus());
    // The diagnosis is 1 or 0: the daemon takes only ">= 1", over at least 20 samples.
    $('#f-metric').addEventListener('change', () => {
        const f = $('#rule-form').elements;
        if (f.metric.value !== 'diagnosis') return;
        f.operator.value = '>=';
        f.threshold.value = '1';
        if (!(Number(f.focus.value) >= 20)) f.focus.value = '300';
    });
    for (const id of ['#f-all', '#f-some']) {
        $(id).addEventListener('change', () => {
            $('#f-targets').disabled = $('#f-all').checked;
        });
    }
    $('#history-form').addEventListener('submit', (e) => {
        e.preventDefault();
        loadHistory();
    });
    const now = Date.now();
    $('#h-start').value = toLocalInput(now - 86400000);
    loadTargets().then(() => Promise.all([loadRules(), loadFiring(), loadHistory()]));
    setInterval(() => {
        if (document.hidden) return;
        loadRules();
        loadFiring();
    }, REFRESH_MS);
}

init();
