// The real PingWatcher stack for browser tests and the page benchmark:
//
//   pw-netsim on a scenario (its own network namespace, pwsim-b<pid>-<n>)
//   pingwatcherd inside that namespace (ip netns exec), with a temporary store and control socket
//   pingwatcher.fcgi on a unix socket
//   nginx with a configuration derived from nginx.conf.example, on a free loopback port,
//   serving www/ as its root
//   headless Chromium (Debian's /usr/bin/chromium) driven by playwright-core
//
// Every process is started here and stopped by its PID; the namespace is removed even when a
// test fails or the test process is interrupted. Traffic: loopback and the namespace only.
//
// Environment: PW_BUILD_DIR (default <repo>/build), PW_CHROMIUM (default /usr/bin/chromium),
// PW_KEEP=1 keeps the temporary directory (logs) after the run.

import { execFileSync, spawn } from 'node:child_process';
import {
    accessSync, chmodSync, constants, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync,
    writeFileSync, writeSync,
} from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const BUILD = resolve(process.env.PW_BUILD_DIR || join(ROOT, 'build'));
export const ARTIFACTS = join(ROOT, 'tests', 'artifacts', 'browser');
export const CHROMIUM = process.env.PW_CHROMIUM || '/usr/bin/chromium';
export const SCENARIOS = join(ROOT, 'tests', 'netsim', 'scenarios');

export const BIN = {
    netsim: join(BUILD, 'tests', 'netsim', 'pw-netsim'),
    daemon: join(BUILD, 'engine-daemon', 'pingwatcherd'),
    cli: join(BUILD, 'engine-daemon', 'pingwatcher'),
    fcgi: join(BUILD, 'fcgi-app', 'pingwatcher.fcgi'),
    seed: join(BUILD, 'bench', 'seed_store'),
};

/* Chromium's flags: without the background-networking ones it tries to reach Google's
 * services, and this closed network refuses those connections. */
export const CHROMIUM_ARGS = [
    '--no-sandbox', '--headless', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync',
];

/* Why the stack cannot run here, or null. */
export function missing(needs = ['netsim', 'daemon', 'fcgi', 'cli']) {
    if (process.getuid && process.getuid() !== 0) return 'needs root (network namespaces)';
    for (const k of needs) {
        try {
            accessSync(BIN[k], constants.X_OK);
        } catch {
            return `${BIN[k]} is missing (build first: ninja -C ${BUILD})`;
        }
    }
    for (const [what, path] of [['chromium', CHROMIUM], ['nginx', '/usr/sbin/nginx'],
        ['www/vendor (run: node scripts/vendor.js)', join(ROOT, 'www', 'vendor', 'uPlot.iife.min.js')]]) {
        if (!existsSync(path)) return `${what} is not installed (${path})`;
    }
    try {
        execFileSync('ip', ['-V'], { stdio: 'ignore' });
    } catch {
        return 'ip (iproute2) is not installed';
    }
    return null;
}

let counter = 0;
const live = new Set(); // stacks not yet stopped, for the exit handler

function freePort() {
    return new Promise((res, rej) => {
        const s = createServer();
        s.unref();
        s.on('error', rej);
        s.listen(0, '127.0.0.1', () => {
            const { port } = s.address();
            s.close(() => res(port));
        });
    });
}

