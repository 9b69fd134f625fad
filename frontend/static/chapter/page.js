// What every part of the chapter page shares: DOM shorthands, the page's
// identity (chapter and user) and its confirmation dialogs.
import { askDialog } from '../api.js';

export const $ = (sel, root = document) => root.querySelector(sel);
export const $$ = (sel, root = document) => [...root.querySelectorAll(sel)];

export const workspace = $('.workspace');
export const chapterID = workspace.dataset.chapter;
export const userID = document.body.dataset.user || '';

/** Opens the confirmation dialog id; resolves true when confirmed. */
export async function confirmDialog(id) {
  return (await askDialog(id)) === 'confirm';
}
