// The browser side of the terminal protocol (see server/terminal): an
// xterm.js terminal attached to a websocket, with automatic fit, resize
// messages, and reconnection that resumes the output exactly where it
// stopped.
//
//   const term = attachTerminal(element, {url, onStatus, readOnly});
//   term.typeText('kubectl get pods\n');   // run buttons
//   term.focus(); term.close();
//
// prepareScreen(element) builds the screen ahead, while the page is idle.
//
// onStatus(state, detail) gets 'connecting', 'connected',
// 'reconnecting' (detail: when the next try is) and 'closed' (detail: why).

import { Terminal } from '../vendor/xterm/xterm.mjs';
import { FitAddon } from '../vendor/addon-fit/addon-fit.mjs';
import { WebLinksAddon } from '../vendor/addon-web-links/addon-web-links.mjs';

const encoder = new TextEncoder();
const MAX_PENDING = 64 * 1024; // input typed while reconnecting, sent on resume
const GIVE_UP_AFTER = 10; // failed connection attempts in a row

let spare = null; // a screen built ahead of need: {element, term, fit}

/**
 * Builds a learner's screen in element while the page is idle, so that
 * attachTerminal finds it ready: building one (fonts, measuring, the first
 * render) holds the page's only thread for 50–150 ms, and done on attach
 * it delays the websocket's first messages by as much.
 * @param {HTMLElement} element
 */
export function prepareScreen(element) {
  if (spare?.element === element && element.contains(spare.term.element)) return;
  dropSpare();
  spare = { element, ...buildScreen(element, {}) };
  if (element.clientWidth > 0 && element.clientHeight > 0) {
    try { spare.fit.fit(); } catch { /* not rendered yet */ }
  }
}

function dropSpare() {
  if (!spare) return;
  spare.term.dispose();
  spare = null;
}

// takeScreen returns the spare screen when it suits, a new one otherwise.
function takeScreen(element, opts) {
  if (spare?.element === element && !opts.readOnly && !opts.fontSize && element.contains(spare.term.element)) {
    const s = spare;
    spare = null;
    return s;
  }
  if (spare?.element === element) dropSpare();
  element.replaceChildren();
  return buildScreen(element, opts);
}

function buildScreen(element, opts) {
  const readOnly = !!opts.readOnly;
  const term = new Terminal({
    cursorBlink: false, // until attached: a prepared screen waits unseen
    disableStdin: readOnly,
    fontFamily: 'ui-monospace, "DejaVu Sans Mono", Menlo, Consolas, monospace',
    fontSize: opts.fontSize || 14,
    scrollback: 5000,
    theme: { background: '#1e1e2e', foreground: '#e6e6e6', cursor: '#f5e0dc', selectionBackground: '#585b70' },
  });
  const fit = new FitAddon();
  term.loadAddon(fit);
  term.loadAddon(new WebLinksAddon((ev, uri) => {
    ev.preventDefault();
    window.open(uri, '_blank', 'noopener,noreferrer');
  }));
  term.open(element);
  return { term, fit };
}

/**
 * Creates a terminal in element and connects it to url (ws: or wss:).
 * @param {HTMLElement} element
 * @param {{url: string, onStatus?: (state: string, detail?: string) => void, readOnly?: boolean, keepSize?: boolean, fontSize?: number}} opts
 */
