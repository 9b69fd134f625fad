// The chapter page: lesson steps as tabs, the resizable split, run and copy
// buttons on code blocks, hints, live task status, and the sandbox session
// with its terminal (attachTerminal from terminal.js) and event stream.
// Every text that came from a user or the server is set with textContent.
import { api, toast, busy, setPrefCookie } from './api.js';

const $ = (sel, root = document) => root.querySelector(sel);
const $$ = (sel, root = document) => [...root.querySelectorAll(sel)];

const workspace = $('.workspace');
const chapterID = workspace.dataset.chapter;
const userID = document.body.dataset.user || '';
const sessionKey = `kubelab.session.${userID}.${chapterID}`;
const stepKey = `kubelab.step.${chapterID}`;

const el = {
  lessonBody: $('#lesson-body'),
  overlay: $('#overlay'),
  status: $('#session-status'),
  expiry: $('#expiry'),
  extend: $('#extend-btn'),
  reset: $('#reset-btn'),
  end: $('#end-btn'),
  kubeconfig: $('#kubeconfig-link'),
  sim: $('#sim-banner'),
  simPill: $('#sim-pill'),
  expiring: $('#expiring-banner'),
  termHost: $('#terminal'),
  termStatus: $('#term-status'),
  reconnect: $('#term-reconnect'),
  progress: $('#progress'),
  progressText: $('#progress-text'),
  provProgress: $('#prov-progress'),
  provSteps: $('#prov-steps'),
  queuePos: $('#queue-pos'),
  failReason: $('#fail-reason'),
  endedReason: $('#ended-reason'),
  errorMessage: $('#error-message'),
};

const state = {
  session: null,     // the session JSON as last seen
  term: null,        // the attachTerminal handle
  termFor: '',       // session id the terminal belongs to
  termReady: false,  // the websocket is connected
  termToken: 0,      // guards against overlapping openTerminal calls
  events: null,      // EventSource
  eventsFor: '',
  eventsRetry: 0,
  poll: 0,
  provCount: 0,
  simTimer: 0,
};

// ---------------------------------------------------------------- steps

const tabs = $$('.step-tab');
const panels = $$('.step[role="tabpanel"]');

function selectStep(id, { focus = false, keepScroll = false } = {}) {
  if (!panels.some((p) => p.dataset.step === id)) return false;
  for (const t of tabs) {
    const on = t.dataset.step === id;
    t.setAttribute('aria-selected', String(on));
    t.tabIndex = on ? 0 : -1;
    if (on) {
      t.scrollIntoView({ block: 'nearest', inline: 'nearest' });
      if (focus) t.focus();
    }
  }
  for (const p of panels) p.hidden = p.dataset.step !== id;
  if (!keepScroll) el.lessonBody.scrollTop = 0;
  try { localStorage.setItem(stepKey, id); } catch { /* private mode */ }
  if (location.hash !== `#${id}`) history.replaceState(null, '', `#${id}`);
  return true;
}

for (const t of tabs) {
  t.addEventListener('click', () => selectStep(t.dataset.step));
  t.addEventListener('keydown', (ev) => {
    const i = tabs.indexOf(t);
    let j = -1;
    if (ev.key === 'ArrowRight') j = (i + 1) % tabs.length;
    else if (ev.key === 'ArrowLeft') j = (i - 1 + tabs.length) % tabs.length;
    else if (ev.key === 'Home') j = 0;
    else if (ev.key === 'End') j = tabs.length - 1;
    if (j < 0) return;
    ev.preventDefault();
    selectStep(tabs[j].dataset.step, { focus: true });
  });
}
for (const b of $$('[data-goto]')) {
  b.addEventListener('click', () => {
    selectStep(b.dataset.goto);
    el.lessonBody.focus({ preventScroll: true });
  });
}

