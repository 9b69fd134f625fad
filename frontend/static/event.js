// An event's page: its head and join code, the live grid of its learners
// with the actions on their labs, the terminal mirror, messages to the
// room, seat codes, exports and the audit. Each job has its module in
// event/; this one wires them together around the shared state, which the
// grid's event stream feeds.
import { api } from './api.js';
import { createState } from './event/state.js';
import { initHeader } from './event/header.js';
import { initGrid } from './event/grid.js';
import { connectStream } from './event/stream.js';
import { initActions } from './event/actions.js';
import { initWatch } from './event/watch.js';
import { initBroadcast } from './event/broadcast.js';
import { initSeats } from './event/seats.js';
import { initAudit } from './event/audit.js';

const id = document.querySelector('main[data-event]').dataset.event;
const state = createState(id);
initHeader(state);
initGrid(state);
const watch = initWatch(state);
initActions(state, { watch: watch.watch });
initBroadcast(state);
initSeats(state);
initAudit(state);
connectStream(state);
// The head at once, before the stream's first grid.
api('GET', `/api/v1/events/${encodeURIComponent(id)}`).then((ev) => { if (!state.event) state.setEvent(ev); }, () => {});
