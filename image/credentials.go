package image

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"

	"github.com/containerd/containerd/v2/core/remotes/docker"
	dockerconfig "github.com/containerd/containerd/v2/core/remotes/docker/config"
	"github.com/containerd/errdefs"
	runtime "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// credentials are the secrets of one pull and the rule for where they may
// go. They are never logged and are scrubbed from every error (redact).
type credentials struct {
	user   string
	secret string // password or identity (refresh) token
	token  string // registry (bearer access) token, sent as is

	// server, if set, is the only host that may receive the secrets
	// (CRI AuthConfig.ServerAddress). Otherwise any host the resolver
	// chose for this image (the registry or a hosts.toml mirror) may.
	server string

	mu      sync.Mutex
	allowed map[string]bool
}

// newCredentials decodes a CRI AuthConfig. nil means anonymous.
func newCredentials(a *runtime.AuthConfig) (*credentials, error) {
	c := &credentials{allowed: map[string]bool{}}
	if a == nil {
		return c, nil
	}
	if a.ServerAddress != "" {
		c.server = serverHost(a.ServerAddress)
	}
	switch {
	case a.Username != "":
		c.user, c.secret = a.Username, a.Password
	case a.IdentityToken != "":
		c.secret = a.IdentityToken
	case a.Auth != "":
		raw, err := base64.StdEncoding.DecodeString(a.Auth)
		if err != nil {
			return nil, fmt.Errorf("auth config: \"auth\" is not valid base64: %w", errdefs.ErrInvalidArgument)
		}
		user, pass, ok := strings.Cut(string(raw), ":")
		if !ok {
			return nil, fmt.Errorf("auth config: decoded \"auth\" is not user:password: %w", errdefs.ErrInvalidArgument)
		}
		c.user, c.secret = user, strings.TrimRight(pass, "\x00")
	}
	c.token = a.RegistryToken
	return c, nil
}

// serverHost turns "https://host:port/v1/", "host:port" or "host" into the
// host:port requests carry. Docker Hub's historical names map to the host
// that really serves it.
func serverHost(addr string) string {
	if !strings.Contains(addr, "://") {
		addr = "dummy://" + addr
	}
	u, err := url.Parse(addr)
	if err != nil {
		return addr // never matches a real host: credentials stay home
	}
	switch u.Host {
	case "docker.io", "index.docker.io":
		return "registry-1.docker.io"
	}
	return u.Host
}

func (c *credentials) empty() bool { return c.user == "" && c.secret == "" && c.token == "" }

func (c *credentials) fingerprint() string {
	if c.empty() {
		return ""
	}
	return credsFingerprint(c.user, c.secret, c.token, c.server)
}

// hosts wraps containerd's hosts.toml-driven host configuration: it adds
// our credential callback and remembers which hosts serve this pull.
func (c *credentials) hosts(opts dockerconfig.HostOptions) docker.RegistryHosts {
	opts.Credentials = c.forHost
	inner := dockerconfig.ConfigureHosts(context.Background(), opts)
	// A registry on localhost without a hosts.toml is spoken to in plain
	// HTTP straight away, as containerd's CRI does. (The library default
	// would try HTTPS with verification off first, then fall back.)
	opts.DefaultScheme = "http"
	local := dockerconfig.ConfigureHosts(context.Background(), opts)
	return func(host string) ([]docker.RegistryHost, error) {
		configure := inner
		if docker.IsLocalhost(host) {
			configure = local
		}
		hs, err := configure(host)
		if err != nil {
			return nil, fmt.Errorf("registry configuration for %s: %w", host, err)
		}
		c.mu.Lock()
		for _, h := range hs {
			c.allowed[h.Host] = true
		}
		c.mu.Unlock()
		return hs, nil
	}
}

func (c *credentials) mayReceive(host string) bool {
	if c.server != "" {
		return host == c.server
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.allowed[host]
}

// forHost is the docker authorizer's credential callback.
func (c *credentials) forHost(host string) (string, string, error) {
	if c.secret == "" || !c.mayReceive(host) {
		return "", "", nil
	}
	return c.user, c.secret, nil
}

// wrapTransport sends a registry token (an access token the caller already
// holds) as a bearer token to the hosts allowed to see it, on requests the
// authorizer has not already authorised.
func (c *credentials) wrapTransport(rt http.RoundTripper) http.RoundTripper {
	if c.token == "" {
		return rt
	}
	return roundTripperFunc(func(req *http.Request) (*http.Response, error) {
		if req.Header.Get("Authorization") == "" && c.mayReceive(req.URL.Host) {
			req = req.Clone(req.Context())
			req.Header.Set("Authorization", "Bearer "+c.token)
		}
		return rt.RoundTrip(req)
	})
}

type roundTripperFunc func(*http.Request) (*http.Response, error)

func (f roundTripperFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// redact replaces any secret that made it into an error's text. The
// errdefs class survives (errors.Is still works through Unwrap).
func (c *credentials) redact(err error) error {
	if err == nil || c.empty() {
		return err
	}
	msg := err.Error()
	clean := msg
	for _, s := range []string{c.secret, c.token, c.user + ":" + c.secret} {
		if len(s) >= 3 {
			clean = strings.ReplaceAll(clean, s, "<redacted>")
		}
	}
	if c.user != "" || c.secret != "" {
		b64 := base64.StdEncoding.EncodeToString([]byte(c.user + ":" + c.secret))
		clean = strings.ReplaceAll(clean, b64, "<redacted>")
	}
	if clean == msg {
		return err
	}
	return &redactedError{msg: clean, err: err}
}

type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }

// Is keeps the errdefs class visible without exposing the original text
// through Unwrap.
func (e *redactedError) Is(target error) bool { return errors.Is(e.err, target) }
