// Opens an evidence report (one HTML file) in headless Chromium with a fresh profile, records
// every request the page makes and every console message, measures its charts and writes a
// full-page screenshot. Prints one JSON object; the Python test judges it.
//
// usage: node report_check.mjs REPORT.html SCREENSHOT.png
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { chromium } from 'playwright-core';

const [file, shot] = process.argv.slice(2);
if (!file || !shot) {
    console.error('usage: node report_check.mjs REPORT.html SCREENSHOT.png');
    process.exit(2);
}
const url = pathToFileURL(file).href;
const profile = mkdtempSync(join(tmpdir(), 'pw-report-chromium-'));
const requests = [];
const console_ = [];
let context;
try {
    context = await chromium.launchPersistentContext(profile, {
        executablePath: '/usr/bin/chromium',
        headless: true,
        viewport: { width: 1200, height: 900 },
        args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking',
               '--disable-component-update', '--disable-sync', '--no-first-run'],
    });
    context.on('request', (r) => requests.push(r.url()));
    const page = context.pages()[0] || await context.newPage();
    page.on('console', (m) => console_.push(m.type() + ': ' + m.text()));
    page.on('pageerror', (e) => console_.push('pageerror: ' + e.message));
    await page.goto(url, { waitUntil: 'load' });
    const facts = await page.evaluate(() => {
        const figs = [...document.querySelectorAll('figure.pw-chart')];
        return {
            title: document.title,
            csp: document.querySelector('meta[http-equiv="Content-Security-Policy"]')
                ?.getAttribute('content') ?? null,
            verdict: document.querySelector('.pw-diagnosis')?.className ?? null,
            summary: document.querySelector('.pw-summary')?.textContent ?? null,
            scripts: document.querySelectorAll('script').length,
            hopRows: document.querySelectorAll('table.pw-hops tbody tr').length,
            charts: figs.map((f) => {
                const svg = f.querySelector('svg');
                const box = svg ? svg.getBoundingClientRect() : { width: 0, height: 0 };
                return {
                    id: f.id,
                    caption: f.querySelector('figcaption')?.textContent ?? '',
                    width: box.width,
                    height: box.height,
                    bands: svg ? svg.querySelectorAll('path.band').length : 0,
                    lines: svg ? svg.querySelectorAll('polyline.avg').length : 0,
                    lossMarks: svg ? svg.querySelectorAll('rect.loss').length : 0,
                    routeChanges: svg ? svg.querySelectorAll('line.rc').length : 0,
                    spans: svg ? svg.querySelectorAll('rect.span').length : 0,
                    // the band is really painted: its fill comes from the inline style sheet
                    bandFill: svg && svg.querySelector('path.band')
                        ? getComputedStyle(svg.querySelector('path.band')).fill : null,
                };
            }),
        };
    });
    await page.screenshot({ path: shot, fullPage: true });
    console.log(JSON.stringify({ url, requests, console: console_, ...facts }));
} finally {
    if (context)
        await context.close();
    rmSync(profile, { recursive: true, force: true });
}