/* nginx.conf.example with our port, root, socket and private pid/log/temp paths. */
export function nginxConfig(dir, port, fcgiSock) {
    let c = readFileSync(join(ROOT, 'nginx.conf.example'), 'utf8');
    const sub = (re, to, what) => {
        if (!re.test(c)) throw new Error(`nginx.conf.example changed: cannot find ${what}`);
        c = c.replace(re, to);
    };
    sub(/^(\s*)listen\s+[^;]+;/m, `$1listen 127.0.0.1:${port};`, 'the listen directive');
    sub(/^(\s*)root\s+[^;]+;/m, `$1root ${join(ROOT, 'www')};`, 'the root directive');
    sub(/server\s+unix:[^;]+;/, `server unix:${fcgiSock};`, 'the upstream unix socket');
    sub(/^pid\s+[^;]+;/m, `pid ${join(dir, 'nginx.pid')};`, 'the pid directive');
    sub(/^error_log\s+[^;]+;/m, `error_log ${join(dir, 'nginx-error.log')} info;`, 'error_log');
    sub(/access_log\s+[^;]+;/, `access_log ${join(dir, 'nginx-access.log')};`, 'access_log');
    const temp = ['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi']
        .map((k) => `    ${k}_temp_path ${join(dir, 'nginx-' + k)};`).join('\n');
    sub(/^http\s*\{/m, `http {\n${temp}`, 'the http block');
    return c;
}

function waitExit(proc, ms) {
    if (proc.exitCode !== null || proc.signalCode !== null) return Promise.resolve(true);
    return new Promise((res) => {
        const t = setTimeout(() => res(false), ms);
        proc.once('exit', () => {
            clearTimeout(t);
            res(true);
        });
    });
}

export class Stack {
    /* opts: { scenario (file name in tests/netsim/scenarios or a path), daemonConfig (merged
     * into the generated configuration), netsim (default true), daemon (default true),
     * db (an existing store directory to serve instead of a new one), seed } */
    constructor(opts = {}) {
        this.opts = opts;
        this.n = counter++;
        this.ns = `pwsim-b${process.pid % 100000}-${this.n}`;
        this.dir = mkdtempSync(join(tmpdir(), 'pw-browser-'));
        chmodSync(this.dir, 0o755); // the daemon (nobody) and nginx workers pass through it
        this.db = opts.db || join(this.dir, 'db');
        this.control = join(this.dir, 'control.sock');
        this.fcgiSock = join(this.dir, 'fcgi.sock');
        this.cfgPath = join(this.dir, 'pingwatcher.json');
        this.procs = []; // [name, ChildProcess]
        this.stopped = false;
    }

    log(name) {
        try {
            return readFileSync(join(this.dir, name + '.log'), 'utf8');
        } catch {
            return '';
        }
    }

    spawn(name, cmd, args) {
        const out = join(this.dir, name + '.log');
        const fd = openLog(out);
        const p = spawn(cmd, args, { stdio: ['ignore', fd.out, fd.out] });
        p.on('error', () => {});
        this.procs.push([name, p]);
        return p;
    }

    async start() {
        live.add(this);
        try {
            await this.startInner();
        } catch (e) {
            const logs = ['netsim', 'daemon', 'fcgi', 'nginx'].map((n) => `--- ${n}\n${this.log(n).slice(-1500)}`).join('\n');
            await this.stop();
            e.message += `\n${logs}`;
            throw e;
        }
        return this;
    }

    async startInner() {
        const o = this.opts;
        if (o.netsim !== false) {
            const scen = o.scenario && o.scenario.includes('/') ? o.scenario : join(SCENARIOS, o.scenario || 'plain.json');
            this.scenario = JSON.parse(readFileSync(scen, 'utf8'));
            const truth = join(this.dir, 'truth.tsv');
            const p = spawn(BIN.netsim, ['-s', scen, '-n', this.ns, '-t', truth, '--die-with-parent'],
                { stdio: ['ignore', 'pipe', 'pipe'] });
            p.on('error', () => {});
            this.procs.push(['netsim', p]);
            const errLog = openLog(join(this.dir, 'netsim.log'));
            p.stderr.on('data', (b) => writeFd(errLog.out, b));
            this.nsOwned = true;
            const line = await new Promise((res) => {
                let buf = '';
                const t = setTimeout(() => res(buf), 15000);
                p.stdout.on('data', (b) => {
                    buf += b;
                    if (buf.includes('\n')) {
                        clearTimeout(t);
                        res(buf);
                    }
                });
                p.once('exit', () => res(buf));
            });
            if (line.trim() !== `READY ${this.ns}`) throw new Error(`pw-netsim did not become ready (got ${JSON.stringify(line)})`);
            this.t0 = Date.now(); // scenario time 0
        }
        if (o.daemon !== false) {
            const cfg = {
                database: this.db,
                control: { path: this.control },
                user: 'nobody',
                group: 'nogroup',
                log_level: 'info',
                batch: { max_ms: 100, max_samples: 1000 },
                route_change: { persist_samples: 1 },
                dns: { enabled: true, refresh_s: 300 },
                defaults: { trace_interval: 0.5, timeout: 1, inter_packet_delay: 1, max_hops: 16 },
                targets: [],
                ...(o.daemonConfig || {}),
            };
            writeFileSync(this.cfgPath, JSON.stringify(cfg, null, 1), { mode: 0o644 });
            chmodSync(this.cfgPath, 0o644);
            const args = o.netsim === false ? [BIN.daemon, '-c', this.cfgPath, '-f'] :
                ['netns', 'exec', this.ns, BIN.daemon, '-c', this.cfgPath, '-f'];
            this.spawn('daemon', o.netsim === false ? args[0] : 'ip', o.netsim === false ? args.slice(1) : args);
            await this.waitFor(() => existsSync(this.control), 10000, 'the daemon\'s control socket');
        } else {
            writeFileSync(this.cfgPath, JSON.stringify({ database: this.db, control: { path: this.control } }), { mode: 0o644 });
        }
        this.spawn('fcgi', BIN.fcgi, ['-c', this.cfgPath, '--socket', this.fcgiSock, '--socket-mode', '0666', '--sse-poll-ms', '200']);
        await this.waitFor(() => existsSync(this.fcgiSock), 10000, 'the FastCGI socket');
        this.port = await freePort();
        const nconf = join(this.dir, 'nginx.conf');
        writeFileSync(nconf, nginxConfig(this.dir, this.port, this.fcgiSock));
        this.spawn('nginx', '/usr/sbin/nginx', ['-c', nconf, '-g', 'daemon off;', '-e', join(this.dir, 'nginx-error.log')]);
        this.base = `http://127.0.0.1:${this.port}`;
        await this.waitFor(async () => {
            try {
                return (await fetch(this.base + '/api/targets')).ok;
            } catch {
                return false;
            }
        }, 10000, 'nginx and the API');
    }

    async waitFor(fn, ms, what) {
        const end = Date.now() + ms;
        while (Date.now() < end) {
            for (const [name, p] of this.procs) {
                if (p.exitCode !== null && name !== 'netsim') throw new Error(`${name} exited with ${p.exitCode} while waiting for ${what}: ${this.log(name).slice(-2000)}`);
            }
            if (await fn()) return;
            await sleep(50);
        }
        throw new Error(`timed out waiting for ${what}`);
    }

    /* Stops pingwatcher.fcgi (by its PID), waits `downMs`, starts it again: what the page sees
     * when the app restarts. */
    async restartFcgi(downMs = 1500) {
        const i = this.procs.findIndex(([n]) => n === 'fcgi');
        const [, p] = this.procs[i];
        process.kill(p.pid, 'SIGTERM');
        if (!(await waitExit(p, 10000))) process.kill(p.pid, 'SIGKILL');
        this.procs.splice(i, 1);
        await sleep(downMs);
        rmSync(this.fcgiSock, { force: true });
        this.spawn('fcgi', BIN.fcgi, ['-c', this.cfgPath, '--socket', this.fcgiSock, '--socket-mode', '0666', '--sse-poll-ms', '200']);
        await this.waitFor(() => existsSync(this.fcgiSock), 10000, 'the FastCGI socket');
    }

    /* The JSON API, as the page sees it (mutations carry the same-origin marker). */
    async api(path, { method = 'GET', body } = {}) {
        const init = { method, headers: { Accept: 'application/json' } };
        if (method !== 'GET') init.headers['X-Requested-With'] = 'test';
        if (body) {
            init.headers['Content-Type'] = 'application/json';
            init.body = JSON.stringify(body);
        }
        const r = await fetch(this.base + path, init);
        const text = await r.text();
        let json = null;
        try {
            json = JSON.parse(text);
        } catch {
            /* not JSON */
        }
        if (!r.ok) throw new Error(`${method} ${path}: ${r.status} ${text}`);
        return json;
    }

    /* Waits until target id has at least n samples in its focus window. */
    async waitSamples(id, n, ms = 30000) {
        await this.waitFor(async () => {
            try {
                const d = await this.api(`/api/targets/${id}/hops?focus=${n}`);
                return d.samples >= n && d.hops.length > 0;
            } catch {
                return false;
            }
        }, ms, `${n} samples of target ${id}`);
    }

    cli(args) {
        return execFileSync(BIN.cli, ['--db', this.db, '--control', this.control, ...args], { encoding: 'utf8', maxBuffer: 256 << 20 });
    }

    async stop() {
        if (this.stopped) return;
        this.stopped = true;
        // Reverse order: nginx, the app, the daemon, netsim last (it removes its namespace).
        for (const [name, p] of this.procs.slice().reverse()) {
            if (p.exitCode !== null || p.signalCode !== null || !p.pid) continue;
            try {
                process.kill(p.pid, name === 'nginx' ? 'SIGQUIT' : 'SIGTERM');
            } catch {
                continue;
            }
            if (!(await waitExit(p, 10000))) {
                try {
                    process.kill(p.pid, 'SIGKILL');
                } catch {
                    /* gone */
                }
                await waitExit(p, 2000);
            }
        }
        this.cleanupSync();
        live.delete(this);
    }

    /* What must happen even when the process is going down: namespace and files. */
    cleanupSync() {
        for (const [, p] of this.procs) {
            if (p.pid && p.exitCode === null && p.signalCode === null) {
                try {
                    process.kill(p.pid, 'SIGKILL');
                } catch {
                    /* gone */
                }
            }
        }
        if (this.nsOwned) {
            try {
                execFileSync('ip', ['netns', 'del', this.ns], { stdio: 'ignore' });
            } catch {
                /* removed by netsim already */
            }
            rmSync(`/etc/netns/${this.ns}`, { recursive: true, force: true });
        }
        if (!process.env.PW_KEEP) rmSync(this.dir, { recursive: true, force: true });
    }
}

function openLog(path) {
    return { out: openSync(path, 'a') };
}

function writeFd(fd, b) {
    try {
        writeSync(fd, b);
    } catch {
        /* log only */
    }
}

for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
    process.on(sig, () => {
        for (const s of live) s.cleanupSync();
        process.exit(130);
    });
}
process.on('exit', () => {
    for (const s of live) s.cleanupSync();
});

