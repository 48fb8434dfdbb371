package cloud

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/Azure/azure-sdk-for-go/sdk/containers/azcontainerregistry"
)

// acrHost is the host pattern of the kubelet's ACR credential provider (cloud-provider-azure:
// matchImages *.azurecr.io, *.azurecr.cn, *.azurecr.de, *.azurecr.us), one label deep: a
// registry's login server, never its regional data endpoints (blobs are redirected there and
// need no token).
var acrHost = regexp.MustCompile(`^[a-z0-9][a-z0-9-]*\.azurecr\.(io|cn|de|us)$`)

// acrUser is the user name ACR expects with a refresh token as the password ("docker login
// with an Entra token").
const acrUser = "00000000-0000-0000-0000-000000000000"

// acrScope is the Entra scope of an ACR exchange (azcontainerregistry's audience).
const acrScope = "https://containerregistry.azure.net/.default"

// acrRefreshLifetime is how long an ACR refresh token is kept when its own expiry cannot be
// read: ACR documents three hours.
const acrRefreshLifetime = 3 * time.Hour

// ACR is the provider for Azure Container Registry: an Entra access token from the webhook's
// Azure workload identity (azidentity's WorkloadIdentityCredential, configured by the
// environment the AKS workload identity webhook injects: AZURE_CLIENT_ID, AZURE_TENANT_ID,
// AZURE_FEDERATED_TOKEN_FILE, AZURE_AUTHORITY_HOST) exchanged for an ACR refresh token at the
// registry's /oauth2/exchange by azcontainerregistry's AuthenticationClient. Only workload
// identity, never DefaultAzureCredential: its managed-identity fallback would ask the instance
// metadata service, i.e. the node's identity, which is not the webhook's to borrow.
type ACR struct {
	// aad carries the Entra requests (tests: a transport that only dials loopback).
	aad policy.Transporter
	// registry carries the exchanges: they go to the registry host itself, through the engine's
	// network guard, and never follow a redirect (the form carries the Entra token).
	registry                 *http.Client
	disableInstanceDiscovery bool
	now                      func() time.Time

	mu   sync.Mutex
	cred *azidentity.WorkloadIdentityCredential
}

// NewACR returns the ACR provider. aad nil is azcore's default transport; registry carries the
// exchanges to the registry hosts (nil: http.DefaultTransport). disableInstanceDiscovery is
// for an authority host Entra does not list (a private cloud; the tests' loopback fake).
func NewACR(aad policy.Transporter, registry http.RoundTripper, disableInstanceDiscovery bool, now func() time.Time) *ACR {
	if now == nil {
		now = time.Now
	}
	if registry == nil {
		registry = http.DefaultTransport
	}
	client := &http.Client{Transport: registry, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	return &ACR{aad: aad, registry: client, disableInstanceDiscovery: disableInstanceDiscovery, now: now}
}

// Name is the identity's name in messages.
func (*ACR) Name() string { return "ACR" }

// Scope is the registry host: ACR refresh tokens are issued per registry.
func (*ACR) Scope(host string) (string, bool) {
	if !acrHost.MatchString(host) {
		return "", false
	}
	return host, true
}

// acrRetry bounds the SDKs' retries: one retry, then the check is unverifiable and the next
// admission asks again.
var acrRetry = policy.RetryOptions{MaxRetries: 1}

// credential builds the workload identity credential once; a failure (the environment is not
// set) is retried on the next exchange.
func (a *ACR) credential() (*azidentity.WorkloadIdentityCredential, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.cred != nil {
		return a.cred, nil
	}
	opts := &azidentity.WorkloadIdentityCredentialOptions{
		ClientOptions:            azcore.ClientOptions{Retry: acrRetry},
		DisableInstanceDiscovery: a.disableInstanceDiscovery,
	}
	if a.aad != nil {
		opts.Transport = a.aad
	}
	cred, err := azidentity.NewWorkloadIdentityCredential(opts)
	if err != nil {
		return nil, err
	}
	a.cred = cred
	return cred, nil
}

// Fetch gets an Entra token and exchanges it at host for an ACR refresh token, the password of
// acrUser.
func (a *ACR) Fetch(ctx context.Context, host, _ string) (Credential, error) {
	cred, err := a.credential()
	if err != nil {
		return Credential{}, err
	}
	start := a.now()
	tok, err := cred.GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{acrScope}})
	if err != nil {
		return Credential{}, err
	}
	client, err := azcontainerregistry.NewAuthenticationClient("https://"+host, &azcontainerregistry.AuthenticationClientOptions{
		ClientOptions: azcore.ClientOptions{Transport: a.registry, Retry: acrRetry},
	})
	if err != nil {
		return Credential{}, err
	}
	resp, err := client.ExchangeAADAccessTokenForACRRefreshToken(ctx, azcontainerregistry.PostContentSchemaGrantTypeAccessToken, host,
		&azcontainerregistry.AuthenticationClientExchangeAADAccessTokenForACRRefreshTokenOptions{AccessToken: &tok.Token})
	if err != nil {
		return Credential{}, err
	}
	if resp.RefreshToken == nil || *resp.RefreshToken == "" {
		return Credential{}, errors.New("the registry's token exchange returned no refresh token")
	}
	return Credential{Username: acrUser, Password: *resp.RefreshToken, Expires: jwtExpiry(*resp.RefreshToken, start.Add(acrRefreshLifetime))}, nil
}

// jwtExpiry reads the exp claim of a JWT without verifying it (the registry that issued it
// checks it; the webhook only needs to know when to ask again), or returns def, whichever is
// earlier.
func jwtExpiry(token string, def time.Time) time.Time {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return def
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return def
	}
	var claims struct {
		Exp int64 `json:"exp"`
	}
	if json.Unmarshal(payload, &claims) != nil || claims.Exp == 0 {
		return def
	}
	if exp := time.Unix(claims.Exp, 0); exp.Before(def) {
		return exp
	}
	return def
}
