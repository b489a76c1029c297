// Package testregistry runs real OCI registries on 127.0.0.1 for tests:
// Debian's docker-registry (distribution 2.8) with optional htpasswd basic
// auth and TLS (optionally mutual), plus helpers to build images from
// in-memory files, push them over the registry HTTP API, corrupt stored
// blobs, count requests through a proxy and stall like a dead registry.
//
// It must never talk to anything but loopback, and it stops only the
// processes it started, by PID.
package testregistry

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
)

// Binary is Debian's registry (apt-get install -y docker-registry).
const Binary = "/usr/bin/docker-registry"

// Options choose how a registry is served.
type Options struct {
	// Users enables htpasswd basic auth with these user -> password pairs.
	Users map[string]string
	// TLS serves HTTPS with a certificate for 127.0.0.1 from a fresh CA
	// (written to Registry.CAFile).
	TLS bool
	// Token makes the registry demand bearer tokens from this token
	// server (instead of Users' basic auth).
	Token *TokenServer
	// ClientCerts additionally requires a client certificate signed by
	// that CA (Registry.ClientCertFile/ClientKeyFile). Implies TLS.
	ClientCerts bool
}

// Registry is one running docker-registry process.
type Registry struct {
	Host    string // "127.0.0.1:PORT"
	Dir     string // config, certs, htpasswd, storage
	Scheme  string // "http" or "https"
	CAFile  string // set with TLS
	CertDir string // CA + client pair, laid out for a hosts.toml

	ClientCertFile, ClientKeyFile string // set with ClientCerts

	user, password string
	token          *TokenServer
	client         *http.Client
	cmd            *exec.Cmd
	exited         chan struct{} // closed when cmd has been waited for
	stderr         lockedBuffer
}