/* ---- the browser ---- */

export async function launchBrowser() {
    const { chromium } = await import('playwright-core');
    return chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS });
}

/* A page with console errors and failed requests collected in page.problems. */
export async function newPage(browser, base, opts = {}) {
    const ctx = await browser.newContext({
        baseURL: base,
        viewport: opts.viewport || { width: 1280, height: 900 },
        colorScheme: opts.colorScheme || 'light',
        acceptDownloads: true,
        ...(opts.context || {}),
    });
    const page = await ctx.newPage();
    page.problems = [];
    page.on('pageerror', (e) => page.problems.push('pageerror: ' + e.message));
    page.on('console', (m) => {
        // Failed requests are reported below with their address.
        if (m.type() === 'error' && !m.text().startsWith('Failed to load resource')) page.problems.push('console: ' + m.text());
    });
    page.on('response', (r) => {
        if (r.status() >= 400) page.problems.push(`HTTP ${r.status()}: ${r.request().method()} ${r.url()}`);
    });
    page.on('requestfailed', (r) => {
        const err = r.failure() ? r.failure().errorText : '';
        // Streams and downloads cut short by navigation are not failures of the page.
        if (!/ERR_ABORTED/.test(err)) page.problems.push(`request failed: ${r.url()} ${err}`);
    });
    page.on('dialog', (d) => d.accept());
    return page;
}

export async function screenshot(page, name) {
    mkdirSync(ARTIFACTS, { recursive: true });
    const path = join(ARTIFACTS, name + '.png');
    await page.screenshot({ path, fullPage: true });
    return path;
}
