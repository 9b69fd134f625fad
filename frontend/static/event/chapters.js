// The chapter picker of an event's form: the chapters chosen, in the order
// learners do them, added from the catalog's <select> and moved up, down
// or out with buttons.
import { el } from './format.js';

/**
 * Binds the picker in fieldset ([data-chapter-picker]).
 * @returns {{get: () => string[], set: (ids: string[]) => void}}
 */
export function chapterPicker(fieldset) {
  const list = fieldset.querySelector('.picked');
  const empty = fieldset.querySelector('.picked-empty');
  const select = fieldset.querySelector('select');
  const titles = new Map([...select.options].map((o) => [o.value, o.textContent]));
  let ids = [];

  function button(label, title, onClick, disabled) {
    const b = el('button', 'btn small icon-only', label);
    b.type = 'button';
    b.title = title;
    b.setAttribute('aria-label', title);
    b.disabled = disabled;
    b.addEventListener('click', onClick);
    return b;
  }

  function move(i, by) {
    const j = i + by;
    if (j < 0 || j >= ids.length) return;
    [ids[i], ids[j]] = [ids[j], ids[i]];
    render();
    list.children[j]?.querySelector(by < 0 ? '[data-up]' : '[data-down]')?.focus();
  }

  function render() {
    list.replaceChildren(...ids.map((id, i) => {
      const li = el('li', 'picked-chapter');
      li.dataset.chapter = id;
      const title = titles.get(id) || id;
      const up = button('↑', `Move ${title} up`, () => move(i, -1), i === 0);
      up.dataset.up = '';
      const down = button('↓', `Move ${title} down`, () => move(i, 1), i === ids.length - 1);
      down.dataset.down = '';
      const remove = button('×', `Remove ${title}`, () => { ids.splice(i, 1); render(); }, false);
      li.append(el('span', 'picked-title', title), up, down, remove);
      return li;
    }));
    empty.hidden = ids.length > 0;
    for (const o of select.options) o.disabled = ids.includes(o.value);
    if (select.selectedOptions[0]?.disabled) {
      const next = [...select.options].find((o) => !o.disabled);
      if (next) select.value = next.value;
    }
  }

  fieldset.querySelector('[data-add-chapter]').addEventListener('click', () => {
    const id = select.value;
    if (id && titles.has(id) && !ids.includes(id)) ids.push(id);
    render();
  });
  render();

  return {
    get: () => [...ids],
    set(v) {
      ids = (v || []).filter((id) => titles.has(id));
      render();
    },
  };
}
