// The resizable split between lesson and terminal: dragged, double-clicked
// or moved with the keyboard, and remembered in a cookie.
import { setPrefCookie } from '../api.js';
import { $, workspace } from './page.js';

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

export function initSplit() {
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
}
