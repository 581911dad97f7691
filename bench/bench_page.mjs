#!/usr/bin/env node
// PingWatcher page benchmark: the web page against its budgets, on the real app.
//
//   node bench/bench_page.mjs [BUILD_DIR]        (as root; default BUILD_DIR: build)
//
// A store is seeded with 7 days of one target (BUILD_DIR/bench/seed_store: 10 hops every
// 2.5 s, 241 920 samples), served by pingwatcher.fcgi behind nginx (configuration derived from
// nginx.conf.example) on a loopback port, and opened in headless Chromium. Printed, each as a
// ratio to its budget with PASS/MISS:
//
//   page weight     JavaScript and CSS bytes the page loads (uncompressed), vs 300 KB each
//   first render    navigation to the 7-day view of that target until the trace graph and
//                   the timeline are drawn, median of 7 fresh loads, vs 500 ms
//   redraw          zoom and pan of the 7-day timeline until the next frame is painted (the
//                   data in hand redrawn; at 60 frames/s that is at least ~16.7 ms, so the
//                   note gives the drawing time itself), median of 20, vs 100 ms; and the
//                   refetch at the new range's resolution plus redraw, vs 100 ms; both also
//                   with all 10 hops shown (10 strips)
//
// Exit status: 0 measured (whatever PASS/MISS says), 77 cannot run here, 1 harness failure.

import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

if (process.argv[2]) process.env.PW_BUILD_DIR = resolve(process.argv[2]);
const { BIN, Stack, launchBrowser, missing } = await import('../tests/browser/stack.mjs');

const KB = 1024;
const BUDGET = { js: 300 * KB, css: 300 * KB, firstRender: 500, redraw: 100 };
const seedBin = process.env.PW_SEED_STORE || BIN.seed;

function skip(why) {
    console.error(`bench_page: skipped: ${why}`);
    process.exit(77);
}

const why = missing(['fcgi']);
if (why) skip(why);
if (!existsSync(seedBin)) skip(`${seedBin} is missing (build it: ninja -C BUILD bench/seed_store)`);

