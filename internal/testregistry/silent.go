package testregistry

import (
	"fmt"
	"net"
	"sync"
)

// Silent is a TCP server on 127.0.0.1 that accepts connections and never says a word, not
// even the TLS handshake: the registry that hangs before any timeout of the HTTP layer applies.
type Silent struct {
	ln   net.Listener
	Addr string

	mu    sync.Mutex
	conns []net.Conn
	done  chan struct{}
}

// NewSilent starts a Silent server.
func NewSilent() (*Silent, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("listening on loopback: %w", err)
	}
	s := &Silent{ln: ln, Addr: ln.Addr().String(), done: make(chan struct{})}
	go s.accept()
	return s, nil
}

func (s *Silent) accept() {
	defer close(s.done)
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.mu.Lock()
		s.conns = append(s.conns, c)
		s.mu.Unlock()
	}
}

// Accepted is how many connections it has swallowed.
func (s *Silent) Accepted() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.conns)
}

// Close stops accepting and drops every held connection.
func (s *Silent) Close() {
	_ = s.ln.Close()
	<-s.done
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range s.conns {
		_ = c.Close()
	}
	s.conns = nil
}
