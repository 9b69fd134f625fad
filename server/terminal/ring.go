package terminal

// ring keeps the most recent output of a terminal, addressed by absolute
// byte offsets since the process started. It grows on demand up to its
// capacity, so an idle shell that printed one prompt costs a few KiB, not
// the whole buffer. It is not safe for concurrent use; Terminal guards it.
type ring struct {
	buf  []byte
	size int   // capacity: the most bytes ever kept
	end  int64 // offset just past the newest byte
}

const ringInitial = 4 << 10

func newRing(size int) *ring {
	return &ring{buf: make([]byte, min(ringInitial, size)), size: size}
}

// start is the offset of the oldest byte still held.
func (r *ring) start() int64 {
	return max(0, r.end-int64(r.size))
}

// write appends p, overwriting the oldest bytes once the ring is full.
func (r *ring) write(p []byte) {
	if len(p) > r.size {
		r.end += int64(len(p) - r.size)
		p = p[len(p)-r.size:]
	}
	if need := r.end + int64(len(p)); len(r.buf) < r.size && need > int64(len(r.buf)) {
		// Before the first wrap every offset maps to its own index, so
		// growing is a plain copy.
		n := min(r.size, max(2*len(r.buf), int(min(need, int64(r.size)))))
		nb := make([]byte, n)
		copy(nb, r.buf[:r.end])
		r.buf = nb
	}
	for len(p) > 0 {
		i := int(r.end % int64(r.size))
		n := copy(r.buf[i:min(len(r.buf), r.size)], p)
		p = p[n:]
		r.end += int64(n)
	}
}

// read copies bytes from offset off into p and returns how many it copied.
// off must be within [start, end].
func (r *ring) read(off int64, p []byte) int {
	total := 0
	for len(p) > 0 && off < r.end {
		i := int(off % int64(r.size))
		n := copy(p, r.buf[i:min(len(r.buf), i+int(r.end-off))])
		p = p[n:]
		off += int64(n)
		total += n
	}
	return total
}
