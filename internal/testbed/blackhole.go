package testbed

import (
	"errors"
	"fmt"
	"net"
	"sync"
)

// Blackhole is a TCP listener on 127.0.0.1 that accepts connections and never answers: a
// registry that hangs after the TCP handshake (no TLS ServerHello, no HTTP response).
type Blackhole struct {
	// Host is host:port, as written in image references.
	Host string

	l     net.Listener
	mu    sync.Mutex
	conns []net.Conn
	done  chan struct{}
}

// StartBlackhole starts a Blackhole.
func StartBlackhole() (*Blackhole, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("listening for the blackhole: %w", err)
	}
	b := &Blackhole{Host: l.Addr().String(), l: l, done: make(chan struct{})}
	go b.accept()
	return b, nil
}

func (b *Blackhole) accept() {
	defer close(b.done)
	for {
		c, err := b.l.Accept()
		if err != nil {
			return
		}
		b.mu.Lock()
		b.conns = append(b.conns, c)
		b.mu.Unlock()
	}
}

// Accepted is how many connections it has swallowed.
func (b *Blackhole) Accepted() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.conns)
}

// Close stops listening and closes every held connection.
func (b *Blackhole) Close() error {
	err := b.l.Close()
	<-b.done
	b.mu.Lock()
	defer b.mu.Unlock()
	errs := []error{err}
	for _, c := range b.conns {
		errs = append(errs, c.Close())
	}
	b.conns = nil
	return errors.Join(errs...)
}
