// PingWatcher page — user settings kept in this browser: colour thresholds and the theme.

const KEY = 'pingwatcher.settings';

export const DEFAULTS = Object.freeze({
    latWarn: 100, // ms: at or above, latency is "elevated" (yellow)
    latBad: 250, // ms: at or above, latency is "high" (red)
    lossWarn: 1, // %: at or above, loss is "some" (yellow)
    lossBad: 10, // %: at or above, loss is "high" (red)
    focus: '10', // samples of the trace graph's statistics, or 'all'
    spread: 'p10', // timeline band: p10 (p10-p90), minmax, none
    theme: 'auto', // auto (follows the system), light, dark
});

let current = load();
const listeners = new Set();

function load() {
    try {
        const s = JSON.parse(localStorage.getItem(KEY) || '{}');
        return { ...DEFAULTS, ...s };
    } catch {
        return { ...DEFAULTS };
    }
}

export function settings() {
    return current;
}

export function update(patch) {
    current = { ...current, ...patch };
    try {
        localStorage.setItem(KEY, JSON.stringify(current));
    } catch {
        /* private mode: settings last for this page only */
    }
    for (const fn of listeners) fn(current, patch);
}

export function onChange(fn) {
    listeners.add(fn);
}

/* Severity of a latency and a loss: 0 ok, 1 warn, 2 bad. */
export function latencySeverity(ms) {
    if (ms === null || ms === undefined) return 0;
    if (ms >= current.latBad) return 2;
    if (ms >= current.latWarn) return 1;
    return 0;
}

export function lossSeverity(pct) {
    if (pct === null || pct === undefined) return 0;
    if (pct >= current.lossBad) return 2;
    if (pct >= current.lossWarn) return 1;
    return 0;
}

export const SEVERITY = [
    { cls: 'ok', icon: '●', word: 'normal' },
    { cls: 'warn', icon: '▲', word: 'elevated' },
    { cls: 'bad', icon: '■', word: 'high' },
];

/* The theme actually drawn ('light' or 'dark'). */
export function effectiveTheme() {
    if (current.theme === 'light' || current.theme === 'dark') return current.theme;
    return window.matchMedia('(prefers-color-scheme: dark)').matches ? 'dark' : 'light';
}

export function applyTheme() {
    document.documentElement.dataset.theme = current.theme;
    document.documentElement.dataset.effectiveTheme = effectiveTheme();
}

/* A CSS custom property of the root element (colours for canvas drawing). */
export function cssVar(name) {
    return getComputedStyle(document.documentElement).getPropertyValue(name).trim();
}