// A hash names a step, or a heading inside one.
function followHash() {
  const id = decodeURIComponent(location.hash.slice(1));
  if (!id) return false;
  if (selectStep(id)) return true;
  const target = document.getElementById(id);
  const panel = target && target.closest('.step[role="tabpanel"]');
  if (!panel) return false;
  selectStep(panel.dataset.step, { keepScroll: true });
  history.replaceState(null, '', `#${id}`);
  target.scrollIntoView({ block: 'start' });
  return true;
}
window.addEventListener('hashchange', followHash);
if (!followHash()) {
  let saved = '';
  try { saved = localStorage.getItem(stepKey) || ''; } catch { /* private mode */ }
  if (saved) selectStep(saved);
}

// ---------------------------------------------------------------- split

const divider = $('#divider');
let splitFrame = 0;

function setSplit(n, save) {
  n = Math.max(20, Math.min(80, Math.round(n)));
  if (String(n) !== workspace.dataset.split) {
    workspace.dataset.split = String(n);
    divider.setAttribute('aria-valuenow', String(n));
    // The terminal refits on resize; nudge it once per frame.
    cancelAnimationFrame(splitFrame);
    splitFrame = requestAnimationFrame(() => window.dispatchEvent(new Event('resize')));
  }
  if (save) setPrefCookie('kubelab_split', String(n));
}

divider.addEventListener('pointerdown', (ev) => {
  if (ev.button !== 0) return;
  ev.preventDefault();
  divider.setPointerCapture(ev.pointerId);
  workspace.classList.add('dragging');
  const rect = workspace.getBoundingClientRect();
  const move = (e) => setSplit(((e.clientX - rect.left) / rect.width) * 100, false);
  const up = () => {
    workspace.classList.remove('dragging');
    divider.removeEventListener('pointermove', move);
    divider.removeEventListener('pointerup', up);
    divider.removeEventListener('pointercancel', up);
    setSplit(Number(workspace.dataset.split), true);
  };
  divider.addEventListener('pointermove', move);
  divider.addEventListener('pointerup', up);
  divider.addEventListener('pointercancel', up);
});
divider.addEventListener('dblclick', () => setSplit(50, true));
divider.addEventListener('keydown', (ev) => {
  const cur = Number(workspace.dataset.split) || 50;
  const step = ev.shiftKey ? 10 : 2;
  const next = { ArrowLeft: cur - step, ArrowRight: cur + step, Home: 20, End: 80, Enter: 50 }[ev.key];
  if (next === undefined) return;
  ev.preventDefault();
  setSplit(next, true);
});

// ---------------------------------------------------------------- code blocks

function codeButton(cls, label, title) {
  const b = document.createElement('button');
  b.type = 'button';
  b.className = `code-btn ${cls}`;
  b.textContent = label;
  b.title = title;
  return b;
}

function flash(button, label) {
  const orig = button.dataset.label || button.textContent;
  button.dataset.label = orig;
  button.textContent = label;
  button.classList.add('done');
  clearTimeout(Number(button.dataset.timer));
  button.dataset.timer = String(setTimeout(() => {
    button.textContent = orig;
    button.classList.remove('done');
  }, 1500));
}

async function copyText(text, button) {
  try {
    await navigator.clipboard.writeText(text);
  } catch {
    // No clipboard API outside secure contexts: fall back to a selection.
    const ta = document.createElement('textarea');
    ta.value = text;
    ta.setAttribute('readonly', '');
    ta.className = 'visually-hidden';
    document.body.append(ta);
    ta.select();
    const ok = document.execCommand('copy');
    ta.remove();
    if (!ok) { toast('Copy failed: select the text and press Ctrl+C.', { error: true }); return; }
  }
  flash(button, 'Copied ✓');
}

function runCode(text, button) {
  if (!state.session || state.session.status !== 'ready') {
    toast('Start the lab first: the command runs in your sandbox terminal.');
    const start = $('#start-btn');
    if (start && el.overlay.dataset.state === 'start') start.focus();
    return;
  }
  if (!state.term || !state.termReady) {
    toast('The terminal is still connecting; try again in a moment.');
    return;
  }
  if (state.term.typeText(`${text.replace(/\n+$/, '')}\n`) === false) {
    toast('The terminal is not taking input right now; wait for it to reconnect.', { error: true });
    return;
  }
  flash(button, 'Sent ✓');
}

