// The lesson text: run and copy buttons on code blocks, hints that open one
// at a time, and names for the task-list checkboxes.
import { toast } from '../api.js';
import { $, $$ } from './page.js';

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

let runButtons = 0;

/**
 * Gives a code block its Copy button, a Run button when it is a command
 * (data-action="run") and a Save button when it names a file (data-file).
 * run(text) types into the terminal; save(path, text, button) writes the
 * file into the learner's home and opens it in the editor.
 * @param {HTMLElement} block
 * @param {{run: (text: string) => boolean, save?: (path: string, text: string, button: HTMLElement) => Promise<boolean>}} actions
 */
export function enhanceCodeBlock(block, { run, save }) {
  if ($('.code-actions', block)) return;
  const code = $('code', block);
  if (!code) return;
  const bar = document.createElement('div');
  bar.className = 'code-actions';
  if (block.dataset.action === 'run') {
    const b = codeButton('run', '▶ Run', 'Type this command into the terminal');
    b.dataset.run = String(runButtons++);
    b.addEventListener('click', () => { if (run(code.textContent)) flash(b, 'Sent ✓'); });
    bar.append(b);
  }
  if (block.dataset.file && save) {
    const path = block.dataset.file;
    const b = codeButton('save', `Save to ~/${path}`, `Save this block as ~/${path} in your sandbox and open it in the editor`);
    b.addEventListener('click', async () => { if (await save(path, code.textContent, b)) flash(b, 'Saved ✓'); });
    bar.append(b);
  }
  const copy = codeButton('copy', 'Copy', 'Copy to the clipboard');
  copy.addEventListener('click', () => copyText(code.textContent.replace(/\n+$/, ''), copy));
  bar.append(copy);
  block.prepend(bar);
}

/**
 * Enhances the lesson. run(text) types a command into the terminal and
 * reports whether it did (it tells the learner why not); save(path, text,
 * button) saves a block to the learner's home.
 * @param {{run: (text: string) => boolean, save: (path: string, text: string, button: HTMLElement) => Promise<boolean>}} actions
 */
export function initLesson(actions) {
  for (const block of $$('div.codeblock')) enhanceCodeBlock(block, actions);

  // GFM task lists render disabled checkboxes; name them for screen readers.
  for (const cb of $$('.prose li > input[type="checkbox"]')) {
    cb.setAttribute('aria-label', cb.parentElement.textContent.trim());
  }

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
}