export function attachTerminal(element, opts) {
  const onStatus = opts.onStatus || (() => {});
  const readOnly = !!opts.readOnly;
  let ws = null;
  let received = 0; // output bytes written to the screen: the hello offset
  let liveFrom = 0; // output offset where this attach's live output starts
  let replaying = 0; // chunks of replay xterm.js has not finished parsing
  let resumed = false; // the server has told us where its output resumes
  let closed = false; // for good: exit, close(), or gave up
  let disposed = false;
  let failures = 0; // connection attempts in a row that never resumed
  let retryTimer = 0;
  let pending = []; // input typed while not connected
  let pendingBytes = 0;

  function status(state, detail) {
    try {
      onStatus(state, detail || '');
    } catch (e) {
      console.error('terminal status callback', e);
    }
  }

  function sendControl(msg) {
    if (ws && ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify(msg));
  }

  function sendInput(bytes) {
    if (readOnly || closed) return false;
    if (ws && ws.readyState === WebSocket.OPEN && resumed) {
      ws.send(bytes);
      return true;
    }
    if (pendingBytes + bytes.length > MAX_PENDING) return false;
    pending.push(bytes);
    pendingBytes += bytes.length;
    return true;
  }

  function sendSize() {
    // A helper typing in someone's terminal (keepSize) leaves its size
    // to its owner.
    if (!readOnly && !opts.keepSize) sendControl({ type: 'resize', cols: term.cols, rows: term.rows });
  }

  function connect() {
    if (closed) return;
    status(failures === 0 && received === 0 ? 'connecting' : 'reconnecting', failures ? `attempt ${failures + 1}` : '');
    resumed = false;
    const sock = new WebSocket(opts.url);
    sock.binaryType = 'arraybuffer';
    ws = sock;
    sock.onopen = () => {
      sock.send(JSON.stringify({ type: 'hello', offset: received }));
      refit();
      sendSize();
    };
    sock.onmessage = (ev) => {
      if (sock !== ws) return;
      if (typeof ev.data !== 'string') {
        const bytes = new Uint8Array(ev.data);
        // Replay (output below liveFrom) is written apart, so its parsing
        // can be told from that of live output.
        const replay = Math.min(bytes.length, Math.max(0, liveFrom - received));
        received += bytes.length;
        if (replay > 0) {
          replaying++;
          term.write(bytes.subarray(0, replay), () => { replaying--; });
        }
        if (replay < bytes.length) term.write(bytes.subarray(replay));
        return;
      }
      let msg;
      try {
        msg = JSON.parse(ev.data);
      } catch {
        return;
      }
      switch (msg.type) {
        case 'resume':
          if (msg.offset < received) term.reset(); // a new shell: start a clean screen
          received = msg.offset;
          // Servers without "live" replay nothing we can tell apart.
          liveFrom = Number.isSafeInteger(msg.live) ? msg.live : 0;
          resumed = true;
          failures = 0;
          for (const b of pending) sock.send(b);
          pending = [];
          pendingBytes = 0;
          status('connected');
          break;
        case 'info':
          term.write(`\r\n\x1b[2m[${String(msg.message).replace(/[\x00-\x1f]/g, ' ')}]\x1b[0m\r\n`);
          break;
        case 'exit':
          closed = true;
          status('closed', msg.reason || 'the shell ended');
          break;
      }
    };
    sock.onclose = (ev) => {
      if (sock !== ws) return;
      ws = null;
      if (closed) {
        return;
      }
      if (ev.code === 1008 || ev.code === 1009) {
        // The server refused what we sent: retrying would repeat it.
        closed = true;
        status('closed', ev.reason || 'protocol error');
        return;
      }
      if (!resumed) failures++;
      if (failures >= GIVE_UP_AFTER) {
        closed = true;
        status('closed', 'cannot reach the terminal');
        return;
      }
      // 0.5 s, 1 s, 2 s … up to 10 s, with jitter so a restarted server is
      // not hit by every browser at once.
      const delay = Math.min(10000, 500 * 2 ** Math.max(0, failures - 1)) * (0.75 + Math.random() / 2);
      status('reconnecting', `retrying in ${Math.ceil(delay / 1000)} s`);
      retryTimer = setTimeout(connect, delay);
    };
  }

  // The socket first: the server starts the shell while xterm.js builds
  // its screen.
  connect();

  const { term, fit } = takeScreen(element, opts);
  term.options.cursorBlink = !readOnly;

  // While replay is parsed, xterm.js answers the queries in it (device
  // attributes, cursor position, colours) through onData; those answers
  // are meant for programs long gone and would land at the shell prompt.
  // xterm.js does not tell answers from typing, so both are dropped then.
  term.onData((data) => { if (!replaying) sendInput(encoder.encode(data)); });
  term.onBinary((data) => { if (!replaying) sendInput(Uint8Array.from(data, (c) => c.charCodeAt(0) & 0xff)); });
  term.onResize(() => sendSize());

  let fitFrame = 0;
  function refit() {
    cancelAnimationFrame(fitFrame);
    fitFrame = requestAnimationFrame(() => {
      if (element.clientWidth > 0 && element.clientHeight > 0) {
        try {
          fit.fit();
        } catch {
          /* not rendered yet */
        }
      }
    });
  }
  const observer = new ResizeObserver(refit);
  observer.observe(element);
  window.addEventListener('resize', refit);
  refit();

  // Reconnect at once when the network comes back or the tab wakes up.
  function wake() {
    if (!closed && !ws && retryTimer) {
      clearTimeout(retryTimer);
      retryTimer = 0;
      connect();
    }
  }
  window.addEventListener('online', wake);
  document.addEventListener('visibilitychange', wake);


  function close() {
    if (disposed) return;
    disposed = true;
    closed = true;
    clearTimeout(retryTimer);
    if (ws) ws.close(1000, 'closed by the page');
    ws = null;
    observer.disconnect();
    window.removeEventListener('resize', refit);
    window.removeEventListener('online', wake);
    document.removeEventListener('visibilitychange', wake);
    term.dispose();
  }

  return {
    term,
    /**
     * Types a command into the shell as if the learner had typed it.
     * Refuses ('fullscreen') while a full-screen program (vim, less) has
     * the screen: the keys would edit its buffer. Clears what the learner
     * had half typed at the prompt first (Ctrl+E, Ctrl+U), so the command
     * runs as shown. Returns true once sent, false if it could not be.
     */
    typeText(text) {
      const buf = term.buffer.active;
      if (buf.type === 'alternate') return 'fullscreen';
      const line = buf.getLine(buf.baseY + buf.cursorY)?.translateToString(true) || '';
      const clear = /\$ \S/.test(line) ? '\x05\x15' : '';
      return sendInput(encoder.encode(clear + String(text)));
    },
    focus() {
      term.focus();
    },
    fit: refit,
    /** Bytes of output received so far. */
    get offset() {
      return received;
    },
    get connected() {
      return resumed && !!ws && ws.readyState === WebSocket.OPEN;
    },
    close,
    dispose: close,
  };
}