let runButtons = 0;
function enhanceCode(root) {
  for (const block of $$('div.codeblock', root)) {
    if ($('.code-actions', block)) continue;
    const code = $('code', block);
    if (!code) continue;
    const bar = document.createElement('div');
    bar.className = 'code-actions';
    if (block.dataset.action === 'run') {
      const run = codeButton('run', '▶ Run', 'Type this command into the terminal');
      run.dataset.run = String(runButtons++);
      run.addEventListener('click', () => runCode(code.textContent, run));
      bar.append(run);
    }
    const copy = codeButton('copy', 'Copy', 'Copy to the clipboard');
    copy.addEventListener('click', () => copyText(code.textContent.replace(/\n+$/, ''), copy));
    bar.append(copy);
    block.append(bar);
  }
}
enhanceCode(document);

// GFM task lists render disabled checkboxes; name them for screen readers.
for (const cb of $$('.prose li > input[type="checkbox"]')) {
  cb.setAttribute('aria-label', cb.parentElement.textContent.trim());
}

// ---------------------------------------------------------------- hints

// Hints open one at a time: opening hint N reveals hint N+1.
for (const hints of $$('.hints')) {
  const slots = $$('.hint-slot', hints);
  slots.forEach((slot, i) => {
    const details = $('details', slot);
    if (!details) return;
    details.addEventListener('toggle', () => {
      if (details.open && slots[i + 1]) slots[i + 1].hidden = false;
    });
  });
}

// ---------------------------------------------------------------- tasks

const taskEls = new Map($$('.task').map((li) => [li.dataset.task, li]));
const totalTasks = taskEls.size;

function setTaskStatus(li, status) {
  li.dataset.status = status;
  const label = { passed: 'passed', failing: 'not passed yet', error: 'could not be checked', checking: 'checking', open: 'not passed yet' }[status];
  $('.task-state', li).textContent = label || status;
}

function renderChecks(li, checks, show) {
  const ul = $('.checks', li);
  ul.replaceChildren();
  for (const c of checks || []) {
    const item = document.createElement('li');
    item.className = c.error ? 'err' : c.passed ? 'ok' : '';
    const body = document.createElement('span');
    body.textContent = c.error ? `Could not check: ${c.error}` : (c.message || (c.passed ? 'OK' : 'Not yet'));
    if (c.detail && !c.passed) {
      const d = document.createElement('span');
      d.className = 'detail';
      d.textContent = c.detail;
      body.append(d);
    }
    item.append(body);
    ul.append(item);
  }
  ul.hidden = !show || ul.childElementCount === 0;
}

/** Applies one task result from the API or the event stream. */
function applyTask(t, { explicit = false } = {}) {
  const li = taskEls.get(t.id);
  if (!li) return;
  const was = li.dataset.status;
  if (explicit) li.dataset.checked = 'true';
  // A task passed once stays done (the learner may clean up afterwards),
  // as in the stored progress.
  if (t.passed) li.dataset.ever = 'true';
  const ever = !!li.dataset.ever;
  const hasError = (t.checks || []).some((c) => c.error);
  let status = 'open';
  if (t.passed || ever) status = 'passed';
  else if (hasError) status = 'error';
  else if (li.dataset.checked || was === 'failing') status = 'failing';
  setTaskStatus(li, status);
  li.dataset.score = String(t.passed ? (t.score ?? li.dataset.points) : ever ? li.dataset.points : (t.score ?? 0));
  $('.task-icon', li).title = ever && !t.passed ? 'Passed earlier (the objects have changed since)' : '';
  renderChecks(li, t.checks, (status === 'error' || status === 'failing') && !ever);
  if (status === 'passed' && was !== 'passed') {
    li.classList.remove('just-passed');
    void li.offsetWidth; // restart the animation
    li.classList.add('just-passed');
    const title = $('.task-title', li).textContent;
    toast(`✓ Task passed: ${title}`);
  }
  updateProgress(status === 'passed' && was !== 'passed');
}

function formatScore(n) {
  return Number.isInteger(n) ? String(n) : n.toFixed(1);
}

