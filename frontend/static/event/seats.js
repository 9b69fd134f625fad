// Seat codes: one-time codes, made N at a time and shown once, in a list
// to print and cut (the print style prints the sheet alone).
import { api, busy } from '../api.js';
import { el, joinAddress } from './format.js';

/**
 * @param {ReturnType<import('./state.js').createState>} state
 */
export function initSeats(state) {
  const form = document.getElementById('seats-form');
  const error = form.querySelector('.form-error');
  const result = document.getElementById('seat-result');
  const list = document.getElementById('seat-list');
  const sheet = document.getElementById('seat-sheet');

  form.addEventListener('submit', (e) => {
    e.preventDefault();
    error.hidden = true;
    const count = Number(form.elements.namedItem('count').value);
    busy(form.querySelector('button[type="submit"]'), async () => {
      try {
        const { codes } = await api('POST', `/api/v1/events/${encodeURIComponent(state.id)}/seat-codes`, { count });
        show(codes || []);
      } catch (err) {
        error.textContent = err.message;
        error.hidden = false;
      }
    });
  });

  function show(codes) {
    list.replaceChildren(...codes.map((c) => el('li', 'seat-code', c)));
    result.hidden = codes.length === 0;
    const title = state.event?.title || document.getElementById('event-title').textContent;
    const joinAt = joinAddress(state.event);
    sheet.replaceChildren(...codes.map((c) => {
      const card = el('div', 'seat-card');
      card.append(el('p', 'seat-card-title', title), el('p', 'seat-card-how', `Go to ${joinAt} and enter`), el('p', 'seat-card-code', c),
        el('p', 'seat-card-note', 'This code lets one person join, once.'));
      return card;
    }));
  }

  document.getElementById('seat-print').addEventListener('click', () => {
    document.body.classList.add('print-seats');
    window.print();
  });
  window.addEventListener('afterprint', () => document.body.classList.remove('print-seats'));
}
