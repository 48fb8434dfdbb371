package app

import (
	"fmt"
	"io"
	"sync"
	"time"
)

// progressDelay is how long a check runs before progress is shown: a quick check prints nothing.
const progressDelay = time.Second

// progress counts checked images on a terminal's stderr, on one line rewritten in place. A nil
// *progress (stderr is not a terminal) does nothing, so CI logs get only the findings.
type progress struct {
	w     io.Writer
	mu    sync.Mutex
	total int
	done  int
	since time.Time
	shown bool
}

func (p *progress) start(total int) {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.total, p.since = total, time.Now()
}

func (p *progress) set(done int) {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.done = max(p.done, done)
	if time.Since(p.since) >= progressDelay {
		fmt.Fprintf(p.w, "\rpullguard: checked %d/%d images", p.done, p.total)
		p.shown = true
	}
}

func (p *progress) stop() {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.shown {
		// Erase the line, so that what follows on the terminal starts clean.
		fmt.Fprint(p.w, "\r\033[K")
	}
}
