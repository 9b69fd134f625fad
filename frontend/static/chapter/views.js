// On a phone the lesson and the lab (terminal and editor) are tabs, one
// shown at a time at full height; on wider screens both are shown and the
// tabs are hidden (CSS), so switching there changes nothing visible.
import { $$, workspace } from './page.js';

const narrow = window.matchMedia('(max-width: 760px)');

/** Shows view "lesson" or "console". */
export function showView(name) {
  if (workspace.dataset.view === name) return;
  workspace.dataset.view = name;
  for (const t of $$('.view-tab')) t.setAttribute('aria-selected', String(t.dataset.view === name));
  // The terminal refits to the space it now has.
  if (name === 'console' && narrow.matches) requestAnimationFrame(() => window.dispatchEvent(new Event('resize')));
}

export function initViews() {
  for (const t of $$('.view-tab')) t.addEventListener('click', () => showView(t.dataset.view));
}
