// The terminal pane: the learner's shell (attachTerminal from terminal.js,
// loaded on demand), its connection status line and the button that opens
// a new shell after the old one ended.
import { $ } from './page.js';
import { setOverlay, overlayState, showError } from './overlay.js';

const termHost = $('#terminal');
const termStatus = $('#term-status');
const reconnect = $('#term-reconnect');

let terminalModule = null;
function loadTerminalModule() {
  terminalModule ??= import('../terminal.js');
  return terminalModule;
}

function termStatusText(kind, detail) {
  switch (kind) {
    case 'connected': return 'Connected';
    case 'connecting': return 'Connecting…';
    case 'reconnecting': return detail ? `Connection lost, reconnecting… (${detail})` : 'Connection lost, reconnecting…';
    case 'closed': return detail ? `Terminal closed: ${detail}` : 'Terminal closed';
    case 'error': return detail ? `Terminal error: ${detail}` : 'Terminal error';
    default: return detail ? `${kind}: ${detail}` : kind;
  }
}

/**
 * Creates the pane. session() is the current session JSON or null;
 * onClosed runs when the server closed the shell.
 * @param {{session: () => any, onClosed: () => void}} opts
 */
export function createTerminalPane({ session, onClosed }) {
  let term = null; // the attachTerminal handle
  let termFor = ''; // session id the terminal belongs to
  let termReady = false; // the websocket is connected
  let termToken = 0; // guards against overlapping open calls

  /** Receives the terminal's status; accepts (state, detail) or ({state, message}). */
  function onStatus(token, a, b) {
    if (token !== termToken) return;
    let kind = a;
    let detail = b;
    if (a && typeof a === 'object') {
      kind = a.state || a.status || a.type || '';
      detail = a.message || a.reason || a.detail || '';
    }
    kind = String(kind || '').toLowerCase();
    if (kind === 'open' || kind === 'ready' || kind === 'attached') kind = 'connected';
    if (kind === 'exit' || kind === 'exited' || kind === 'disconnected') kind = 'closed';
    if (typeof detail !== 'string') detail = detail == null ? '' : String(detail);
    termReady = kind === 'connected';
    termStatus.dataset.state = kind;
    $('.text', termStatus).textContent = termStatusText(kind, detail);
    if (session()?.status === 'ready') {
      if (kind === 'connected') setOverlay('none');
      else if (kind === 'connecting' && overlayState() !== 'none') setOverlay('connecting');
    }
    reconnect.hidden = kind !== 'closed' && kind !== 'error';
    if (kind === 'closed') {
      // The server closes the shell when the session ends or is reset: learn why.
      onClosed();
    }
  }

  /** Attaches to the current session's shell unless already attached. */
  async function open() {
    const s = session();
    if (termFor === s.id) return; // attached or attaching
    close();
    const token = ++termToken;
    termFor = s.id;
    setOverlay('connecting');
    onStatus(token, 'connecting');
    let mod;
    try {
      mod = await loadTerminalModule();
    } catch (e) {
      showError(`The terminal could not be loaded (${e.message}). Reload the page to try again.`);
      return;
    }
    if (token !== termToken) return;
    const url = new URL(`/api/v1/sessions/${encodeURIComponent(s.id)}/terminal`, location.href);
    url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
    try {
      term = mod.attachTerminal(termHost, {
        url: url.href,
        readOnly: false,
        onStatus: (a, b) => onStatus(token, a, b),
      });
    } catch (e) {
      showError(`The terminal could not start: ${e.message}`);
    }
  }

  // prepare builds an unattached screen while the page is idle.
  function prepare() {
    loadTerminalModule().then((mod) => {
      const idle = window.requestIdleCallback || ((f) => setTimeout(f, 50));
      idle(() => { if (!term) mod.prepareScreen(termHost); });
    }).catch(() => {});
  }

  function close() {
    const had = !!term;
    termToken++;
    termReady = false;
    if (term) {
      for (const m of ['close', 'dispose', 'destroy']) {
        if (typeof term[m] === 'function') { try { term[m](); } catch { /* already closed */ } break; }
      }
    }
    term = null;
    termFor = '';
    termStatus.dataset.state = '';
    $('.text', termStatus).textContent = 'Not connected';
    reconnect.hidden = true;
    if (had) prepare();
  }

  function focus() {
    if (term && typeof term.focus === 'function') term.focus();
    else $('textarea', termHost)?.focus();
  }

  // After the shell exited (or the terminal gave up), a fresh one on demand.
  reconnect.addEventListener('click', () => {
    if (session()?.status !== 'ready') return;
    close();
    open();
    focus();
  });

  return {
    open,
    close,
    focus,
    /** Whether the websocket is connected. */
    get ready() {
      return !!term && termReady;
    },
    /** Types text into the shell; false when it takes no input now. */
    /** Types into the shell: true, false, or 'fullscreen' (see terminal.js). */
    typeText(text) {
      return term.typeText(text);
    },
    /** Loads the terminal code and builds its screen early: both are needed as soon as a sandbox is ready. */
    preload: prepare,
  };
}
