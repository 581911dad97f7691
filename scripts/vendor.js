#!/usr/bin/env node
// Copies the browser libraries the page uses from node_modules/ into www/vendor/, so the page
// loads them from its own origin (never from a CDN). www/vendor/ is generated: run this after
// `npm ci` (scripts/setup.sh does) and whenever package-lock.json changes.
//
//   node scripts/vendor.js [--check]
//
// --check only verifies that www/vendor/ is present and matches node_modules/ (exit 1 if not).
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const out = join(root, 'www', 'vendor');

// [package, file inside the package, name in www/vendor/]
const files = [
    ['htmx.org', 'dist/htmx.min.js', 'htmx.min.js'],
    ['htmx.org', 'LICENSE', 'htmx.LICENSE.txt'],
    ['uplot', 'dist/uPlot.iife.min.js', 'uPlot.iife.min.js'],
    ['uplot', 'dist/uPlot.min.css', 'uPlot.min.css'],
    ['uplot', 'LICENSE', 'uPlot.LICENSE.txt'],
];

const check = process.argv.includes('--check');
const manifest = {};
let bad = 0;

function version(pkg) {
    return JSON.parse(readFileSync(join(root, 'node_modules', pkg, 'package.json'), 'utf8'))
        .version;
}

if (!check) {
    rmSync(out, { recursive: true, force: true });
    mkdirSync(out, { recursive: true });
}
for (const [pkg, rel, name] of files) {
    const src = join(root, 'node_modules', pkg, rel);
    if (!existsSync(src)) {
        console.error(`vendor: ${src} is missing: run \`npm ci\` at the repository root first`);
        process.exit(1);
    }
    const data = readFileSync(src);
    const sha = createHash('sha256').update(data).digest('hex');
    manifest[name] = { package: pkg, version: version(pkg), file: rel, sha256: sha };
    const dst = join(out, name);
    if (check) {
        if (!existsSync(dst) || createHash('sha256').update(readFileSync(dst)).digest('hex') !== sha) {
            console.error(`vendor: www/vendor/${name} is missing or differs from ${pkg}/${rel}`);
            bad++;
        }
    } else {
        writeFileSync(dst, data);
    }
}
if (check) {
    process.exit(bad ? 1 : 0);
}
writeFileSync(join(out, 'manifest.json'), JSON.stringify(manifest, null, 2) + '\n');
console.log(`vendor: ${files.length} files copied into www/vendor/`);