// xterm.js styles its screen with <style> elements, appended empty and
// filled later. Our Content-Security-Policy (style-src 'self') refuses
// inline styles, and the browser reports every refusal; constructed style
// sheets it allows. So a <style> element is never put into the document:
// its text is mirrored into an adopted sheet while it lives, and dropped
// when it is removed. (CodeMirror uses adopted sheets itself.)
const styleSheets = new WeakMap(); // <style> element → its constructed sheet
function mirrorStyle(styleEl) {
  if (styleSheets.has(styleEl)) return;
  const sheet = new CSSStyleSheet();
  styleSheets.set(styleEl, sheet);
  document.adoptedStyleSheets = [...document.adoptedStyleSheets, sheet];
  const sync = () => {
    try {
      sheet.replaceSync(styleEl.textContent || '');
    } catch (e) {
      console.warn('terminal style', e);
    }
  };
  sync();
  new MutationObserver(sync).observe(styleEl, { childList: true, characterData: true, subtree: true });
}
if ('adoptedStyleSheets' in document && typeof CSSStyleSheet === 'function') {
  for (const method of ['appendChild', 'insertBefore']) {
    const insert = Node.prototype[method];
    Node.prototype[method] = function (node, ...rest) {
      if (node instanceof HTMLStyleElement && !node.nonce) {
        mirrorStyle(node);
        return node;
      }
      return insert.call(this, node, ...rest);
    };
  }
  const remove = HTMLStyleElement.prototype.remove;
  HTMLStyleElement.prototype.remove = function () {
    const sheet = styleSheets.get(this);
    if (sheet) {
      styleSheets.delete(this);
      document.adoptedStyleSheets = document.adoptedStyleSheets.filter((x) => x !== sheet);
    }
    return remove.call(this);
  };
}
