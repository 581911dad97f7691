// Browser tests of one target's page against the real stack on the route_change scenario
// (plain path, hops 4-6 replaced 20 s after netsim is ready): trace graph, focus, timeline,
// double-click focus, route change annotation, live updates, adding and removing a target,
// export, sessions, comments, themes, a phone-sized screen, keyboard use.
//
//   node --test tests/browser/        (as root, after building; PW_BUILD_DIR=... for another build)

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';

import { Stack, launchBrowser, missing, newPage, screenshot } from './stack.mjs';
import { expectedRow, luminance, parseCsv, pick, traceRows } from './helpers.mjs';

const why = missing();
const COLS = ['hop', 'ip', 'dns', 'avg', 'min', 'cur', 'loss', 'jitter'];

/* The final hop's plot, scrolled into view (mouse positions are viewport positions). */
async function plotBox(page) {
    const over = page.locator('.strip[data-hop="last"] .u-over');
    await over.scrollIntoViewIfNeeded();
    return over.boundingBox();
}

describe('target page on the route_change scenario', { skip: why || false }, () => {
    let stack, browser, page, tid, scenario;

    before(async () => {
        stack = await new Stack({
            scenario: 'route_change.json',
            daemonConfig: {
                targets: [{ host: '198.18.100.10', label: 'sim target' }],
                configurations: { fast: { trace_interval: 1, timeout: 1 } },
            },
        }).start();
        scenario = stack.scenario;
        browser = await launchBrowser();
        const targets = await stack.api('/api/targets');
        tid = targets.targets[0].id;
        await stack.waitSamples(tid, 25);
        page = await newPage(browser, stack.base);
        await page.goto(`/#/target/${tid}`);
        await page.waitForSelector('body[data-ready="true"]');
    });

    after(async () => {
        try {
            if (page) {
                await screenshot(page, 'trace-final').catch(() => {});
                assert.deepEqual(page.problems, [], 'the page logged errors');
            }
        } finally {
            if (browser) await browser.close();
            if (stack) await stack.stop();
        }
    });

    /* The scenario's route at a given moment after netsim started, with the destination. */
    function routeAt(sec) {
        let hops = scenario.hops;
        for (const rc of scenario.route_changes || []) if (sec >= rc.at_s) hops = rc.hops;
        return [...hops, scenario.dest];
    }

    async function showAt(at, focus = '10') {
        await page.evaluate((f) => window.pw.settings().focus !== f && document.getElementById(`focus-${f}`).click(), focus);
        await page.goto(`/#/target/${tid}?at=${at}`);
        await page.waitForFunction((a) => {
            const cap = document.querySelector('#tg-caption');
            return window.pw.state.hops && window.pw.state.hops.at_ms === a && cap.textContent.includes('ending');
        }, at);
    }

    test('the trace graph shows one row per hop, with the values of the API', async () => {
        const at = Date.now() - 2000;
        await showAt(at);
        const api = await stack.api(`/api/targets/${tid}/hops?focus=10&at=${(at / 1000).toFixed(3)}`);
        const route = routeAt((at - stack.t0) / 1000);
        assert.equal(api.hops.length, route.length, 'the API has one hop per scenario hop');
        const rows = await traceRows(page);
        assert.equal(rows.length, route.length, 'one row per hop');
        rows.forEach((r, i) => {
            assert.deepEqual(pick(r, COLS), expectedRow(api.hops[i]), `hop ${i + 1}`);
            assert.equal(r.ip, route[i].addr, `hop ${i + 1} is the scenario's router`);
            assert.equal(r.dns, route[i].name || '----------', `hop ${i + 1} DNS name`);
        });
        const caption = await page.textContent('#tg-caption');
        assert.match(caption, /statistics over the last 10 samples ending/);
        await screenshot(page, 'trace-graph-at');
    });

    test('the graph column draws every hop on one latency scale', async () => {
        const g = await page.evaluate(() => {
            const ov = document.getElementById('tg-overlay');
            const head = document.querySelector('#trace-table th.graph').getBoundingClientRect();
            const ob = ov.getBoundingClientRect();
            const marks = Array.from(ov.querySelectorAll('.avg-mark')).map((m) => {
                const b = m.getBoundingClientRect();
                return { x: b.left + b.width / 2 - ob.left, y: b.top + b.height / 2 };
            });
            const rows = Array.from(document.querySelectorAll('#trace-table tbody tr')).map((tr) => {
                const b = tr.getBoundingClientRect();
                return b.top + b.height / 2;
            });
            return {
                marks,
                rows,
                width: Number(ov.getAttribute('width')),
                scale: window.pw.traceGraph.scaleMax,
                inside: ob.left >= head.left - 1 && ob.right <= head.right + 1,
                line: !!ov.querySelector('polyline.avg-line'),
                ranges: ov.querySelectorAll('rect.range').length,
                avgs: window.pw.state.hops.hops.map((h) => h.avg_ms),
            };
        });
        assert.ok(g.inside, 'the overlay lies over the graph column');
        assert.ok(g.line, 'a line joins the averages');
        assert.equal(g.marks.length, g.avgs.filter((v) => v !== null).length, 'one average marker per hop with replies');
        assert.equal(g.ranges, g.marks.length, 'one min-max range per hop with replies');
        g.marks.forEach((m, i) => {
            assert.ok(Math.abs(m.x - (g.avgs[i] / g.scale) * g.width) <= 1.5, `hop ${i + 1}: marker at its average on the shared scale`);
            assert.ok(Math.abs(m.y - g.rows[i]) <= 1.5, `hop ${i + 1}: marker on its row`);
        });
    });

    test('changing the focus changes the figures', async () => {
        await stack.waitSamples(tid, 30);
        const at = Date.now() - 1000;
        await showAt(at, '10');
        const before10 = await traceRows(page);
        await page.click('label[for="focus-25"]');
        await page.waitForFunction(() => window.pw.state.hops?.focus === 25 &&
            document.querySelector('#tg-caption').textContent.includes('last 25 samples'));
        const rows25 = await traceRows(page);
        const api = await stack.api(`/api/targets/${tid}/hops?focus=25&at=${(at / 1000).toFixed(3)}`);
        assert.equal(api.samples, 25);
        rows25.forEach((r, i) => assert.deepEqual(pick(r, COLS), expectedRow(api.hops[i]), `hop ${i + 1} over 25 samples`));
        assert.notDeepEqual(rows25.map((r) => r.avgValue), before10.map((r) => r.avgValue),
            'the averages over 25 samples differ from those over 10');
        await page.click('label[for="focus-all"]');
        await page.waitForFunction(() => window.pw.state.hops?.focus === 'all' &&
            document.querySelector('#tg-caption').textContent.includes('all samples'));
        await page.click('label[for="focus-10"]');
        await page.waitForFunction(() => window.pw.state.hops?.focus === 10);
        await page.click('#back-live');
        await page.waitForFunction(() => window.pw.state.hops?.at === null);
    });

    test('the timeline draws and its presets change the range', async () => {
        await page.goto(`/#/target/${tid}`);
        await page.waitForSelector('#tl-strips .strip[data-hop="last"] canvas');
        await page.waitForFunction(() => Number(document.querySelector('.strip[data-hop="last"]').dataset.buckets) > 0);
        for (const [preset, span] of [['10m', 600e3], ['1h', 3600e3], ['6h', 6 * 3600e3], ['24h', 86400e3], ['7d', 7 * 86400e3]]) {
            const gen = await page.evaluate(() => Number(document.getElementById('timeline').dataset.loaded || 0));
            await page.click(`[data-preset="${preset}"]`);
            await page.waitForFunction((g) => Number(document.getElementById('timeline').dataset.loaded) > g, gen);
            const r = await page.evaluate(() => window.pw.timeline.range());
            assert.equal(r.span, span, `${preset}: span`);
            assert.ok(r.follow && Math.abs(r.end - Date.now()) < 5000, `${preset}: ends now`);
            assert.equal(await page.getAttribute(`[data-preset="${preset}"]`, 'aria-pressed'), 'true');
            const res = Number(await page.getAttribute('.strip[data-hop="last"]', 'data-resolution'));
            assert.ok(res > 0, `${preset}: resolution given`);
        }
        // A longer range is read at a coarser resolution.
        const res7d = Number(await page.getAttribute('.strip[data-hop="last"]', 'data-resolution'));
        await page.click('[data-preset="10m"]');
        await page.waitForFunction(() => window.pw.timeline.range().span === 600e3 &&
            Number(document.querySelector('.strip[data-hop="last"]').dataset.resolution) < 60);
        const res10m = Number(await page.getAttribute('.strip[data-hop="last"]', 'data-resolution'));
        assert.ok(res10m < res7d, `10 min resolution ${res10m} s finer than 7 d ${res7d} s`);
        // Zoom and pan buttons.
        await page.click('#tl-zoom-in');
        assert.equal((await page.evaluate(() => window.pw.timeline.range())).span, 300e3);
        await page.click('#tl-back');
        let r = await page.evaluate(() => window.pw.timeline.range());
        assert.equal(r.follow, false, 'moving back stops following now');
        await page.click('#tl-live');
        r = await page.evaluate(() => window.pw.timeline.range());
        assert.equal(r.follow, true);
        await page.click('[data-preset="10m"]');
        // Another hop's strip, on and off.
        await page.check('#tl-hop-4');
        await page.waitForFunction(() => Number(document.querySelector('.strip[data-hop="4"]')?.dataset.buckets) > 0);
        const strips = await page.$$eval('#tl-strips .strip', (s) => s.map((x) => x.dataset.hop));
        assert.deepEqual(strips, ['4', 'last'], 'strips in hop order');
        assert.match(await page.textContent('.strip[data-hop="4"] .strip-title'), /^Hop 4 — 198\.18\./);
        await screenshot(page, 'timeline-10min');
        await page.uncheck('#tl-hop-4');
        await page.waitForSelector('.strip[data-hop="4"]', { state: 'detached' });
    });

    test('dragging pans and the wheel zooms, refetching the range', async () => {
        await page.waitForFunction(() => window.pw.timeline.range().span === 600e3);
        const box = await plotBox(page);
        const before = await page.evaluate(() => window.pw.timeline.range());
        const gen = await page.evaluate(() => Number(document.getElementById('timeline').dataset.loaded));
        await page.mouse.move(box.x + box.width * 0.3, box.y + box.height / 2);
        await page.mouse.down();
        await page.mouse.move(box.x + box.width * 0.6, box.y + box.height / 2, { steps: 5 });
        await page.mouse.up();
        await page.waitForFunction((g) => Number(document.getElementById('timeline').dataset.loaded) > g, gen);
        const panned = await page.evaluate(() => window.pw.timeline.range());
        assert.ok(panned.end < before.end - 60e3, 'dragging right shows earlier times');
        assert.equal(panned.follow, false);
        assert.ok(Math.abs(panned.span - before.span) < 1, 'a pan keeps the span');
        await page.mouse.move(box.x + box.width / 2, box.y + box.height / 2);
        await page.mouse.wheel(0, -200);
        await page.waitForFunction((s) => window.pw.timeline.range().span < s, before.span);
        await page.click('#tl-live');
        await page.click('[data-preset="10m"]');
    });

    test('a double-click on the timeline shows the trace graph at that moment, with a way back', async () => {
        await page.waitForFunction(() => window.pw.timeline.range().span === 600e3);
        const box = await plotBox(page);
        // A moment with data: halfway between the first bucket and now.
        const x = await page.evaluate(() => {
            const s = window.pw.timeline.strips.get('last');
            const t = (s.data[0][0] + Date.now() / 1000) / 2;
            return s.u.valToPos(t, 'x');
        });
        const [req] = await Promise.all([
            page.waitForRequest((r) => r.url().includes('/hops?') && r.url().includes('at=')),
            page.mouse.dblclick(box.x + x, box.y + box.height / 2),
        ]);
        const at = Number(new URL(req.url()).searchParams.get('at')) * 1000;
        await page.waitForSelector('#history-banner:not([hidden])');
        const state = await page.evaluate(() => ({ at: window.pw.state.at, focusAt: window.pw.timeline.focusAt, hopsAt: window.pw.state.hops.at_ms }));
        assert.ok(Math.abs(state.at - at) <= 1, 'the hops were asked for that moment');
        assert.equal(state.focusAt, state.at, 'the timeline marks the moment');
        const r = await page.evaluate(() => window.pw.timeline.range());
        assert.ok(at > r.start && at < r.end, 'the moment lies in the visible range');
        assert.match(await page.textContent('#history-banner'), /not live figures/);
        assert.match(await page.textContent('#tg-caption'), /ending \d{4}-\d\d-\d\d/);
        const api = await stack.api(`/api/targets/${tid}/hops?focus=10&at=${(state.at / 1000).toFixed(3)}`);
        assert.equal(api.samples, 10, 'a moment with a full focus window');
        const rows = await traceRows(page);
        assert.equal(rows.length, api.hops.length);
        rows.forEach((row, i) => assert.deepEqual(pick(row, COLS), expectedRow(api.hops[i])));
        await screenshot(page, 'trace-focused-moment');
        await page.click('#back-live');
        await page.waitForSelector('#history-banner', { state: 'hidden' });
        assert.equal(await page.evaluate(() => window.pw.state.at), null);
        assert.match(await page.textContent('#tg-caption'), /ending now/);
    });

    test('live updates arrive without a reload', async () => {
        await page.evaluate(() => {
            window.__noReload = true;
        });
        await page.waitForSelector('#live-status[data-state="live"]');
        const first = await page.evaluate(() => Number(document.body.dataset.lastSample || 0));
        await page.waitForFunction((f) => Number(document.body.dataset.lastSample || 0) > f + 1000, first, { timeout: 10000 });
        const cur1 = await page.evaluate(() => window.pw.state.hops.hops.at(-1).cur_ms);
        const tl1 = await page.evaluate(() => window.pw.timeline.strips.get('last').data[0].at(-1));
        await page.waitForFunction(([c, t]) => {
            const s = window.pw.timeline.strips.get('last');
            return window.pw.state.hops?.hops.at(-1).cur_ms !== c && s.data[0].at(-1) > t;
        }, [cur1, tl1], { timeout: 15000 });
        assert.equal(await page.evaluate(() => window.__noReload), true, 'the page was not reloaded');
    });

    test('the route change appears as an annotation and in the log', async () => {
        const at = scenario.route_changes[0].at_s;
        const wait = stack.t0 + (at + 3) * 1000 - Date.now();
        if (wait > 0) await sleep(wait);
        await page.waitForSelector('.strip[data-hop="last"] .ann-route:not([hidden])', { timeout: 15000 });
        const row = await page.$$eval('#rc-table tbody tr', (trs) => trs.map((tr) => Array.from(tr.cells).map((c) => c.textContent.trim())));
        const api = await stack.api(`/api/targets/${tid}/route_changes`);
        assert.equal(api.route_changes.length, 1, 'one route change recorded');
        const ch = api.route_changes[0];
        assert.equal(ch.first_hop, 4);
        assert.equal(ch.was, scenario.hops[3].addr);
        assert.equal(ch.now, scenario.route_changes[0].hops[3].addr);
        assert.equal(row.length, 1);
        assert.deepEqual(row[0].slice(1, 4), ['4', ch.was, ch.now]);
        // Around the moment netsim changed the route.
        assert.ok(Math.abs(ch.time_ms - (stack.t0 + at * 1000)) < 3000, 'change time near the scenario\'s');
        const marker = page.locator('.strip[data-hop="last"] .ann-route').first();
        await marker.hover();
        const tip = await page.textContent('#tooltip');
        assert.match(tip, /Route change/);
        assert.ok(tip.includes(ch.was) && tip.includes(ch.now), 'the details name both routers');
        // The marker sits at the change's time on the plot.
        const pos = await page.evaluate((t) => {
            const s = window.pw.timeline.strips.get('last');
            const m = s.box.querySelector('.ann-route');
            return { want: s.u.valToPos(t / 1000, 'x'), got: parseFloat(m.style.left) };
        }, ch.time_ms);
        assert.ok(Math.abs(pos.want - pos.got) < 1);
        await screenshot(page, 'route-change-annotation');
        // "Show" in the log centres the timeline on the change.
        await page.click('#rc-table tbody tr button');
        const r = await page.evaluate(() => window.pw.timeline.range());
        assert.ok(ch.time_ms > r.start && ch.time_ms < r.end && !r.follow);
        await page.click('#tl-live');
    });

    test('a comment can be added at a picked moment, shows on the timeline, and is deleted', async () => {
        const box = await plotBox(page);
        await page.mouse.click(box.x + box.width * 0.5, box.y + box.height / 2);
        const picked = await page.evaluate(() => window.pw.timeline.pickAt);
        assert.ok(picked > 0, 'a click picks a moment');
        const text = 'probe <b>comment</b> & "quotes"';
        await page.fill('#comment-text', text);
        await page.click('#comment-form button[type="submit"]');
        await page.waitForSelector('#cm-table tbody tr[id^="comment-"]');
        const api = await stack.api(`/api/targets/${tid}/comments`);
        assert.equal(api.comments.length, 1);
        assert.equal(api.comments[0].text, text);
        assert.ok(Math.abs(api.comments[0].time_ms - picked) < 1000, 'stored at the picked moment (to the second)');
        assert.equal(await page.textContent('#cm-table tbody tr .comment-text'), text, 'shown as text');
        await page.waitForSelector('.strip[data-hop="last"] .ann-comment:not([hidden])');
        await page.locator('.strip[data-hop="last"] .ann-comment').first().hover();
        assert.ok((await page.textContent('#tooltip')).includes(text));
        await page.click('#cm-table tbody tr .danger');
        await page.waitForFunction(() => !document.querySelector('#cm-table tbody tr[id^="comment-"]'));
        assert.equal((await stack.api(`/api/targets/${tid}/comments`)).comments.length, 0);
    });

    test('export downloads a CSV whose rows match the store', async () => {
        const end = Date.now() - 3000;
        const start = end - 20 * 1000;
        await page.goto(`/#/target/${tid}?start=${start}&end=${end}`);
        await page.waitForFunction((e) => window.pw.timeline.range().end === e, end);
        const [dl] = await Promise.all([page.waitForEvent('download'), page.click('#export-csv')]);
        assert.match(dl.suggestedFilename(), /^pingwatcher-\d+-sim_target-.*\.csv$/);
        const csv = parseCsv(readFileSync(await dl.path(), 'utf8'));
        const cli = parseCsv(stack.cli(['export', String(tid), '--format', 'csv',
            '--start', (start / 1000).toFixed(3), '--end', (end / 1000).toFixed(3)]));
        assert.deepEqual(csv[0], ['time', 'time_ms', 'hop', 'ip', 'dns', 'rtt_ms', 'timeout']);
        const page_ = csv.slice(1).filter((r) => r.length > 1);
        const store = cli.slice(1).filter((r) => r.length > 1);
        assert.ok(store.length >= 200, `the store has ${store.length} rows in those 20 s`);
        assert.equal(page_.length, store.length, 'as many rows as the store');
        // CLI: time,time_us,hop,ip,dns,rtt_ms,timeout (µs, 3 decimals); the API: ms, trimmed.
        page_.forEach((r, i) => {
            const s = store[i];
            assert.equal(Number(r[1]), Math.floor(Number(s[1]) / 1000), `row ${i}: time`);
            assert.deepEqual([r[2], r[3], r[4], r[6]], [s[2], s[3], s[4], s[6]], `row ${i}`);
            assert.equal(r[5] === '' ? null : Number(r[5]), s[5] === '' ? null : Number(s[5]), `row ${i}: rtt`);
        });
    });

    test('sessions: save the visible range, list, filter by date, open, export, delete', async () => {
        const end = Date.now() - 2000;
        const start = end - 60 * 1000;
        await page.goto(`/#/target/${tid}?start=${start}&end=${end}`);
        await page.waitForFunction((e) => window.pw.timeline.range().end === e, end);
        await page.fill('#session-name', 'before <the> change');
        await page.click('#session-form button[type="submit"]');
        await page.waitForSelector('#ts-table tbody tr[id^="session-"]');
        const list = (await stack.api('/api/sessions')).sessions;
        assert.equal(list.length, 1);
        assert.equal(list[0].name, 'before <the> change');
        assert.equal(list[0].start_ms, start);
        assert.equal(list[0].end_ms, end);
        await page.goto('/#/sessions');
        await page.waitForSelector('#sessions-table tbody tr[id^="session-"]');
        const today = await page.evaluate(() => {
            const d = new Date();
            return `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, '0')}-${String(d.getDate()).padStart(2, '0')}`;
        });
        await page.fill('#sessions-from', '2000-01-01');
        await page.fill('#sessions-to', '2000-01-02');
        await page.waitForSelector('#sessions-table tbody tr[id^="session-"]', { state: 'detached' });
        await page.fill('#sessions-from', today);
        await page.fill('#sessions-to', today);
        await page.waitForSelector('#sessions-table tbody tr[id^="session-"]');
        await screenshot(page, 'sessions');
        const [dl] = await Promise.all([page.waitForEvent('download'), page.click('#sessions-table a:text("JSON")')]);
        const j = JSON.parse(readFileSync(await dl.path(), 'utf8'));
        assert.equal(j.session.name, 'before <the> change');
        assert.ok(j.rows.length > 0 && j.rows.every((r) => r.time_ms >= start && r.time_ms <= end));
        await page.click('#sessions-table button:text("Open")');
        await page.waitForFunction((e) => location.hash.startsWith('#/target/') && window.pw.timeline.range().end === e, end);
        const r = await page.evaluate(() => window.pw.timeline.range());
        assert.equal(r.start, start);
        assert.equal(r.follow, false);
        await page.goto('/#/sessions');
        await page.click('#sessions-table button.danger');
        await page.waitForSelector('#sessions-table tbody tr[id^="session-"]', { state: 'detached' });
        assert.equal((await stack.api('/api/sessions')).sessions.length, 0);
    });

    test('a target is added and removed through the page', async () => {
        await page.goto(`/#/target/${tid}`);
        await page.fill('#add-host', '198.18.100.10');
        await page.fill('#add-label', 'added <by> page');
        await page.selectOption('#add-packet_type', 'udp');
        await page.selectOption('#add-trace_interval', '1');
        assert.ok((await page.$$eval('#add-config option', (o) => o.map((x) => x.value))).includes('fast'), 'named configurations offered');
        await page.selectOption('#add-config', 'fast');
        await page.click('#add-form .more-options summary');
        await page.fill('#add-max_hops', '12');
        await page.click('#add-form button[type="submit"]');
        await page.waitForFunction((old) => location.hash.startsWith('#/target/') && location.hash !== `#/target/${old}`, tid);
        const nid = Number(/#\/target\/(\d+)/.exec(await page.evaluate(() => location.hash))[1]);
        const t = await stack.api(`/api/targets/${nid}`);
        assert.equal(t.label, 'added <by> page');
        assert.equal(t.packet_type, 'udp');
        assert.equal(t.trace_interval, 1);
        assert.equal(t.max_hops, 12);
        assert.equal(t.config, 'fast');
        assert.equal(await page.textContent('#target-title'), 'added <by> page');
        assert.ok((await page.textContent('#target-list')).includes('added <by> page'));
        await page.waitForFunction(() => window.pw.state.hops && window.pw.state.hops.hops.length > 0, null, { timeout: 15000 });
        await screenshot(page, 'added-target');
        // Its options: only what changed is sent.
        await page.click('#target-options summary');
        assert.equal(await page.inputValue('#edit-trace_interval'), '1');
        await page.fill('#edit-trace_interval', '2');
        const [patch] = await Promise.all([
            page.waitForRequest((r) => r.method() === 'PATCH'),
            page.click('#edit-form button[type="submit"]'),
        ]);
        assert.equal(patch.postData(), 'trace_interval=2');
        await page.waitForFunction(() => document.getElementById('target-meta').textContent.includes('every 2 s'));
        assert.equal((await stack.api(`/api/targets/${nid}`)).trace_interval, 2);
        // Pause and resume.
        await page.click('#btn-pause');
        await page.waitForSelector('#btn-resume:not([hidden])');
        assert.equal((await stack.api(`/api/targets/${nid}`)).paused, true);
        await page.click('#btn-resume');
        await page.waitForSelector('#btn-pause:not([hidden])');
        assert.equal((await stack.api(`/api/targets/${nid}`)).paused, false);
        // Stop and remove (the confirmation is accepted).
        await page.click('#btn-stop');
        await page.waitForFunction(() => location.hash === '#/summary');
        const left = (await stack.api('/api/targets')).targets.map((x) => x.id);
        assert.ok(!left.includes(nid), 'removed from the daemon');
        assert.ok(!(await page.textContent('#target-list')).includes('added <by> page'));
    });

    test('switching views while their reads are out leaves no errors and the last view shown', async () => {
        // Each switch abandons the previous view's reads (aborted mid-request or mid-body).
        for (let i = 0; i < 12; i++) {
            await page.evaluate((h) => { location.hash = h; }, i % 2 ? '#/summary' : `#/target/${tid}?range=1h`);
            await sleep(i * 7);
        }
        await page.evaluate((h) => { location.hash = h; }, `#/target/${tid}`);
        await page.waitForFunction((id) => window.pw.state.view === 'target' && window.pw.state.hops?.hops.length > 0 &&
            document.querySelectorAll('#trace-table tbody tr[data-hop]').length > 0, tid);
        assert.deepEqual(page.problems, [], 'errors while switching views');
    });

    test('a bad host is refused with the app\'s message next to the form', async () => {
        await page.fill('#add-host', 'bad host!');
        await page.evaluate(() => document.getElementById('add-host').removeAttribute('pattern'));
        await page.click('#add-form button[type="submit"]');
        await page.waitForSelector('#add-error:not([hidden])');
        assert.match(await page.textContent('#add-error'), /host must be a host name or an IP address/);
        // The 400 was expected: the browser and HTMX log it.
        page.problems = page.problems.filter((m) => !/400|Bad Request/.test(m));
        await page.fill('#add-host', '');
    });

    test('colour thresholds are set in the settings, with symbols as well as colours', async () => {
        await page.goto(`/#/target/${tid}`);
        await page.waitForSelector('body[data-rendered]');
        await page.click('#settings-open');
        await page.fill('#set-latWarn', '5');
        await page.fill('#set-latBad', '15');
        await page.click('#settings-save');
        await page.waitForFunction(() => window.pw.settings().latBad === 15);
        const sev = await page.$$eval('#trace-table tbody tr[data-hop]', (trs) => trs.map((tr) => {
            const s = tr.querySelector('td.avg .sev');
            const m = tr.querySelector('td.avg');
            return { avg: Number(m.dataset.value), label: s ? s.getAttribute('aria-label') : 'normal', icon: s ? s.textContent : '' };
        }));
        for (const r of sev) {
            const want = r.avg >= 15 ? ['high', '■'] : r.avg >= 5 ? ['elevated', '▲'] : ['normal', ''];
            assert.deepEqual([r.label, r.icon], want, `avg ${r.avg}`);
        }
        const shapes = await page.$$eval('#tg-overlay .avg-mark', (m) => m.map((x) => x.tagName + ':' + x.getAttribute('class')));
        assert.ok(shapes.some((x) => x.startsWith('rect:') && x.includes('sev-bad')), 'high: a square marker');
        assert.ok(shapes.some((x) => x.startsWith('path:') && x.includes('sev-warn')), 'elevated: a triangle marker');
        assert.ok(shapes.some((x) => x.startsWith('circle:') && x.includes('sev-ok')), 'normal: a round marker');
        await screenshot(page, 'thresholds');
        await page.click('#settings-open');
        await page.click('#settings-reset');
        await page.click('#settings-save');
        await page.waitForFunction(() => window.pw.settings().latBad === 250);
    });

    test('the live stream shows its state and reconnects after the app restarts', async () => {
        await page.waitForSelector('#live-status[data-state="live"]');
        await page.evaluate(() => {
            window.__states = [];
            const box = document.getElementById('live-status');
            new MutationObserver(() => window.__states.push(box.dataset.state)).observe(box, { attributes: true });
        });
        await stack.restartFcgi(2500);
        await page.waitForSelector('#live-status[data-state="live"]', { timeout: 20000 });
        const states = await page.evaluate(() => window.__states);
        assert.ok(states.some((x) => x === 'reconnecting' || x === 'offline'), `the indicator showed the outage: ${states}`);
        assert.match(await page.textContent('#live-status'), /Live/);
        const seen = await page.evaluate(() => document.body.dataset.lastSample);
        await page.waitForFunction((f) => Number(document.body.dataset.lastSample) > Number(f), seen, { timeout: 10000 });
        // Failed requests while the app was down are expected.
        page.problems = page.problems.filter((m) => !/HTTP 50[23]|ERR_/.test(m));
    });

    test('both themes render, following the system and with the toggle', async () => {
        for (const scheme of ['light', 'dark']) {
            const p = await newPage(browser, stack.base, { colorScheme: scheme });
            await p.goto(`/#/target/${tid}?range=10m`);
            await p.waitForSelector('body[data-rendered]');
            await p.waitForSelector('.strip[data-hop="last"] canvas');
            const bg = await p.evaluate(() => getComputedStyle(document.body).backgroundColor === 'rgba(0, 0, 0, 0)' ?
                getComputedStyle(document.documentElement).backgroundColor : getComputedStyle(document.body).backgroundColor);
            const fg = await p.evaluate(() => getComputedStyle(document.body).color);
            assert.equal(await p.getAttribute('html', 'data-effective-theme'), scheme);
            if (scheme === 'dark') assert.ok(luminance(bg) < 0.05 && luminance(fg) > 0.5, `dark: ${bg} / ${fg}`);
            else assert.ok(luminance(bg) > 0.8 && luminance(fg) < 0.05, `light: ${bg} / ${fg}`);
            await screenshot(p, `theme-${scheme}`);
            // The toggle: auto -> light -> dark, whatever the system says.
            await p.click('#theme-toggle');
            assert.equal(await p.getAttribute('html', 'data-effective-theme'), 'light');
            await p.click('#theme-toggle');
            assert.equal(await p.getAttribute('html', 'data-effective-theme'), 'dark');
            assert.deepEqual(p.problems, []);
            await p.context().close();
        }
    });

    test('a phone-sized screen shows the page without sideways scrolling', async () => {
        const p = await newPage(browser, stack.base, {
            viewport: { width: 390, height: 844 },
            context: { isMobile: true, hasTouch: true, deviceScaleFactor: 2 },
        });
        await p.goto(`/#/target/${tid}?range=10m`);
        await p.waitForSelector('body[data-rendered]');
        await p.waitForSelector('.strip[data-hop="last"] canvas');
        const w = await p.evaluate(() => ({ doc: document.documentElement.scrollWidth, view: window.innerWidth }));
        assert.ok(w.doc <= w.view + 1, `the page is ${w.doc} px wide on a ${w.view} px screen`);
        const canvasW = await p.evaluate(() => document.querySelector('.strip canvas').getBoundingClientRect().width);
        assert.ok(canvasW <= 390 && canvasW > 250, `timeline ${canvasW} px wide`);
        await screenshot(p, 'phone-trace');
        await p.goto('/#/summary');
        await p.waitForSelector('#summary-table tbody tr[data-id]');
        await screenshot(p, 'phone-summary');
        assert.deepEqual(p.problems, []);
        await p.context().close();
    });

    test('the controls are reachable from the keyboard', async () => {
        await page.goto(`/#/target/${tid}?range=10m`);
        await page.waitForSelector('body[data-rendered]');
        // The focus selector: arrow keys move between the radio buttons.
        await page.focus('#focus-10');
        await page.keyboard.press('ArrowRight');
        await page.waitForFunction(() => window.pw.settings().focus === '25');
        await page.keyboard.press('ArrowLeft');
        await page.waitForFunction(() => window.pw.settings().focus === '10');
        // The timeline: arrows pan, Enter focuses the trace graph.
        await page.focus('.strip[data-hop="last"] .plot');
        await page.keyboard.press('ArrowLeft');
        assert.equal((await page.evaluate(() => window.pw.timeline.range())).follow, false);
        await page.keyboard.press('Enter');
        await page.waitForSelector('#history-banner:not([hidden])');
        await page.keyboard.press('Tab');
        await page.focus('#back-live');
        await page.keyboard.press('Enter');
        await page.waitForSelector('#history-banner', { state: 'hidden' });
        // Every table has a caption and column headers with a scope.
        const t = await page.$$eval('table', (ts) => ts.map((x) => ({
            caption: !!x.caption && x.caption.textContent.trim().length > 0,
            scoped: Array.from(x.tHead.rows[0].cells).every((c) => c.tagName === 'TH' && c.getAttribute('scope') === 'col'),
        })));
        assert.ok(t.length >= 5 && t.every((x) => x.caption && x.scoped));
    });
});
