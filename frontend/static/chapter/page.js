// What every part of the chapter page shares: DOM shorthands and the
// page's identity (chapter and user).
export const $ = (sel, root = document) => root.querySelector(sel);
export const $$ = (sel, root = document) => [...root.querySelectorAll(sel)];

export const workspace = $('.workspace');
export const chapterID = workspace.dataset.chapter;
export const userID = document.body.dataset.user || '';