function updateProgress(justPassed) {
  let passed = 0;
  let score = 0;
  for (const li of taskEls.values()) {
    if (li.dataset.status === 'passed') passed++;
    score += Number(li.dataset.score) || 0;
  }
  el.progress.value = passed;
  el.progress.textContent = `${passed} of ${totalTasks}`;
  $('[data-passed]', el.progressText).textContent = String(passed);
  $('[data-score]', el.progressText).textContent = formatScore(score);
  for (const tab of tabs) {
    const mine = [...taskEls.values()].filter((li) => li.dataset.step === tab.dataset.step);
    tab.classList.toggle('done', mine.length > 0 && mine.every((li) => li.dataset.status === 'passed'));
  }
  if (justPassed && passed === totalTasks && totalTasks > 0) {
    toast('Chapter complete: every task passed!', { ms: 6000 });
  }
}

async function loadTasks() {
  const s = state.session;
  if (!s || s.status !== 'ready') return;
  try {
    const tasks = await api('GET', `/api/v1/sessions/${s.id}/tasks`);
    for (const t of tasks || []) applyTask(t);
  } catch (e) {
    if (e.status !== 409) toast(`Could not load the task status: ${e.message}`, { error: true });
  }
}

for (const li of taskEls.values()) {
  const button = $('[data-check]', li);
  button.addEventListener('click', () => {
    const s = state.session;
    if (!s || s.status !== 'ready') {
      toast('Start the lab first: tasks are checked against your sandbox.');
      return;
    }
    const before = li.dataset.status;
    setTaskStatus(li, 'checking');
    busy(button, async () => {
      try {
        const t = await api('POST', `/api/v1/sessions/${s.id}/tasks/${encodeURIComponent(li.dataset.task)}/check`, {});
        applyTask(t, { explicit: true });
      } catch (e) {
        setTaskStatus(li, before);
        toast(`Check failed: ${e.message}`, { error: true });
      }
    });
  });
}

// ---------------------------------------------------------------- session

const statusLabels = {
  none: 'No sandbox', provisioning: 'Preparing', queued: 'Queued', ready: 'Ready',
  failed: 'Failed', expired: 'Expired', ended: 'Ended',
};
const live = new Set(['provisioning', 'queued', 'ready']);

function setOverlay(name) {
  el.overlay.dataset.state = name;
}

function remember(id) {
  try { localStorage.setItem(sessionKey, id); } catch { /* private mode */ }
}
function forget() {
  try { localStorage.removeItem(sessionKey); } catch { /* private mode */ }
}

function showError(message) {
  el.errorMessage.textContent = message;
  setOverlay('error');
}

/** Takes a session JSON (from any source) as the current state. */
function adopt(s) {
  const prev = state.session;
  state.session = s;
  const st = s.status;
  el.status.dataset.status = st;
  el.status.textContent = statusLabels[st] || st;
  if (live.has(st)) remember(s.id); else if (st !== 'failed') forget();

  const ready = st === 'ready';
  el.extend.hidden = !ready;
  el.kubeconfig.hidden = !ready;
  el.kubeconfig.href = `/api/v1/sessions/${encodeURIComponent(s.id)}/kubeconfig`;
  el.reset.hidden = !(ready || st === 'failed');
  el.end.hidden = !live.has(st) && st !== 'failed';
  const simulated = ready && s.sandbox && s.sandbox.simulated;
  el.simPill.hidden = !simulated;
  if (!simulated) el.sim.hidden = true;
  else if (!prev || prev.id !== s.id || prev.status !== 'ready') {
    el.sim.hidden = simSeen(s.id);
    // It covers part of the terminal: shown once, it goes away by itself.
    clearTimeout(state.simTimer);
    if (!el.sim.hidden) state.simTimer = setTimeout(() => dismissSim(s.id), 15000);
  }
  if (!ready) el.expiring.hidden = true;
  renderExpiry();

  switch (st) {
    case 'provisioning':
      if (!prev || prev.status !== 'provisioning' || prev.id !== s.id) resetProvisioning();
      setOverlay('provisioning');
      closeTerminal();
      ensureEvents();
      ensurePoll();
      break;
    case 'queued':
      el.queuePos.textContent = s.position ? String(s.position) : '—';
      setOverlay('queued');
      closeTerminal();
      ensureEvents();
      ensurePoll();
      break;
    case 'ready':
      stopPoll();
      el.provProgress.value = 100;
      ensureEvents();
      openTerminal();
      if (!prev || prev.status !== 'ready' || prev.id !== s.id) loadTasks();
      break;
    case 'failed':
      el.failReason.textContent = s.reason || 'The sandbox could not be prepared. No reason was given.';
      setOverlay('failed');
      closeTerminal();
      closeEvents();
      stopPoll();
      break;
    default: // ended, expired
      el.endedReason.textContent = st === 'expired'
        ? 'Your sandbox expired and was deleted. Your progress is saved.'
        : (s.reason || 'Your sandbox was deleted. Your progress is saved.');
      setOverlay('ended');
      closeTerminal();
      closeEvents();
      stopPoll();
      forget();
  }
}

