// The editor beside the terminal: the files of the learner's home in the
// sandbox (read and saved through kubelab's files API, never typed as
// keystrokes), open in CodeMirror with YAML highlighting. Each open file
// keeps its own buffer, so switching files loses no edit. Lesson blocks
// with a file name save into the home and open here.
import { toast, busy, askDialog } from '../api.js';
import { $, confirmDialog } from './page.js';
import { showView } from './views.js';

const console_ = $('#console');
const tabs = { terminal: $('#tab-terminal'), editor: $('#tab-editor') };
const el = {
  pane: $('#editor'),
  tree: $('#editor-tree'),
  empty: $('#editor-empty'),
  path: $('#editor-path'),
  state: $('#editor-state'),
  save: $('#editor-save'),
  host: $('#editor-host'),
  create: $('#editor-new'),
  refresh: $('#editor-refresh'),
  newName: $('#editor-new-name'),
};

let codemirror = null;
function loadCodeMirror() {
  codemirror ??= import('../../vendor/codemirror/codemirror.mjs');
  return codemirror;
}

/** A sentence from an error answer of the files API. */
async function failure(res) {
  try {
    const data = await res.json();
    if (data?.error) return data.error;
  } catch { /* not JSON */ }
  return `The server answered ${res.status} ${res.statusText}.`;
}

function fileURL(id, path) {
  return `/api/v1/sessions/${encodeURIComponent(id)}/files/${path.split('/').map(encodeURIComponent).join('/')}`;
}

/**
 * Creates the editor. session() is the current session JSON or null;
 * showTerminal() brings the terminal back (it refits).
 * @param {{session: () => any, showTerminal: () => void}} opts
 */