const median = (a) => {
    const s = a.slice().sort((x, y) => x - y);
    return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

const rows = [];
function report(name, value, unit, budget, note = '') {
    const ratio = value / budget;
    rows.push([name, `${value.toFixed(unit === 'KB' ? 1 : 1)} ${unit}`, `${budget} ${unit}`, ratio.toFixed(3), ratio <= 1 ? 'PASS' : 'MISS', note]);
}

const seedDir = mkdtempSync(join(tmpdir(), 'pw-bench-page-'));
let stack, browser;
try {
    const t0 = Date.now();
    const id = Number(execFileSync(seedBin, [join(seedDir, 'db'), '7', '2.5', '10'], { encoding: 'utf8' }).trim());
    console.log(`seeded 7 days of target ${id} in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    stack = await new Stack({ netsim: false, daemon: false, db: join(seedDir, 'db') }).start();
    browser = await launchBrowser();
    const url = `${stack.base}/#/target/${id}?range=7d`;

    /* ---- page weight and first render: fresh contexts (empty cache) ---- */
    const renders = [];
    let weight = null;
    for (let i = 0; i < 8; i++) {
        const ctx = await browser.newContext({ viewport: { width: 1280, height: 900 } });
        const page = await ctx.newPage();
        const errors = [];
        page.on('pageerror', (e) => errors.push(e.message));
        await page.goto(url, { waitUntil: 'commit' });
        const ms = await page.evaluate(() => new Promise((res) => {
            const done = () => res(performance.now());
            if (document.body && document.body.dataset.rendered) done();
            else window.addEventListener('pw:target-rendered', done, { once: true });
        }));
        if (errors.length) throw new Error('page errors: ' + errors.join('; '));
        const info = await page.evaluate(() => {
            const s = window.pw.timeline.strips.get('last');
            return { buckets: Number(s.box.dataset.buckets), res: Number(s.box.dataset.resolution), rows: document.querySelectorAll('#trace-table tbody tr[data-hop]').length };
        });
        if (info.buckets < 500 || info.rows !== 10) throw new Error(`the 7-day view is not drawn: ${JSON.stringify(info)}`);
        if (i === 0) {
            weight = await page.evaluate(() => {
                const w = { js: 0, css: 0, files: [] };
                for (const e of performance.getEntriesByType('resource')) {
                    const kind = e.initiatorType === 'script' || /\.m?js(\?|$)/.test(e.name) ? 'js' : /\.css(\?|$)/.test(e.name) ? 'css' : null;
                    if (!kind) continue;
                    w[kind] += e.decodedBodySize;
                    w.files.push([new URL(e.name).pathname, e.decodedBodySize]);
                }
                return w;
            });
            console.log(`7-day view: ${info.buckets} buckets at ${info.res} s resolution, ${info.rows} hops`);
        } else {
            renders.push(ms); // the first load warms nginx and the app; not counted
        }
        await ctx.close();
    }
    console.log('files loaded:');
    for (const [f, n] of weight.files) console.log(`  ${f.padEnd(28)} ${String(n).padStart(7)} B`);
    report('page JavaScript (uncompressed)', weight.js / KB, 'KB', BUDGET.js / KB, `${weight.files.filter((f) => /js$/.test(f[0])).length} files`);
    report('page CSS (uncompressed)', weight.css / KB, 'KB', BUDGET.css / KB);
    report('first render, 7 days, median', median(renders), 'ms', BUDGET.firstRender, `max ${Math.max(...renders).toFixed(0)} ms of ${renders.length}`);

    /* ---- zoom and pan ---- */
    const ctx = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    const page = await ctx.newPage();
    await page.goto(url);
    await page.waitForSelector('body[data-rendered]');
    const measure = (strips) => page.evaluate(async (n) => {
        const tl = window.pw.timeline;
        if (n > 1) {
            for (let h = 1; h < n; h++) await tl.toggleHop(h, true);
        }
        await tl.preset(7 * 86400e3);
        const frame = () => new Promise((r) => requestAnimationFrame(() => r()));
        const redraw = [];
        const draw = []; // the drawing itself, without waiting for the frame
        const refetch = [];
        const ops = [() => tl.zoom(0.5), () => tl.pan(-0.25), () => tl.zoom(0.5), () => tl.pan(0.1), () => tl.zoom(2)];
        for (let i = 0; i < 20; i++) {
            await frame();
            const t0 = performance.now();
            ops[i % ops.length]();
            await frame(); // the redrawn plot is on screen
            redraw.push(performance.now() - t0);
            draw.push(tl.stats.lastRedrawMs);
            const t1 = performance.now();
            await tl.refetch(); // the new range at its own resolution
            await frame();
            refetch.push(performance.now() - t1);
        }
        return { redraw, draw, refetch, strips: tl.strips.size };
    }, strips);
    const one = await measure(1);
    report('zoom/pan redraw, 1 hop, median', median(one.redraw), 'ms', BUDGET.redraw, `max ${Math.max(...one.redraw).toFixed(1)} ms, drawing ${median(one.draw).toFixed(1)} ms`);
    report('zoom/pan refetch+redraw, 1 hop, median', median(one.refetch), 'ms', BUDGET.redraw, `max ${Math.max(...one.refetch).toFixed(1)} ms`);
    const all = await measure(10);
    report(`zoom/pan redraw, ${all.strips} hops, median`, median(all.redraw), 'ms', BUDGET.redraw, `max ${Math.max(...all.redraw).toFixed(1)} ms, drawing ${median(all.draw).toFixed(1)} ms`);
    report(`zoom/pan refetch+redraw, ${all.strips} hops, median`, median(all.refetch), 'ms', BUDGET.redraw, `max ${Math.max(...all.refetch).toFixed(1)} ms`);
    await ctx.close();

    const head = ['measure', 'value', 'budget', 'ratio', '', 'note'];
    const w = head.map((h, i) => Math.max(h.length, ...rows.map((r) => String(r[i]).length)));
    const line = (r) => r.map((c, i) => (i === 1 || i === 2 || i === 3 ? String(c).padStart(w[i]) : String(c).padEnd(w[i]))).join('  ');
    console.log('\n' + line(head));
    for (const r of rows) console.log(line(r));
} catch (e) {
    console.error('bench_page: ' + (e.stack || e.message));
    process.exitCode = 1;
} finally {
    if (browser) await browser.close();
    if (stack) await stack.stop();
    rmSync(seedDir, { recursive: true, force: true });
}
