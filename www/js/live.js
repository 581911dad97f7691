// PingWatcher page — live data over Server-Sent Events, with a visible connection state and
// reconnection.
//
// The browser's EventSource reconnects by itself after a dropped stream (the app sends
// "retry: 2000" and resumes from Last-Event-ID), but gives up for good when the server answers
// with an error status (a 503 when too many streams are open, a 502 while the app restarts).
// Then we start a new one ourselves, waiting longer each time (2 s doubling to 30 s).

const STATES = {
    idle: 'Live updates off',
    connecting: 'Connecting…',
    live: 'Live',
    reconnecting: 'Reconnecting…',
    offline: 'Offline — retrying',
    history: 'Viewing history',
};

export class LiveStream {
    /* url: the event stream; handlers: { eventName: fn(parsedData, MessageEvent) };
     * onState: fn(state) with one of the keys of STATES. */
    constructor(url, handlers, onState) {
        this.url = url;
        this.handlers = handlers;
        this.onState = onState;
        this.es = null;
        this.retryMs = 2000;
        this.timer = null;
        this.closed = false;
        this.lastEventAt = 0;
        this.open();
    }

    setState(s) {
        this.state = s;
        this.onState(s);
    }

    open() {
        if (this.closed) return;
        this.setState(this.es ? 'reconnecting' : 'connecting');
        const es = new EventSource(this.url);
        this.es = es;
        es.onopen = () => {
            this.retryMs = 2000;
            this.setState('live');
        };
        es.onerror = () => {
            if (this.closed || es !== this.es) return;
            if (es.readyState === EventSource.CLOSED) {
                // Permanent failure: our own retry with back-off.
                this.setState('offline');
                clearTimeout(this.timer);
                this.timer = setTimeout(() => this.open(), this.retryMs);
                this.retryMs = Math.min(this.retryMs * 2, 30000);
            } else {
                this.setState('reconnecting');
            }
        };
        for (const [name, fn] of Object.entries(this.handlers)) {
            es.addEventListener(name, (ev) => {
                if (es !== this.es) return;
                this.lastEventAt = Date.now();
                if (this.state !== 'live') this.setState('live');
                let data = null;
                try {
                    data = JSON.parse(ev.data);
                } catch {
                    return; /* not ours */
                }
                fn(data, ev);
            });
        }
    }

    close() {
        this.closed = true;
        clearTimeout(this.timer);
        if (this.es) this.es.close();
        this.es = null;
    }
}

/* The header's connection indicator. */
export function showState(state) {
    const box = document.getElementById('live-status');
    if (!box) return;
    box.dataset.state = state;
    box.querySelector('.txt').textContent = STATES[state] || state;
    box.title = {
        live: 'Connected: new samples appear as they are measured',
        connecting: 'Opening the live connection',
        reconnecting: 'The live connection dropped; the browser is reconnecting',
        offline: 'The live connection failed; retrying with increasing waits',
        idle: 'No live stream is open in this view',
        history: 'The trace graph shows a past moment; live updates continue in the timeline',
    }[state] || '';
}
