// What every part of the chapter page shares: DOM shorthands, the page's
// identity (chapter and user) and its confirmation dialogs.
export const $ = (sel, root = document) => root.querySelector(sel);
export const $$ = (sel, root = document) => [...root.querySelectorAll(sel)];

export const workspace = $('.workspace');
export const chapterID = workspace.dataset.chapter;
export const userID = document.body.dataset.user || '';

/** Opens the confirmation dialog id; resolves true when confirmed. */
export function confirmDialog(id) {
  const dialog = document.getElementById(id);
  return new Promise((resolve) => {
    dialog.returnValue = '';
    dialog.addEventListener('close', () => resolve(dialog.returnValue === 'confirm'), { once: true });
    dialog.showModal();
  });
}
