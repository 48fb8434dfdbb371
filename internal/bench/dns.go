package bench

import (
	"context"
	"encoding/binary"
	"io"
	"net"
	"time"

	"golang.org/x/net/dns/dnsmessage"
)

// InstallHermeticDNS makes every name this process resolves through net.DefaultResolver (the
// webhook's registry client included, when it runs in this process) that /etc/hosts does not
// answer fail with NXDOMAIN, without a packet leaving the process: the resolver's DNS
// "connection" is an in-memory pipe to a server that knows no names. localhost keeps working
// through /etc/hosts. Call it before anything resolves a name.
func InstallHermeticDNS() {
	net.DefaultResolver.PreferGo = true
	net.DefaultResolver.Dial = func(context.Context, string, string) (net.Conn, error) {
		client, server := net.Pipe()
		go answerNXDOMAIN(server)
		return client, nil
	}
}

// answerNXDOMAIN serves DNS over a stream connection (two-byte length prefix, as over TCP: the
// resolver frames its queries that way on a connection that is not a net.PacketConn), answering
// every query with "no such name".
func answerNXDOMAIN(conn net.Conn) {
	defer conn.Close()
	for {
		_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
		var size [2]byte
		if _, err := io.ReadFull(conn, size[:]); err != nil {
			return
		}
		query := make([]byte, binary.BigEndian.Uint16(size[:]))
		if _, err := io.ReadFull(conn, query); err != nil {
			return
		}
		var p dnsmessage.Parser
		h, err := p.Start(query)
		if err != nil {
			return
		}
		questions, err := p.AllQuestions()
		if err != nil {
			return
		}
		b := dnsmessage.NewBuilder(make([]byte, 2, 514), dnsmessage.Header{
			ID: h.ID, Response: true, Authoritative: true, RecursionDesired: h.RecursionDesired,
			RecursionAvailable: true, RCode: dnsmessage.RCodeNameError,
		})
		if err := b.StartQuestions(); err != nil {
			return
		}
		for _, q := range questions {
			if err := b.Question(q); err != nil {
				return
			}
		}
		msg, err := b.Finish()
		if err != nil {
			return
		}
		binary.BigEndian.PutUint16(msg, uint16(len(msg)-2))
		if _, err := conn.Write(msg); err != nil {
			return
		}
	}
}
