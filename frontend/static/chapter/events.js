// A session's stream of server-sent events. EventSource reconnects by
// itself; when the server refused the stream, onLost runs after a delay
// that grows with every refusal in a row.
export function createEvents({ on, onLost }) {
  let es = null; // EventSource
  let esFor = ''; // session id it streams
  let retry = 0;

  function close() {
    if (es) es.close();
    es = null;
    esFor = '';
  }

  /** Streams session id's events to the handlers in on, by event name. */
  function ensure(id) {
    if (es && esFor === id) return;
    close();
    const src = new EventSource(`/api/v1/sessions/${encodeURIComponent(id)}/events`);
    es = src;
    esFor = id;
    src.addEventListener('open', () => { retry = 0; });
    for (const [name, fn] of Object.entries(on)) {
      src.addEventListener(name, (ev) => {
        let data;
        try { data = JSON.parse(ev.data); } catch { return; }
        fn(data);
      });
    }
    src.addEventListener('error', () => {
      if (src.readyState !== EventSource.CLOSED) return;
      close();
      setTimeout(onLost, Math.min(30000, 1000 * 2 ** retry++));
    });
  }

  return { ensure, close };
}
