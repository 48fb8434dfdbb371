package cloud

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pullguard/pullguard/internal/testcloud"
)

func TestGCPScope(t *testing.T) {
	tests := map[string]struct {
		host string
		ok   bool
	}{
		"GCR":                        {host: "gcr.io", ok: true},
		"GCR regional":               {host: "eu.gcr.io", ok: true},
		"Artifact Registry":          {host: "europe-west1-docker.pkg.dev", ok: true},
		"container.cloud.google.com": {host: "container.cloud.google.com", ok: true},
		"look-alike suffix":          {host: "x.gcr.io.evil"},
		"look-alike pkg.dev suffix":  {host: "europe-west1-docker.pkg.dev.evil"},
		"look-alike label":           {host: "gcr.io-evil.example"},
		"deeper sub-host":            {host: "a.b.gcr.io"},
		"bare pkg.dev":               {host: "pkg.dev"},
		"Docker Hub":                 {host: "docker.io"},
	}
	g := NewGCP(nil, nil)
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if _, ok := g.Scope(tc.host); ok != tc.ok {
				t.Errorf("Scope(%q) ok = %v, want %v", tc.host, ok, tc.ok)
			}
		})
	}
}

// TestGCPFetch: the real golang.org/x/oauth2/google finds application default credentials
// (the metadata server of GKE Workload Identity, or a key file whose token_uri is on loopback);
// a burst makes one token request; the cache serves until shortly before expiry.
func TestGCPFetch(t *testing.T) {
	tests := map[string]struct {
		source testcloud.GCPSource
		calls  func(*testcloud.GCP) int32
	}{
		"metadata server": {source: testcloud.GCPMetadata, calls: func(f *testcloud.GCP) int32 { return f.MetadataCalls.Load() }},
		"key file":        {source: testcloud.GCPKeyFile, calls: func(f *testcloud.GCP) int32 { return f.TokenURICalls.Load() }},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			f := testcloud.NewGCP(t, "gcp-token", tc.source)
			var refused atomic.Int32
			var now atomic.Int64
			now.Store(time.Now().UnixNano())
			clock := func() time.Time { return time.Unix(0, now.Load()) }
			s := NewSources(clock, NewGCP(testcloud.LoopbackHTTPClient(&refused, nil), clock))
			var wg sync.WaitGroup
			errs := make(chan error, 20)
			for i := range 20 {
				host := []string{"gcr.io", "europe-west1-docker.pkg.dev"}[i%2]
				wg.Go(func() {
					c, _, ok, err := s.Lookup(context.Background(), host)
					switch {
					case err != nil:
						errs <- err
					case !ok || c.Username != "_token" || c.Password != "gcp-token":
						errs <- errors.New("wrong credential")
					}
				})
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Fatal(err)
			}
			if n := tc.calls(f); n != 1 {
				t.Errorf("a burst of 20 made %d token requests, want 1", n)
			}
			now.Add(int64(time.Hour - refreshMargin - 2*time.Minute))
			if _, _, _, err := s.Lookup(context.Background(), "gcr.io"); err != nil || tc.calls(f) != 1 {
				t.Errorf("before the refresh margin: err %v, %d calls, want the cached token", err, tc.calls(f))
			}
			now.Add(int64(2 * time.Minute))
			if _, _, _, err := s.Lookup(context.Background(), "gcr.io"); err != nil || tc.calls(f) != 2 {
				t.Errorf("inside the refresh margin: err %v, %d calls, want a new token", err, tc.calls(f))
			}
			if refused.Load() != 0 {
				t.Errorf("%d non-loopback dials", refused.Load())
			}
		})
	}
}

// TestGCPIdentityFailed: the metadata server or token endpoint refusing the identity, or not
// answering, is an IdentityError, and nothing is cached.
func TestGCPIdentityFailed(t *testing.T) {
	tests := map[string]struct {
		source testcloud.GCPSource
		status int32
		down   bool
	}{
		"metadata refuses":  {source: testcloud.GCPMetadata, status: 404},
		"token_uri refuses": {source: testcloud.GCPKeyFile, status: 403},
		"metadata down":     {source: testcloud.GCPMetadata, down: true},
		"token_uri down":    {source: testcloud.GCPKeyFile, down: true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			f := testcloud.NewGCP(t, "gcp-token", tc.source)
			f.TokenStatus.Store(tc.status)
			if tc.down {
				f.Server.Close()
			}
			var refused atomic.Int32
			s := NewSources(nil, NewGCP(testcloud.LoopbackHTTPClient(&refused, nil), nil))
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			_, p, ok, err := s.Lookup(ctx, "gcr.io")
			var ie *IdentityError
			if !ok || p == nil || !errors.As(err, &ie) || ie.Provider != "GCP" {
				t.Fatalf("Lookup = %v, %v, %v; want a GCP IdentityError", p, ok, err)
			}
			if !tc.down {
				f.TokenStatus.Store(0)
				if _, _, _, err := s.Lookup(ctx, "gcr.io"); err != nil {
					t.Errorf("after the identity was granted: %v", err)
				}
			}
			if refused.Load() != 0 {
				t.Errorf("%d non-loopback dials", refused.Load())
			}
		})
	}
}

// TestGCPMetadataGuarded: a test that forgets the fake still reaches only the closed loopback
// port TestMain set (testcloud.GuardMetadata), never the real metadata server.
func TestGCPMetadataGuarded(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("GOOGLE_APPLICATION_CREDENTIALS", "")
	t.Setenv("CLOUDSDK_CONFIG", dir)
	t.Setenv("HOME", dir)
	var refused atomic.Int32
	s := NewSources(nil, NewGCP(testcloud.LoopbackHTTPClient(&refused, nil), nil))
	_, _, _, err := s.Lookup(context.Background(), "gcr.io")
	var ie *IdentityError
	if !errors.As(err, &ie) || !strings.Contains(err.Error(), "127.0.0.1:9") {
		t.Errorf("Lookup = %v, want an IdentityError from the guarded metadata address", err)
	}
	if refused.Load() != 0 {
		t.Errorf("%d non-loopback dials", refused.Load())
	}
}
