package testbed

import "crypto/tls"

// LoopbackCAFile is the PEM file of the CA behind every loopback serving certificate of the bed
// (registries, token services); the webhook trusts it through --registry-ca-file.
func (b *Bed) LoopbackCAFile() string { return b.tls.CAFile }

// LoopbackServerTLS serves the bed's loopback certificate (127.0.0.1 and localhost), so that a
// server a benchmark adds, such as a fault-injecting registry front, is trusted like the bed's own.
func (b *Bed) LoopbackServerTLS() *tls.Config { return b.tls.serverConfig() }

// LoopbackClientTLS trusts the bed's CA only.
func (b *Bed) LoopbackClientTLS() *tls.Config { return b.tls.clientConfig() }
