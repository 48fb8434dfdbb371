// Package egress is the outbound-connection layer of the registry engine: the SSRF guard.
//
// Whoever can create a pod chooses the hosts the engine connects to (registry.attacker.example,
// 169.254.169.254, a name that resolves to the kube-apiserver). New returns the one
// http.RoundTripper that every registry request, redirect and bearer-token request goes
// through, and it enforces:
//
//   - The address guard, at connect time, on the resolved address. The dialer resolves the host
//     itself (Options.Resolver, else the system resolver), refuses the connection if any address
//     is non-public, and dials the checked IP literals in turn (each with a fair share of
//     DialTimeout), so DNS rebinding between check and connect is impossible. A name with a dot
//     is looked up fully qualified, as the node resolves it (the host's resolv.conf has no
//     cluster search list; the pod's, with ndots:5, would try harbor.internal.svc.cluster.local
//     first); the request's Host and TLS server name stay as written. Refused:
//     loopback, private (RFC 1918, fc00::/7 incl. AWS fd00:ec2::254, GCE fd20:ce::254,
//     Scaleway fd00:42::42), link-local (incl. 169.254.169.254, 169.254.170.2), CGNAT (incl.
//     100.100.100.200), unspecified, multicast, broadcast, reserved/documentation space (incl.
//     Oracle's 192.0.0.192), Azure's 168.63.129.16, and every IPv6 form that delivers to such an
//     IPv4 address (mapped, SIIT-translated, IPv4-compatible, NAT64 64:ff9b::/96, 6to4, and an
//     ISATAP interface identifier under a global prefix). NAT64, 6to4 and ISATAP forms of a
//     public address are allowed: that is how IPv6-only clusters reach IPv4 registries. IP literals are also judged before the request
//     is sent. A refusal is a *BlockedError.
//     go-containerregistry only checks IP-literal redirect and realm targets, never the first
//     host and never names (google/go-containerregistry#2440), hence this layer.
//   - The allowlist (Options.AllowPrivate). A CIDR entry opens every address in it. A host entry
//     (case-insensitive, optionally with a port that must then match) opens that host: an IP
//     literal entry opens that address whatever its class; a DNS-name entry lets the name
//     resolve to loopback, private, CGNAT or reserved space, but never to link-local,
//     unspecified, multicast, broadcast or a cloud metadata endpoint, which only a CIDR entry
//     opens. Entries apply to the host named, not to hosts it redirects to.
//   - HTTPS only, except for hosts in Options.InsecureRegistries (host entry, port optional).
//     go-containerregistry's name.Registry.Scheme guesses http for 127.0.0.1, localhost:port,
//     *.localhost, [::1] and RFC 1918 registries, and its ping then falls back to http; those
//     requests fail with *PlainHTTPError unless listed. The same rule covers https→http
//     redirect downgrades and plain-HTTP token realms: an insecure registry's realm may be http
//     only if the realm host is listed too.
//   - At most Options.MaxRedirects redirects per request (*TooManyRedirectsError), counted from
//     the request's redirect chain, so it holds whatever CheckRedirect the client above uses
//     (go-containerregistry's fetcher sets one without a hop limit).
//   - Response caps that fail instead of truncating (*ResponseTooLargeError): Content-Length is
//     checked before reading, and the body errors at cap+1 bytes. The cap follows the original
//     request of a redirect chain: /manifests/ paths get MaxManifestBytes, other /v2/ paths
//     MaxManifestBytes, anything else (a token realm) MaxTokenBytes, and any status >= 400
//     MaxErrorBytes. HEAD responses are not capped: they carry no body, and their
//     Content-Length is the manifest size, which callers compare to MaxManifestBytes themselves.
//   - Own timeouts (DialTimeout covers resolution plus connect) and TLS (1.2 minimum, system
//     roots plus Options.CAFile), a bounded connection pool and response header size, and no
//     proxy from the environment. An explicit Options.Proxy is used for every request; the
//     dialer then only sees the proxy address (which it guards like any other: an internal
//     proxy needs an AllowPrivate entry), and the proxy resolves registry names itself. The
//     target is still checked before the request (IP literals exactly, names by our own
//     lookup), but the proxy's lookup may differ, so enforce the policy in the proxy as well.
//
// Metrics.Blocked is called once per refusal with a reason from Reasons (address classes,
// "plain_http", "redirects"): a bounded label set. The package never logs. Its errors carry no
// credentials: URLs are reduced to scheme, host and path. http.Client wraps them in *url.Error,
// whose message repeats the request URL with its query (for a token realm: scope and service).
//
// # Using it with go-containerregistry
//
// Pass the RoundTripper as is: remote.WithTransport(rt). go-containerregistry then wraps it in
// its retry and User-Agent transports (configure them with remote.WithRetryBackoff,
// remote.WithRetryStatusCodes without 429, remote.WithRetryPredicate, remote.WithUserAgent;
// its default backoff of 1 s then 3 s does not fit an admission budget), runs the ping and
// token handshake through it, and so sends every connection (ping, manifest, redirects, token
// realm) through the guard. Do not enable logs.Debug: its transport dumps requests.
//
// Do not wrap it in a *transport.Wrapper yourself: a Wrapper tells transport.NewWithContext
// that authentication is already done, so go-containerregistry would skip the ping and the
// token exchange and send every request unauthenticated. A *transport.Wrapper is right only
// when it is the result of transport.NewWithContext(ctx, reg, auth, rt, scopes) built over
// this RoundTripper (itself wrapped in the engine's retry/User-Agent transports, since none
// are added after that): caching that Wrapper per registry, scope and credential is how to
// reuse a bearer token across calls.
package egress
