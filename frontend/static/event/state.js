// The event page's state: the event, the grid's task columns and its
// learners, and the instructor's view (sort, hidden names). The stream
// and the actions write it; the page's parts subscribe to its changes.

const HIDE_KEY = 'kubelab.hideNames';
const SORT_KEY = 'kubelab.gridSort';

/**
 * @param {string} id the event's id
 */
export function createState(id) {
  const listeners = new Set();
  const state = {
    id,
    event: null,
    tasks: [], // [{chapter, task, title}]
    learners: new Map(), // id → learnerJSON
    numbers: new Map(), // id → n of "Learner n", by the order of joining
    stuckAfterMinutes: 0,
    sort: localStorage.getItem(SORT_KEY) || 'name',
    // Hidden names stay hidden across reloads: a reload while sharing the
    // screen must not show them.
    hideNames: localStorage.getItem(HIDE_KEY) === '1',

    /** Calls fn({type, id?}) on every change: grid, learner, tasks, event, view. */
    on(fn) {
      listeners.add(fn);
    },

    setGrid(g) {
      state.tasks = g.tasks || [];
      state.stuckAfterMinutes = g.stuck_after_minutes || 0;
      state.learners = new Map((g.learners || []).map((l) => [l.id, l]));
      number();
      if (g.event) state.event = g.event;
      emit({ type: 'grid' });
      if (g.event) emit({ type: 'event' });
    },

    setLearner(l) {
      const isNew = !state.learners.has(l.id);
      state.learners.set(l.id, l);
      if (isNew) number();
      emit({ type: 'learner', id: l.id, isNew });
    },

    setHand({ learner, hand }) {
      const l = state.learners.get(learner);
      if (!l) return;
      l.hand = hand || null;
      emit({ type: 'learner', id: learner, isNew: false });
    },

    /** New task columns' pass rates (the stream's "tasks"). */
    setTasks(tasks) {
      state.tasks = tasks || [];
      emit({ type: 'tasks' });
    },

    setEvent(ev) {
      state.event = ev;
      emit({ type: 'event' });
    },

    setView({ sort, hideNames }) {
      if (sort !== undefined) {
        state.sort = sort;
        localStorage.setItem(SORT_KEY, sort);
      }
      if (hideNames !== undefined) {
        state.hideNames = hideNames;
        localStorage.setItem(HIDE_KEY, hideNames ? '1' : '0');
      }
      emit({ type: 'view' });
    },

    /** The name to show for a learner: theirs, or "Learner n" while names are hidden. */
    displayName(l) {
      if (!l) return '';
      return state.hideNames ? `Learner ${state.numbers.get(l.id) || '?'}` : l.name;
    },

    /** The task column of chapter/task. */
    task(chapter, task) {
      return state.tasks.find((t) => t.chapter === chapter && t.task === task) || null;
    },

    /** A chapter's title from the event. */
    chapterTitle(chapter) {
      return state.event?.chapters?.find((c) => c.id === chapter)?.title || chapter;
    },
  };

  // Learner numbers follow the order of joining, so that they stay put
  // whatever the sort.
  function number() {
    const list = [...state.learners.values()].sort((a, b) =>
      (Date.parse(a.joined_at) - Date.parse(b.joined_at)) || a.id.localeCompare(b.id));
    state.numbers = new Map(list.map((l, i) => [l.id, i + 1]));
  }

  function emit(change) {
    for (const fn of listeners) {
      try {
        fn(change);
      } catch (e) {
        console.error('event page', change.type, e);
      }
    }
  }

  return state;
}