async function startSession(button) {
  resetProvisioning();
  provStep({ message: 'Requesting a sandbox' });
  setOverlay('provisioning');
  el.status.dataset.status = 'provisioning';
  el.status.textContent = statusLabels.provisioning;
  await busy(button, async () => {
    try {
      adopt(await api('POST', `/api/v1/chapters/${encodeURIComponent(chapterID)}/session`, {}));
    } catch (e) {
      if (e.status === 401) {
        location.assign(`/login?next=${encodeURIComponent(location.pathname)}`);
        return;
      }
      el.status.dataset.status = 'none';
      el.status.textContent = statusLabels.none;
      showError(e.status === 503 ? `${e.message} Your request was not queued; try again shortly.` : e.message);
    }
  });
}
for (const b of $$('[data-start]')) b.addEventListener('click', () => startSession(b));

async function refreshSession() {
  const s = state.session;
  if (!s) return;
  try {
    adopt(await api('GET', `/api/v1/sessions/${encodeURIComponent(s.id)}`));
  } catch (e) {
    if (e.status === 404) {
      adopt({ ...s, status: 'ended', reason: 'This sandbox no longer exists. Your progress is saved.' });
    }
    // Anything else (network, restart): the next poll or event retries.
  }
}

function ensurePoll() {
  // Events carry every change; polling is a safety net for a lost stream.
  if (state.poll) return;
  state.poll = setInterval(refreshSession, 4000);
}
function stopPoll() {
  clearInterval(state.poll);
  state.poll = 0;
}

// ---------------------------------------------------------------- provisioning

const expectedSteps = 6;

function resetProvisioning() {
  state.provCount = 0;
  el.provSteps.replaceChildren();
  el.provProgress.value = 5;
}

function provStep(ev) {
  const text = ev.message || ev.step || 'Working';
  const last = el.provSteps.lastElementChild;
  if (last && last.textContent === text) return;
  if (last) last.classList.remove('current');
  const li = document.createElement('li');
  li.className = 'current';
  li.textContent = text;
  el.provSteps.append(li);
  while (el.provSteps.childElementCount > 6) el.provSteps.firstElementChild.remove();
  state.provCount++;
  el.provProgress.value = Math.min(95, 5 + (90 * state.provCount) / expectedSteps);
}

// ---------------------------------------------------------------- events

function ensureEvents() {
  const s = state.session;
  if (state.events && state.eventsFor === s.id) return;
  closeEvents();
  const es = new EventSource(`/api/v1/sessions/${encodeURIComponent(s.id)}/events`);
  state.events = es;
  state.eventsFor = s.id;
  const parse = (fn) => (ev) => {
    let data;
    try { data = JSON.parse(ev.data); } catch { return; }
    fn(data);
  };
  es.addEventListener('open', () => { state.eventsRetry = 0; });
  es.addEventListener('status', parse((d) => { if (d.id === state.session?.id) adopt(d); }));
  es.addEventListener('progress', parse(provStep));
  es.addEventListener('tasks', parse((list) => { for (const t of list || []) applyTask(t); }));
  es.addEventListener('expiring', parse((d) => {
    $('.text', el.expiring).textContent = d.message || 'Your sandbox expires soon. Extend it to keep working.';
    el.expiring.hidden = false;
    if (d.expires_at && state.session?.sandbox) {
      state.session.sandbox.expires_at = d.expires_at;
      renderExpiry();
    }
  }));
  es.addEventListener('error', () => {
    // EventSource retries by itself unless the server refused the stream.
    if (es.readyState !== EventSource.CLOSED) return;
    closeEvents();
    const delay = Math.min(30000, 1000 * 2 ** state.eventsRetry++);
    setTimeout(async () => {
      await refreshSession();
      if (state.session && live.has(state.session.status)) ensureEvents();
    }, delay);
  });
}

