// An event's form fields (the "event-fields" template): read into the
// API's body, and filled from an event.
import { chapterPicker } from './chapters.js';
import { fromLocalInput, toLocalInput } from './format.js';

/**
 * Binds the fields inside form.
 * @returns {{read: (partial?: boolean) => object, fill: (ev: object) => void}}
 */
export function eventFields(form) {
  const picker = chapterPicker(form.querySelector('[data-chapter-picker]'));
  const field = (name) => form.elements.namedItem(name);

  return {
    /** The body for POST (or, with partial, PATCH) /api/v1/events; throws with a sentence to show. */
    read(partial = false) {
      const title = field('title').value.trim();
      if (!title) throw new Error('Give the event a title.');
      const chapters = picker.get();
      if (chapters.length === 0) throw new Error('Choose at least one chapter (Add), in the order learners do them.');
      const seats = Number(field('seats').value);
      if (!Number.isInteger(seats) || seats < 1) throw new Error('Seats is a whole number of learners, at least 1.');
      const body = { title, chapters, seats };
      const ttl = field('session_ttl_minutes').value;
      if (ttl !== '') {
        const n = Number(ttl);
        if (!Number.isInteger(n) || n < 0) throw new Error('The session length is a whole number of minutes.');
        body.session_ttl_minutes = n;
      } else if (partial) {
        body.session_ttl_minutes = 0;
      }
      const starts = fromLocalInput(field('starts_at').value);
      const ends = fromLocalInput(field('ends_at').value);
      if (starts && ends && Date.parse(ends) <= Date.parse(starts)) throw new Error('The event must end after it starts.');
      if (starts || partial) body.starts_at = starts;
      if (ends || partial) body.ends_at = ends;
      return body;
    },
    fill(ev) {
      field('title').value = ev.title || '';
      field('seats').value = ev.seats || 1;
      field('session_ttl_minutes').value = ev.session_ttl_minutes || '';
      field('starts_at').value = toLocalInput(ev.starts_at);
      field('ends_at').value = toLocalInput(ev.ends_at);
      picker.set((ev.chapters || []).map((c) => c.id));
    },
  };
}
