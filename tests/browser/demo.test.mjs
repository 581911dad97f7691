// Browser tests against the real stack on the demo scenario (four targets sharing the first two
// hops: clean, lossy, an ICMP-deprioritising hop with a silent hop and a hostile PTR name, and a
// VPN): the summary (sorting, live updates, opening a target), safe rendering of
// attacker-controlled text, and the reading notes.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import { Stack, launchBrowser, missing, newPage, screenshot } from './stack.mjs';
import { expectedRow, fmtPct, pick, traceRows } from './helpers.mjs';

const why = missing();
const LABELS = { '198.18.100.10': 'web', '198.18.101.10': 'lossy', '198.18.102.10': 'api', '198.18.103.10': 'vpn' };

describe('summary and safety on the demo scenario', { skip: why || false }, () => {
    let stack, browser, page, ids;

    before(async () => {
        stack = await new Stack({
            scenario: 'demo.json',
            daemonConfig: { targets: Object.entries(LABELS).map(([host, label]) => ({ host, label })) },
        }).start();
        browser = await launchBrowser();
        const t = (await stack.api('/api/targets')).targets;
        ids = Object.fromEntries(t.map((x) => [x.label, x.id]));
        for (const id of Object.values(ids)) await stack.waitSamples(id, 10);
        page = await newPage(browser, stack.base);
        await page.goto('/#/summary');
        await page.waitForSelector('body[data-ready="true"]');
    });

    after(async () => {
        try {
            if (page) assert.deepEqual(page.problems, [], 'the page logged errors');
        } finally {
            if (browser) await browser.close();
            if (stack) await stack.stop();
        }
    });

    async function summaryRows() {
        return page.$$eval('#summary-table tbody tr[data-id]', (trs) => trs.map((tr) => ({
            id: Number(tr.dataset.id),
            name: tr.querySelector('th a').textContent,
            host: tr.querySelector('td.host').textContent,
            avg_ms: tr.querySelector('td.avg_ms').dataset.value,
            min_ms: tr.querySelector('td.min_ms').dataset.value,
            cur_ms: tr.querySelector('td.cur_ms').dataset.value,
            loss_pct: tr.querySelector('td.loss_pct').dataset.value,
            spark: !!tr.querySelector('svg.sparkline path.spark-line'),
        })));
    }

    test('the summary lists every target with its final hop\'s figures and a sparkline', async () => {
        await page.waitForFunction(() => document.querySelectorAll('#summary-table tbody tr[data-id]').length === 4);
        const rows = await summaryRows();
        assert.deepEqual(rows.map((r) => r.name).sort(), Object.values(LABELS).sort());
        assert.ok(rows.every((r) => r.spark), 'every target has a sparkline');
        const api = await stack.api('/api/summary');
        for (const t of api.targets) {
            const r = rows.find((x) => x.id === t.id);
            assert.equal(r.host, t.host);
            assert.ok(t.avg_ms > 0);
        }
        await screenshot(page, 'summary-light');
    });

    test('the summary sorts by every column, both ways', async () => {
        const num = (v) => (v === '' || v === 'ERR' ? null : Number(v));
        for (const key of ['name', 'host', 'avg_ms', 'min_ms', 'cur_ms', 'loss_pct', 'recent']) {
            for (const dir of ['ascending', 'descending']) {
                const th = page.locator(`#summary-table th:has(button[data-key="${key}"])`);
                // A first click sorts ascending, a second descending.
                while (await th.getAttribute('aria-sort') !== dir) await th.locator('button').click();
                const vals = await page.evaluate((k) => {
                    const s = window.pw.summary;
                    return Array.from(document.querySelectorAll('#summary-table tbody tr[data-id]'))
                        .map((tr) => s.sortValue(s.rows.get(Number(tr.dataset.id)), k));
                }, key);
                const present = vals.filter((v) => v !== null && v !== undefined);
                assert.equal(present.length, vals.findLastIndex((v) => v !== null && v !== undefined) + 1, `${key}: missing values last`);
                for (let i = 1; i < present.length; i++) {
                    const a = present[i - 1], b = present[i];
                    const c = typeof a === 'string' ? a.localeCompare(b) : a - b;
                    assert.ok(dir === 'ascending' ? c <= 0 : c >= 0, `${key} ${dir}: ${JSON.stringify(present)}`);
                }
            }
        }
        // The text in the cells agrees with the sort for a figure column.
        const th = page.locator('#summary-table th:has(button[data-key="avg_ms"])');
        while (await th.getAttribute('aria-sort') !== 'ascending') await th.locator('button').click();
        const shown = (await summaryRows()).map((r) => num(r.avg_ms));
        assert.deepEqual(shown, shown.slice().sort((a, b) => a - b));
        assert.equal((await summaryRows())[0].name, 'api', 'api (11.5 ms) is the fastest');
        assert.equal((await summaryRows()).at(-1).name, 'lossy', 'lossy (35 ms) is the slowest');
    });

    test('the summary updates live', async () => {
        await page.waitForSelector('#live-status[data-state="live"]');
        const t0 = await page.evaluate(() => Math.max(...Array.from(window.pw.summary.rows.values()).map((r) => r.updated_ms || 0)));
        await page.waitForFunction((t) => Array.from(window.pw.summary.rows.values()).every((r) => (r.updated_ms || 0) > t), t0, { timeout: 10000 });
        const api = await stack.api('/api/summary');
        const rows = await summaryRows();
        for (const t of api.targets) {
            const r = rows.find((x) => x.id === t.id);
            assert.ok(Math.abs(Number(r.avg_ms) - t.avg_ms) < 2, `${t.name}: live average near the API's`);
        }
    });

    test('selecting a row opens that target\'s trace graph', async () => {
        await page.click(`#summary-table tr[data-id="${ids.lossy}"] td.host`);
        await page.waitForFunction((id) => location.hash === `#/target/${id}`, ids.lossy);
        await page.waitForSelector(`body[data-rendered="${ids.lossy}"]`);
        assert.equal(await page.textContent('#target-title'), 'lossy');
        await page.goto('/#/summary');
        await page.waitForSelector('#summary-table tbody tr[data-id]');
    });

    test('hostile PTR names and labels are shown as text, never as markup', async () => {
        const t = await stack.api('/api/targets', {
            method: 'POST',
            body: { host: '198.18.100.10', label: '<img src=x onerror="window.__xss=1">', paused: true },
        });
        await page.goto(`/#/target/${ids.api}`);
        await page.waitForSelector(`body[data-rendered="${ids.api}"]`);
        const api = await stack.api(`/api/targets/${ids.api}/hops?focus=10`);
        const hostile = api.hops.find((h) => h.dns && h.dns.includes('<'));
        assert.ok(hostile, 'the scenario has a PTR name with markup');
        const cell = await page.textContent(`#trace-table tr[data-hop="${hostile.hop}"] td.dns`);
        assert.equal(cell, hostile.dns, 'the name appears exactly, as text');
        await page.goto(`/#/target/${t.id}`);
        await page.waitForSelector(`body[data-rendered="${t.id}"]`);
        assert.equal(await page.textContent('#target-title'), '<img src=x onerror="window.__xss=1">');
        assert.equal(await page.locator('main img, nav img, #trace-table img').count(), 0, 'no element was made from API text');
        assert.equal(await page.evaluate(() => window.__xss), undefined);
        await stack.api(`/api/targets/${t.id}`, { method: 'DELETE' });
    });

    test('loss at a hop that does not persist is explained as ICMP deprioritisation', async () => {
        await page.goto(`/#/target/${ids.api}`);
        await page.waitForSelector(`body[data-rendered="${ids.api}"]`);
        await page.click('label[for="focus-all"]');
        await page.waitForFunction(() => window.pw.state.hops?.focus === 'all');
        const d = await page.evaluate(() => window.pw.state.hops);
        const rows = await traceRows(page);
        rows.forEach((r, i) => assert.deepEqual(pick(r, ['hop', 'ip', 'dns', 'avg', 'min', 'loss']),
            pick(expectedRow(d.hops[i]), ['hop', 'ip', 'dns', 'avg', 'min', 'loss'])));
        const silent = d.hops.find((h) => h.ip === null);
        assert.ok(silent && silent.loss_pct === 100, 'the silent hop is all loss');
        assert.equal(rows.find((r) => r.hop === silent.hop).avg, '—');
        const notes = await page.$$eval('#tg-notes li', (li) => li.map((x) => x.textContent));
        const dep = notes.find((n) => /does not persist/.test(n));
        assert.ok(dep, `a deprioritisation note: ${JSON.stringify(notes)}`);
        assert.match(dep, new RegExp(`hops? [0-9, ]*\\b${silent.hop}\\b`));
        assert.match(dep, /\b4\b/, 'hop 4 (30-40 % of its own replies missing) is named');
        // Its timeline strip: the lost replies as red marks from top to bottom; the final hop
        // (no loss) has none.
        await page.check('#tl-hop-4');
        await page.waitForFunction(() => Number(document.querySelector('.strip[data-hop="4"]')?.dataset.buckets) > 0);
        const red = await page.evaluate(() => {
            const count = (key) => {
                const u = window.pw.timeline.strips.get(key).u;
                const { left, top, width, height } = u.bbox;
                const px = u.ctx.getImageData(left, top, width, height).data;
                const cols = new Set();
                for (let i = 0; i < px.length; i += 4) {
                    const [r, g, b] = [px[i], px[i + 1], px[i + 2]];
                    // red (g close to b), not the orange of route changes
                    if (r - g > 60 && r - b > 60 && Math.abs(g - b) < 40) cols.add((i / 4) % width);
                }
                // full-height marks: columns where most of the height is red
                let full = 0;
                for (const c of cols) {
                    let n = 0;
                    for (let y = 0; y < height; y++) {
                        const i = (y * width + c) * 4;
                        if (px[i] - px[i + 1] > 60 && Math.abs(px[i + 1] - px[i + 2]) < 40) n++;
                    }
                    if (n > height * 0.8) full++;
                }
                return full;
            };
            return { hop4: count(4), last: count('last'), lost: window.pw.timeline.strips.get(4).meta.filter((b) => b && b.lost).length };
        });
        assert.ok(red.lost > 0, 'hop 4 has buckets with loss');
        assert.ok(red.hop4 > 0, `red full-height marks on hop 4: ${JSON.stringify(red)}`);
        assert.equal(red.last, 0, 'none on the final hop');
        await screenshot(page, 'notes-deprioritised');
        await page.uncheck('#tl-hop-4');
        await page.click('label[for="focus-10"]');
    });

    test('a slow destination behind clean hops gets the asymmetric-path note', async () => {
        // The note logic on figures of our choosing (the demo network has no such path).
        const notes = await page.evaluate(() => {
            const h = (hop, avg, loss = 0) => ({ hop, avg_ms: avg, loss_pct: loss, sent: 10, lost: 0 });
            window.pw.traceGraph.renderNotes([h(1, 1), h(2, 3), h(3, 5), h(4, 120)]);
            const out = Array.from(document.querySelectorAll('#tg-notes li')).map((x) => x.textContent);
            window.pw.traceGraph.renderNotes(window.pw.state.hops.hops);
            return out;
        });
        assert.equal(notes.length, 1);
        assert.match(notes[0], /asymmetric/);
    });

    test('the diagnosis names the lossy path\'s problem hop, marks its row and strip, and the report downloads', async () => {
        // The scenario loses 3 % from hop 5 (transit2) to the destination: the app needs a few
        // hundred samples (0.5 s apart) to call it a problem.
        // Until then it may see the loss only at the destination, not yet sure where it starts.
        let api;
        await stack.waitFor(async () => {
            api = await stack.api(`/api/targets/${ids.lossy}/diagnosis`);
            return api.diagnosis.verdict === 'problem' && api.diagnosis.problem.certain;
        }, 400000, 'a certain diagnosis of the lossy path').catch((e) => {
            throw new Error(`${e.message}: ${api && api.diagnosis.summary}`);
        });
        const truth = api.diagnosis.problem;
        assert.equal(truth.kind, 'loss');
        assert.equal(truth.from_hop, 5, 'the loss starts at hop 5, as in the scenario');
        assert.equal(truth.ip, '198.18.21.5');
        assert.ok(truth.to_destination);

        await page.goto(`/#/target/${ids.lossy}`);
        await page.waitForSelector(`body[data-rendered="${ids.lossy}"]`);
        await page.click('label[for="focus-all"]');
        await page.waitForFunction((id) => document.body.dataset.diagnosis === `${id}:problem` &&
            window.pw.state.diagKey === `${id}|null|all`, ids.lossy, { timeout: 60000 });
        const shown = await page.evaluate(() => window.pw.diagnosis.data);
        assert.equal(shown.focus, null, 'all samples of the hour');
        const p = shown.diagnosis.problem;
        assert.equal(p.from_hop, 5);

        // The panel: verdict in words, the hop with its responder and name, its figures.
        assert.match(await page.textContent('#diag-verdict'), /Problem found/);
        assert.equal(await page.textContent('#diag-summary'), shown.diagnosis.summary);
        const item = page.locator('#diag-problems > li.diag-problem');
        assert.equal(await item.count(), shown.diagnosis.problems.length);
        assert.equal(await item.first().getAttribute('data-hop'), '5');
        const text = await item.first().textContent();
        assert.match(text, /Packet loss from hop 5 — 198\.18\.21\.5 \(transit2\.sim\.example\)/);
        assert.ok(text.includes(`${p.lost} of ${p.sent} probes lost at the destination: ${fmtPct(p.loss_pct)} % ` +
            `(95 % confidence interval ${fmtPct(p.loss_ci[0])}–${fmtPct(p.loss_ci[1])} %)`), text);
        assert.ok((await page.textContent('#diagnosis')).includes(p.text), 'the server\'s explanation, as text');
        // The trace graph's own rule of thumb about where loss starts gives way to the panel.
        assert.ok(!(await page.$$eval('#tg-notes li', (li) => li.map((x) => x.textContent))).some((n) => /loss starts at hop/.test(n)));

        // The hop table: that row alone is marked, with a symbol and words.
        assert.deepEqual(await page.$$eval('#trace-table tbody tr.diag-problem', (trs) => trs.map((tr) => tr.dataset.hop)), ['5']);
        const mark = page.locator('#trace-table tr[data-hop="5"] th.hop .diag-mark');
        assert.match(await mark.textContent(), /⚠ \(Packet loss starts here\)/);
        const rows = await traceRows(page);
        assert.deepEqual(rows.map((r) => r.hop), rows.map((r, i) => i + 1), 'the hop numbers read as before');

        // The timeline: hop 5's strip is shown and marked, and its choice says so.
        await page.waitForSelector('.strip.diag-problem[data-hop="5"] .strip-head .diag-badge');
        assert.equal(await page.textContent('.strip.diag-problem[data-hop="5"] .diag-badge'), '⚠ Packet loss starts here');
        assert.equal(await page.locator('.strip.diag-problem').count(), 1);
        assert.ok(await page.isChecked('#tl-hop-5'));
        assert.match(await page.textContent('label[for="tl-hop-5"]'), /⚠ packet loss starts here/);
        await screenshot(page, 'diagnosis-lossy');

        // A past moment (double-click on the timeline): the diagnosis judges the hour up to it.
        const over = page.locator('.strip[data-hop="last"] .u-over');
        await over.scrollIntoViewIfNeeded();
        const box = await over.boundingBox();
        const x = await page.evaluate(() => {
            const s = window.pw.timeline.strips.get('last');
            return s.u.valToPos((s.data[0][0] + Date.now() / 1000) / 2, 'x');
        });
        const [req] = await Promise.all([
            page.waitForRequest((r) => r.url().includes('/diagnosis?') && r.url().includes('at=')),
            page.mouse.dblclick(box.x + x, box.y + box.height / 2),
        ]);
        const at = Number(new URL(req.url()).searchParams.get('at')) * 1000;
        assert.equal(new URL(req.url()).searchParams.get('focus'), null, 'focus all: no focus parameter');
        await page.waitForFunction((ms) => window.pw.state.at && Math.abs(window.pw.state.at - ms) <= 1 &&
            window.pw.diagnosis.data && Math.abs(window.pw.diagnosis.data.end_ms - ms) <= 2, at, { timeout: 10000 });
        await page.click('#back-live');
        await page.waitForFunction((id) => window.pw.state.diagKey === `${id}|null|all` && window.pw.diagnosis.data?.end_ms > Date.now() - 10000, ids.lossy);

        // The evidence report of the timeline's range, as a download.
        const range = await page.evaluate(() => window.pw.timeline.range());
        const href = await page.getAttribute('#diag-report', 'href');
        const u = new URL(href, stack.base);
        assert.equal(u.pathname, `/api/targets/${ids.lossy}/report`);
        assert.ok(Math.abs(Number(u.searchParams.get('start')) * 1000 - range.start) < 1000, 'starts with the timeline');
        const [download] = await Promise.all([page.waitForEvent('download'), page.click('#diag-report')]);
        assert.match(download.suggestedFilename(), /\.html$/);
        const { readFileSync } = await import('node:fs');
        const html = readFileSync(await download.path(), 'utf8');
        assert.match(html, /^<!DOCTYPE html>/i);
        assert.ok(html.includes('198.18.21.5'), 'the report names the problem hop');
        await page.click('label[for="focus-10"]');
    });

    test('summary rows show the diagnosis verdict with a symbol and words', async () => {
        let api;
        await stack.waitFor(async () => {
            api = await stack.api('/api/summary');
            return api.targets.find((t) => t.id === ids.web).verdict !== 'insufficient_data';
        }, 120000, 'a verdict on the clean path');
        const web = api.targets.find((t) => t.id === ids.web);
        assert.equal(web.verdict, 'clean', `the clean path: ${web.verdict_summary}`);
        for (const t of api.targets) assert.ok(['problem', 'clean', 'insufficient_data'].includes(t.verdict), t.verdict);
        await page.goto('/#/summary');
        await page.reload();
        await page.waitForSelector('body[data-ready="true"]');
        await page.waitForFunction(() => document.querySelectorAll('#summary-table tbody tr[data-id] .summary-verdict').length === 4);
        // What the page shows is what its answer said, as symbol and words.
        const shown = await page.$$eval('#summary-table tbody tr[data-id]', (trs) => trs.map((tr) => {
            const b = tr.querySelector('.summary-verdict');
            const r = window.pw.summary.rows.get(Number(tr.dataset.id));
            return { id: Number(tr.dataset.id), verdict: b.dataset.verdict, want: r.verdict, hop: r.verdict_hop, text: b.textContent, title: b.title, summary: r.verdict_summary };
        }));
        const words = { problem: /^⚠ problem( at hop \d+)? \(/, clean: /^✓ path clean \(/, insufficient_data: /^… judging \(/ };
        for (const s of shown) {
            assert.equal(s.verdict, s.want);
            assert.match(s.text, words[s.verdict]);
            assert.ok(s.title.endsWith(s.summary), 'the sentence in the tooltip');
            if (s.verdict === 'problem' && s.hop) assert.ok(s.text.includes(`at hop ${s.hop}`));
        }
        assert.equal(shown.find((s) => s.id === ids.web).verdict, 'clean');
        await screenshot(page, 'summary-verdicts');
    });

    test('the dark summary renders', async () => {
        const p = await newPage(browser, stack.base, { colorScheme: 'dark' });
        await p.goto('/#/summary');
        await p.waitForSelector('#summary-table tbody tr[data-id]');
        assert.equal(await p.getAttribute('html', 'data-effective-theme'), 'dark');
        await screenshot(p, 'summary-dark');
        assert.deepEqual(p.problems, []);
        await p.context().close();
    });
});