function closeEvents() {
  if (state.events) state.events.close();
  state.events = null;
  state.eventsFor = '';
}

// ---------------------------------------------------------------- terminal

let terminalModule = null;
function loadTerminalModule() {
  terminalModule ??= import('./terminal.js');
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

/** Receives the terminal's status; accepts (state, detail) or ({state, message}). */
function onTerminalStatus(token, a, b) {
  if (token !== state.termToken) return;
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
  state.termReady = kind === 'connected';
  el.termStatus.dataset.state = kind;
  $('.text', el.termStatus).textContent = termStatusText(kind, detail);
  if (state.session?.status === 'ready') {
    if (kind === 'connected') setOverlay('none');
    else if (kind === 'connecting' && el.overlay.dataset.state !== 'none') setOverlay('connecting');
  }
  el.reconnect.hidden = kind !== 'closed' && kind !== 'error';
  if (kind === 'closed') {
    // The server closes the shell when the session ends or is reset: learn why.
    refreshSession();
  }
}

async function openTerminal() {
  const s = state.session;
  if (state.termFor === s.id) return; // attached or attaching
  closeTerminal();
  const token = ++state.termToken;
  state.termFor = s.id;
  setOverlay('connecting');
  onTerminalStatus(token, 'connecting');
  let mod;
  try {
    mod = await loadTerminalModule();
  } catch (e) {
    showError(`The terminal could not be loaded (${e.message}). Reload the page to try again.`);
    return;
  }
  if (token !== state.termToken) return;
  el.termHost.replaceChildren();
  const url = new URL(`/api/v1/sessions/${encodeURIComponent(s.id)}/terminal`, location.href);
  url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
  try {
    state.term = mod.attachTerminal(el.termHost, {
      url: url.href,
      readOnly: false,
      onStatus: (a, b) => onTerminalStatus(token, a, b),
    });
  } catch (e) {
    showError(`The terminal could not start: ${e.message}`);
  }
}

// After the shell exited (or the terminal gave up), a fresh one on demand.
el.reconnect.addEventListener('click', () => {
  if (state.session?.status !== 'ready') return;
  closeTerminal();
  openTerminal();
  focusTerminal();
});

function closeTerminal() {
  state.termToken++;
  state.termReady = false;
  if (state.term) {
    for (const m of ['close', 'dispose', 'destroy']) {
      if (typeof state.term[m] === 'function') { try { state.term[m](); } catch { /* already closed */ } break; }
    }
  }
  state.term = null;
  state.termFor = '';
  el.termStatus.dataset.state = '';
  $('.text', el.termStatus).textContent = 'Not connected';
  el.reconnect.hidden = true;
}

function focusTerminal() {
  if (state.term && typeof state.term.focus === 'function') state.term.focus();
  else $('textarea', el.termHost)?.focus();
}

// ---------------------------------------------------------------- expiry, extend, reset, end

function renderExpiry() {
  const s = state.session;
  const at = s && s.status === 'ready' && s.sandbox && s.sandbox.expires_at;
  el.expiry.hidden = !at;
  if (!at) return;
  const t = $('time', el.expiry);
  const when = new Date(at);
  const mins = Math.round((when.getTime() - Date.now()) / 60000);
  t.dateTime = when.toISOString();
  t.title = when.toLocaleString();
  if (mins <= 0) t.textContent = 'expires any moment';
  else if (mins < 90) t.textContent = `${mins} min left`;
  else t.textContent = `until ${when.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' })}`;
  el.expiry.classList.toggle('soon', mins <= 5);
}
setInterval(renderExpiry, 15000);

// The simulated-cluster notice shows once per session; the pill brings it back.
function simSeen(id) {
  try { return localStorage.getItem(`kubelab.simseen.${id}`) === '1'; } catch { return false; }
}
el.simPill.addEventListener('click', () => { el.sim.hidden = !el.sim.hidden; });
function dismissSim(id) {
  el.sim.hidden = true;
  try { localStorage.setItem(`kubelab.simseen.${id}`, '1'); } catch { /* private mode */ }
}
for (const b of $$('[data-dismiss]')) {
  b.addEventListener('click', () => {
    const notice = b.closest('.notice');
    if (notice === el.sim && state.session) dismissSim(state.session.id);
    notice.hidden = true;
  });
}

async function extend() {
  const s = state.session;
  try {
    adopt(await api('POST', `/api/v1/sessions/${encodeURIComponent(s.id)}/extend`, {}));
    el.expiring.hidden = true;
    const at = state.session.sandbox?.expires_at;
    toast(at ? `Extended: your sandbox now lasts until ${new Date(at).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' })}.` : 'Extended.');
  } catch (e) {
    toast(`Could not extend: ${e.message}`, { error: true });
  }
}
for (const b of [el.extend, ...$$('[data-extend]')]) b.addEventListener('click', () => busy(b, extend));

function confirmDialog(id) {
  const dialog = document.getElementById(id);
  return new Promise((resolve) => {
    dialog.returnValue = '';
    dialog.addEventListener('close', () => resolve(dialog.returnValue === 'confirm'), { once: true });
    dialog.showModal();
  });
}

el.reset.addEventListener('click', async () => {
  if (!(await confirmDialog('confirm-reset'))) return;
  const s = state.session;
  await busy(el.reset, async () => {
    try {
      closeTerminal();
      resetProvisioning();
      provStep({ message: 'Resetting the sandbox' });
      adopt(await api('POST', `/api/v1/sessions/${encodeURIComponent(s.id)}/reset`, {}));
    } catch (e) {
      toast(`Could not reset: ${e.message}`, { error: true });
      refreshSession();
    }
  });
});

el.end.addEventListener('click', async () => {
  if (!(await confirmDialog('confirm-end'))) return;
  const s = state.session;
  await busy(el.end, async () => {
    try {
      await api('DELETE', `/api/v1/sessions/${encodeURIComponent(s.id)}`);
      adopt({ ...s, status: 'ended', reason: 'You ended the session; the sandbox was deleted. Your progress is saved.' });
    } catch (e) {
      toast(`Could not end the session: ${e.message}`, { error: true });
    }
  });
});

// ---------------------------------------------------------------- keyboard

// Alt+1 / Alt+2 move between lesson and terminal (the terminal keeps Tab).
window.addEventListener('keydown', (ev) => {
  if (!ev.altKey || ev.ctrlKey || ev.metaKey) return;
  if (ev.code === 'Digit1') {
    ev.preventDefault();
    ev.stopPropagation();
    el.lessonBody.focus();
  } else if (ev.code === 'Digit2') {
    ev.preventDefault();
    ev.stopPropagation();
    focusTerminal();
  }
}, true);

// ---------------------------------------------------------------- resume

// A session started earlier (another tab, before a reload) resumes by itself.
async function resume() {
  let id = '';
  try { id = localStorage.getItem(sessionKey) || ''; } catch { /* private mode */ }
  if (!id) return;
  setOverlay('connecting');
  try {
    const s = await api('GET', `/api/v1/sessions/${encodeURIComponent(id)}`);
    if (s.chapter && s.chapter !== chapterID) { forget(); setOverlay('start'); return; }
    if (s.status === 'ended' || s.status === 'expired') { forget(); setOverlay('start'); return; }
    adopt(s);
  } catch (e) {
    if (e.status === 404 || e.status === 401) {
      forget();
      setOverlay('start');
    } else {
      showError(`Could not resume your session: ${e.message}`);
    }
  }
}
resume();
// Load the terminal code early; it is needed as soon as a sandbox is ready.
loadTerminalModule().catch(() => {});
