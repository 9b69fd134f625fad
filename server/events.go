package server

import (
	"encoding/json"
	"sync"
)

// sseEvent is one server-sent event of a session's stream.
type sseEvent struct {
	Name string // status, progress, tasks, expiring
	Data []byte // JSON
}

// hub fans a session's events out to its subscribers (open event streams).
// A subscriber that falls behind loses events rather than slowing the
// publisher; its stream re-reads the session state on reconnect.
type hub struct {
	mu   sync.Mutex
	subs map[string]map[chan sseEvent]struct{}
}

func newHub() *hub { return &hub{subs: map[string]map[chan sseEvent]struct{}{}} }

func (h *hub) subscribe(session string) (<-chan sseEvent, func()) {
	ch := make(chan sseEvent, 64)
	h.mu.Lock()
	if h.subs[session] == nil {
		h.subs[session] = map[chan sseEvent]struct{}{}
	}
	h.subs[session][ch] = struct{}{}
	h.mu.Unlock()
	return ch, func() {
		h.mu.Lock()
		delete(h.subs[session], ch)
		if len(h.subs[session]) == 0 {
			delete(h.subs, session)
		}
		h.mu.Unlock()
	}
}

func (h *hub) publish(session, name string, v any) {
	data, err := json.Marshal(v)
	if err != nil {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	for ch := range h.subs[session] {
		select {
		case ch <- sseEvent{Name: name, Data: data}:
		default:
		}
	}
}