// Start runs a registry and stops it (by PID) when the test ends.
func Start(t testing.TB, o Options) *Registry {
	t.Helper()
	if _, err := os.Stat(Binary); err != nil {
		t.Fatalf("docker-registry not installed (apt-get install -y docker-registry apache2-utils): %v", err)
	}
	if o.ClientCerts {
		o.TLS = true
	}
	r := &Registry{Dir: t.TempDir(), Scheme: "http"}
	tr := &http.Transport{Proxy: nil, DisableKeepAlives: false}
	r.client = &http.Client{Transport: tr, Timeout: 2 * time.Minute}

	var tlsYAML, authYAML string
	if o.TLS {
		r.Scheme = "https"
		pki, err := newPKI(r.Dir)
		if err != nil {
			t.Fatal(err)
		}
		r.CAFile, r.CertDir = pki.caFile, pki.dir
		pool := x509.NewCertPool()
		pool.AppendCertsFromPEM(pki.caPEM)
		tr.TLSClientConfig = &tls.Config{RootCAs: pool}
		tlsYAML = fmt.Sprintf("  tls:\n    certificate: %s\n    key: %s\n", pki.serverCert, pki.serverKey)
		if o.ClientCerts {
			r.ClientCertFile, r.ClientKeyFile = pki.clientCert, pki.clientKey
			tlsYAML += fmt.Sprintf("    clientcas:\n      - %s\n", pki.caFile)
			pair, err := tls.LoadX509KeyPair(pki.clientCert, pki.clientKey)
			if err != nil {
				t.Fatal(err)
			}
			tr.TLSClientConfig.Certificates = []tls.Certificate{pair}
		}
	}
	if o.Token != nil {
		r.token = o.Token
		authYAML = fmt.Sprintf("auth:\n  token:\n    realm: %s\n    service: %s\n    issuer: %s\n    rootcertbundle: %s\n",
			o.Token.URL, o.Token.Service, o.Token.Issuer, o.Token.certFile)
	} else if len(o.Users) > 0 {
		var lines []string
		for u, p := range o.Users {
			out, err := exec.Command("htpasswd", "-Bbn", u, p).Output()
			if err != nil {
				t.Fatalf("htpasswd: %v", err)
			}
			lines = append(lines, strings.TrimSpace(string(out)))
			r.user, r.password = u, p
		}
		htpasswd := filepath.Join(r.Dir, "htpasswd")
		if err := os.WriteFile(htpasswd, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		authYAML = fmt.Sprintf("auth:\n  htpasswd:\n    realm: krill-test\n    path: %s\n", htpasswd)
	}

	// A free port can be taken between probe and bind; try a few.
	for attempt := 0; ; attempt++ {
		port, err := freePort()
		if err != nil {
			t.Fatal(err)
		}
		r.Host = fmt.Sprintf("127.0.0.1:%d", port)
		cfg := fmt.Sprintf(`version: 0.1
log:
  level: error
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: %s
  delete:
    enabled: true
  maintenance:
    uploadpurging:
      enabled: false
http:
  addr: %s
  secret: krill-test-secret
%s%s`, filepath.Join(r.Dir, "data"), r.Host, tlsYAML, authYAML)
		cfgFile := filepath.Join(r.Dir, "config.yml")
		if err := os.WriteFile(cfgFile, []byte(cfg), 0o600); err != nil {
			t.Fatal(err)
		}
		r.stderr.Reset()
		r.cmd = exec.Command(Binary, "serve", cfgFile)
		r.cmd.Stdout = &r.stderr
		r.cmd.Stderr = &r.stderr
		if err := r.cmd.Start(); err != nil {
			t.Fatalf("start docker-registry: %v", err)
		}
		r.exited = make(chan struct{})
		go func(cmd *exec.Cmd, exited chan struct{}) {
			cmd.Wait()
			close(exited)
		}(r.cmd, r.exited)
		if err := r.waitReady(10 * time.Second); err == nil {
			break
		} else if attempt == 3 {
			r.Stop()
			t.Fatalf("docker-registry did not come up: %v\n%s", err, r.stderr.String())
		}
		r.Stop()
	}
	t.Cleanup(r.Stop)
	return r
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func (r *Registry) waitReady(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		select {
		case <-r.exited:
			return fmt.Errorf("registry exited")
		default:
		}
		resp, err := r.do("GET", "/v2/", nil, nil)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK || resp.StatusCode == http.StatusUnauthorized {
				return nil
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("no answer on %s within %s", r.Host, timeout)
}

// Stop kills the registry process this package started. Idempotent.
func (r *Registry) Stop() {
	if r.cmd == nil || r.exited == nil {
		return
	}
	select {
	case <-r.exited:
		return
	default:
	}
	r.cmd.Process.Kill() // our own child, by PID
	<-r.exited
}

// lockedBuffer collects the registry's output for failure messages.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func (l *lockedBuffer) Reset() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.b.Reset()
}

// URL is scheme://host.
func (r *Registry) URL() string { return r.Scheme + "://" + r.Host }

// Ref is the full reference of repo:tag (or repo@digest) in this registry.
func (r *Registry) Ref(repoAndTag string) string { return r.Host + "/" + repoAndTag }

// Client is an HTTP client that trusts this registry (and presents the
// client certificate if one is required).
func (r *Registry) Client() *http.Client { return r.client }

func (r *Registry) do(method, path string, body []byte, hdr http.Header) (*http.Response, error) {
	url := path
	if !strings.HasPrefix(path, "http") {
		url = r.URL() + path
	}
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		return nil, err
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	if body != nil {
		req.ContentLength = int64(len(body))
	}
	if r.user != "" {
		req.SetBasicAuth(r.user, r.password)
	}
	if r.token != nil {
		if repo := repoOf(req.URL.Path); repo != "" {
			req.Header.Set("Authorization", "Bearer "+r.token.Issue(repo, "pull", "push"))
		}
	}
	return r.client.Do(req)
}

// repoOf extracts the repository from a /v2/<repo>/(blobs|manifests)/... path.
func repoOf(path string) string {
	rest, ok := strings.CutPrefix(path, "/v2/")
	if !ok {
		return ""
	}
	for _, sep := range []string{"/blobs/", "/manifests/"} {
		if i := strings.Index(rest, sep); i > 0 {
			return rest[:i]
		}
	}
	return ""
}

// BlobPath is where the filesystem driver keeps blob d.
func (r *Registry) BlobPath(d digest.Digest) string {
	hex := d.Encoded()
	return filepath.Join(r.Dir, "data", "docker", "registry", "v2", "blobs", d.Algorithm().String(), hex[:2], hex, "data")
}

// ReplaceBlob overwrites the stored bytes of blob d: the registry then
// serves content that does not match its digest (or is truncated).
func (r *Registry) ReplaceBlob(t testing.TB, d digest.Digest, data []byte) {
	t.Helper()
	if err := os.WriteFile(r.BlobPath(d), data, 0o644); err != nil {
		t.Fatalf("replace blob %s: %v", d, err)
	}
}