export function createEditor({ session, showTerminal }) {
  let view = null; // the EditorView, once CodeMirror has loaded
  let cm = null; // the CodeMirror module
  let current = ''; // path of the file shown
  let sessionID = ''; // whose home the buffers hold
  const buffers = new Map(); // path → {state, saved}

  const sessionReady = () => session()?.status === 'ready';

  function setPane(name) {
    const editor = name === 'editor';
    console_.dataset.pane = name;
    el.pane.hidden = !editor;
    for (const [k, t] of Object.entries(tabs)) {
      t.setAttribute('aria-selected', String(k === name));
      t.tabIndex = k === name ? 0 : -1;
    }
    if (editor) {
      list();
      view?.focus();
    } else {
      showTerminal();
    }
  }

  function dirty(path) {
    const b = buffers.get(path);
    if (!b) return false;
    const text = path === current && view ? view.state.doc.toString() : b.state.doc.toString();
    return text !== b.saved;
  }

  function showState() {
    const d = current && dirty(current);
    el.save.disabled = !current || !d;
    el.state.textContent = !current ? '' : d ? 'Unsaved changes' : 'Saved';
    for (const b of el.tree.querySelectorAll('.editor-file')) {
      b.classList.toggle('dirty', dirty(b.dataset.path));
      b.setAttribute('aria-current', String(b.dataset.path === current));
    }
  }

  async function ensureView() {
    if (view) return;
    cm = await loadCodeMirror();
    view = new cm.EditorView({
      parent: el.host,
      state: newState(''),
    });
  }

  function newState(text) {
    return cm.EditorState.create({
      doc: text,
      extensions: [
        cm.lineNumbers(), cm.highlightActiveLineGutter(), cm.highlightSpecialChars(), cm.history(),
        cm.drawSelection(), cm.indentOnInput(), cm.bracketMatching(), cm.highlightActiveLine(),
        cm.highlightSelectionMatches(), cm.syntaxHighlighting(cm.classHighlighter),
        // YAML: two spaces, never tabs; Enter keeps the line's indentation
        // (pasting does not re-indent, so nothing cascades).
        cm.indentUnit.of('  '), cm.EditorState.tabSize.of(2), cm.yaml(),
        cm.keymap.of([
          { key: 'Mod-s', preventDefault: true, run: () => { save(); return true; } },
          cm.indentWithTab, ...cm.defaultKeymap, ...cm.historyKeymap, ...cm.searchKeymap,
        ]),
        cm.EditorView.updateListener.of((u) => { if (u.docChanged) showState(); }),
        cm.EditorView.contentAttributes.of({ 'aria-label': 'File contents' }),
      ],
    });
  }

  /** Forgets the buffers of another session (a reset or a new lab). */
  function adoptSession() {
    const id = session()?.id || '';
    if (id === sessionID) return;
    sessionID = id;
    buffers.clear();
    current = '';
    el.path.textContent = 'No file open';
    if (view) view.setState(newState(''));
    el.tree.replaceChildren();
    showState();
  }

  /** The home's listing ({files, truncated}), or null after telling the learner why not. */
  async function fetchList() {
    let res;
    try {
      res = await fetch(`/api/v1/sessions/${encodeURIComponent(sessionID)}/files`, { credentials: 'same-origin' });
    } catch {
      toast('Cannot reach kubelab to list your files. Check your connection and try again.', { error: true });
      return null;
    }
    if (!res.ok) {
      toast(`Could not list your files: ${await failure(res)}`, { error: true });
      return null;
    }
    return res.json();
  }

  async function list() {
    adoptSession();
    if (!sessionReady()) return;
    const listing = await fetchList();
    if (!listing) return;
    const files = listing.files || [];
    const { truncated } = listing;
    const items = files.map((f) => {
      const li = document.createElement('li');
      const depth = f.path.split('/').length - 1;
      const name = f.path.split('/').pop();
      const b = document.createElement(f.dir ? 'span' : 'button');
      b.className = f.dir ? 'editor-dir' : 'editor-file';
      b.style.setProperty('--depth', String(depth));
      b.textContent = f.dir ? `${name}/` : name;
      b.title = `~/${f.path}`;
      if (!f.dir) {
        b.type = 'button';
        b.dataset.path = f.path;
        b.addEventListener('click', () => open(f.path));
      }
      li.append(b);
      return li;
    });
    if (truncated) {
      const li = document.createElement('li');
      li.className = 'muted small editor-empty';
      li.textContent = 'More files than the editor lists; open the others from the terminal.';
      items.push(li);
    }
    el.tree.replaceChildren(...items);
    el.empty.hidden = files.length > 0;
    showState();
  }

  /** Shows path in the editor, from its buffer or read from the home. */
  async function open(path, text) {
    adoptSession();
    await ensureView();
    if (current && buffers.has(current)) buffers.get(current).state = view.state;
    let b = buffers.get(path);
    if (text !== undefined) {
      b = { state: newState(text), saved: text };
      buffers.set(path, b);
    } else if (!b) {
      let res;
      try {
        res = await fetch(fileURL(sessionID, path), { credentials: 'same-origin' });
      } catch {
        toast('Cannot reach kubelab to open the file. Check your connection and try again.', { error: true });
        return;
      }
      if (!res.ok) {
        toast(`Could not open ~/${path}: ${await failure(res)}`, { error: true });
        return;
      }
      const body = await res.text();
      b = { state: newState(body), saved: body };
      buffers.set(path, b);
    }
    current = path;
    view.setState(b.state);
    el.path.textContent = `~/${path}`;
    showState();
    view.focus();
  }

  /** Writes text to path in the home; resolves true when it is saved. */
  async function write(path, text) {
    let res;
    try {
      res = await fetch(fileURL(sessionID, path), {
        method: 'PUT', credentials: 'same-origin', body: text,
        headers: { 'Content-Type': 'text/plain; charset=utf-8' },
      });
    } catch {
      toast('Cannot reach kubelab to save. Check your connection and try again; your text stays here.', { error: true });
      return false;
    }
    if (!res.ok) {
      toast(`Could not save ~/${path}: ${await failure(res)}`, { error: true });
      return false;
    }
    return true;
  }

  async function save() {
    if (!current || !view) return;
    const path = current;
    const text = view.state.doc.toString();
    await busy(el.save, async () => {
      if (!(await write(path, text))) return;
      const b = buffers.get(path);
      if (b) b.saved = text;
      toast(`Saved ~/${path}.`);
    });
    showState(); // busy enabled the button again
  }

  for (const [name, t] of Object.entries(tabs)) t.addEventListener('click', () => setPane(name));
  el.save.addEventListener('click', save);
  el.refresh.addEventListener('click', () => busy(el.refresh, list));
  el.create.addEventListener('click', async () => {
    el.newName.value = '';
    if (await askDialog('editor-new-dialog') !== 'confirm') return;
    const path = el.newName.value.trim().replace(/^~?\/+/, '');
    if (!path) return;
    if (!(await write(path, ''))) return;
    await list();
    await open(path, '');
  });
  // Leaving the page with unsaved edits asks first.
  window.addEventListener('beforeunload', (ev) => {
    if ([...buffers.keys()].some(dirty)) ev.preventDefault();
  });

  return {
    /** The session is not ready: its home is gone or not there yet. */
    close() {
      if (console_.dataset.pane === 'editor') setPane('terminal');
      sessionID = '';
      adoptSession();
    },
    /** Shows the terminal (if the editor was shown). */
    showTerminal() {
      if (console_.dataset.pane === 'editor') setPane('terminal');
    },
    /** Preloads CodeMirror in the page's idle time. */
    preload() {
      (window.requestIdleCallback || ((f) => setTimeout(f, 200)))(() => { loadCodeMirror(); });
    },

    /** Saves a lesson block to ~/path and opens it; asks before replacing different content. */
    async saveBlock(path, text, button) {
      if (!sessionReady()) {
        toast('Start the lab first: the file is saved into your sandbox’s home directory.');
        return false;
      }
      adoptSession();
      return busy(button, async () => {
        // What is there now, if anything (asked through the listing, so a
        // new file costs no failed request).
        let existing = null;
        const listing = await fetchList();
        if ((listing?.files || []).some((f) => f.path === path)) {
          try {
            const res = await fetch(fileURL(sessionID, path), { credentials: 'same-origin' });
            if (res.ok) existing = await res.text();
          } catch { /* the save below reports it */ }
        }
        if (dirty(path) || (existing !== null && existing !== text)) {
          if (!(await confirmDialog('confirm-overwrite'))) return false;
        }
        if (!(await write(path, text))) return false;
        showView('console');
        setPane('editor');
        await open(path, text);
        toast(`Saved ~/${path}. Apply it with kubectl apply -f ${path}`);
        return true;
      });
    },
  };
}
