package image

import (
	"context"
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/containerd/errdefs"
	runtime "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/krill-runtime/krill/test/testregistry"
)

// writeHosts writes <dir>/<host>/hosts.toml.
func writeHosts(t *testing.T, dir, host, body string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Join(dir, host), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, host, "hosts.toml"), []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestPrivateRegistryCredentials(t *testing.T) {
	const user, pass = "alice", "Sup3r-S3cret-pw"
	reg := testregistry.Start(t, testregistry.Options{Users: map[string]string{user: pass}})
	built := reg.Push(t, "private/app", "1", smallImage("private"))
	ref := reg.Ref("private/app:1")
	b64 := base64.StdEncoding.EncodeToString([]byte(user + ":" + pass))

	for _, tc := range []struct {
		name  string
		auth  *runtime.AuthConfig
		class func(error) bool // nil: must succeed
	}{
		{"username and password", &runtime.AuthConfig{Username: user, Password: pass}, nil},
		{"base64 auth", &runtime.AuthConfig{Auth: b64}, nil},
		{"server address matches", &runtime.AuthConfig{Username: user, Password: pass, ServerAddress: reg.Host}, nil},
		{"server address as URL", &runtime.AuthConfig{Username: user, Password: pass, ServerAddress: "http://" + reg.Host + "/v2/"}, nil},
		{"no credentials", nil, errdefs.IsUnauthorized},
		{"wrong password", &runtime.AuthConfig{Username: user, Password: "wrong-password-123"}, errdefs.IsUnauthorized},
		{"wrong base64 auth", &runtime.AuthConfig{Auth: base64.StdEncoding.EncodeToString([]byte("mallory:not-the-pass"))}, errdefs.IsUnauthorized},
		// Credentials for another server must not be sent here.
		{"other server address", &runtime.AuthConfig{Username: user, Password: pass, ServerAddress: "registry.example.com"}, errdefs.IsUnauthorized},
		{"invalid base64", &runtime.AuthConfig{Auth: "!!!not base64"}, errdefs.IsInvalidArgument},
		{"base64 without colon", &runtime.AuthConfig{Auth: base64.StdEncoding.EncodeToString([]byte("justuser"))}, errdefs.IsInvalidArgument},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newService(t, nil)
			img, err := s.Pull(context.Background(), ref, tc.auth)
			if tc.class == nil {
				if err != nil || img.ID != built.ID() {
					t.Fatalf("Pull = %v, %v", img, err)
				}
				return
			}
			if err == nil || !tc.class(err) {
				t.Fatalf("Pull err = %v; wrong class", err)
			}
			for _, secret := range []string{pass, "wrong-password-123", "not-the-pass", b64} {
				if strings.Contains(err.Error(), secret) {
					t.Errorf("error reveals a secret: %v", err)
				}
			}
			if _, err := s.Get(context.Background(), ref); !errdefs.IsNotFound(err) {
				t.Errorf("image present after failed pull: %v", err)
			}
		})
	}
}

func TestCredentialsNotSentToOtherHosts(t *testing.T) {
	c, err := newCredentials(&runtime.AuthConfig{Username: "u", Password: "p", ServerAddress: "https://index.docker.io/v1/"})
	if err != nil {
		t.Fatal(err)
	}
	for host, want := range map[string]bool{"registry-1.docker.io": true, "evil.example.com": false, "127.0.0.1:5000": false} {
		u, p, _ := c.forHost(host)
		if got := u != "" || p != ""; got != want {
			t.Errorf("credentials for %s sent = %v; want %v", host, got, want)
		}
	}
	// Without a server address only the hosts serving this pull get them.
	c, _ = newCredentials(&runtime.AuthConfig{IdentityToken: "idtok"})
	c.allowed["mirror.local:5000"] = true
	if _, p, _ := c.forHost("mirror.local:5000"); p != "idtok" {
		t.Errorf("identity token not offered to the pull's host")
	}
	if u, p, _ := c.forHost("elsewhere:443"); u != "" || p != "" {
		t.Errorf("identity token offered to a foreign host")
	}
	err = c.redact(fmt.Errorf("boom idtok boom"))
	if strings.Contains(err.Error(), "idtok") {
		t.Errorf("redact left the secret: %v", err)
	}
}

func TestTLSRegistryWithCustomCA(t *testing.T) {
	reg := testregistry.Start(t, testregistry.Options{TLS: true})
	built := reg.Push(t, "secure", "1", smallImage("tls"))
	ref := reg.Ref("secure:1")

	t.Run("ca in hosts.toml", func(t *testing.T) {
		dir := t.TempDir()
		writeHosts(t, dir, reg.Host, fmt.Sprintf("server = %q\n[host.%q]\n  ca = %q\n", reg.URL(), reg.URL(), reg.CAFile))
		s := newService(t, func(c *Config) { c.RegistryConfigPath = dir })
		img, err := s.Pull(context.Background(), ref, nil)
		if err != nil || img.ID != built.ID() {
			t.Fatalf("Pull = %v, %v", img, err)
		}
	})
	t.Run("unknown ca refused", func(t *testing.T) {
		dir := t.TempDir()
		writeHosts(t, dir, reg.Host, fmt.Sprintf("server = %q\n", reg.URL()))
		s := newService(t, func(c *Config) { c.RegistryConfigPath = dir })
		_, err := s.Pull(context.Background(), ref, nil)
		if err == nil || !strings.Contains(err.Error(), "certificate") {
			t.Fatalf("Pull err = %v; want a certificate error", err)
		}
	})
	t.Run("skip_verify", func(t *testing.T) {
		dir := t.TempDir()
		writeHosts(t, dir, reg.Host, fmt.Sprintf("server = %q\n[host.%q]\n  skip_verify = true\n", reg.URL(), reg.URL()))
		s := newService(t, func(c *Config) { c.RegistryConfigPath = dir })
		if _, err := s.Pull(context.Background(), ref, nil); err != nil {
			t.Fatal(err)
		}
	})
}

func TestMutualTLSClientCertificate(t *testing.T) {
	reg := testregistry.Start(t, testregistry.Options{ClientCerts: true})
	built := reg.Push(t, "mtls", "1", smallImage("mtls"))
	ref := reg.Ref("mtls:1")

	dir := t.TempDir()
	writeHosts(t, dir, reg.Host, fmt.Sprintf("server = %q\n[host.%q]\n  ca = %q\n  client = [[%q, %q]]\n",
		reg.URL(), reg.URL(), reg.CAFile, reg.ClientCertFile, reg.ClientKeyFile))
	s := newService(t, func(c *Config) { c.RegistryConfigPath = dir })
	if img, err := s.Pull(context.Background(), ref, nil); err != nil || img.ID != built.ID() {
		t.Fatalf("Pull with client cert = %v, %v", img, err)
	}

	noCert := t.TempDir()
	writeHosts(t, noCert, reg.Host, fmt.Sprintf("server = %q\n[host.%q]\n  ca = %q\n", reg.URL(), reg.URL(), reg.CAFile))
	s2 := newService(t, func(c *Config) { c.RegistryConfigPath = noCert })
	if _, err := s2.Pull(context.Background(), ref, nil); err == nil {
		t.Fatal("pull without the required client certificate succeeded")
	}
}

func TestMirrorKeepsUpstreamName(t *testing.T) {
	reg := testregistry.Start(t, testregistry.Options{})
	k8s := reg.Push(t, "e2e-test-images/busybox", "1.29-2", smallImage("k8s"))
	hub := reg.Push(t, "library/busybox", "latest", smallImage("hub"))
	proxy := testregistry.NewProxy(t, reg)

	dir := t.TempDir()
	// The upstream servers point at a closed loopback port: tests never
	// leave the machine, and a fallback to them would fail loudly.
	writeHosts(t, dir, "registry.k8s.io", fmt.Sprintf("server = \"http://127.0.0.1:1\"\n[host.\"http://%s\"]\n  capabilities = [\"pull\", \"resolve\"]\n", proxy.Host))
	writeHosts(t, dir, "docker.io", fmt.Sprintf("server = \"http://127.0.0.1:1\"\n[host.\"http://%s\"]\n  capabilities = [\"pull\", \"resolve\"]\n", proxy.Host))
	s := newService(t, func(c *Config) { c.RegistryConfigPath = dir })
	ctx := context.Background()

	img, err := s.Pull(ctx, "registry.k8s.io/e2e-test-images/busybox:1.29-2", nil)
	if err != nil {
		t.Fatal(err)
	}
	if img.ID != k8s.ID() || !slices.Equal(img.RepoTags, []string{"registry.k8s.io/e2e-test-images/busybox:1.29-2"}) ||
		!slices.Equal(img.RepoDigests, []string{"registry.k8s.io/e2e-test-images/busybox@" + k8s.Manifest.Desc.Digest.String()}) {
		t.Errorf("image = %+v", img)
	}
	if proxy.Count("GET", "/v2/e2e-test-images/busybox/blobs/") == 0 {
		t.Error("the mirror served no blobs")
	}

	img, err = s.Pull(ctx, "busybox", nil)
	if err != nil {
		t.Fatal(err)
	}
	if img.ID != hub.ID() || !slices.Equal(img.RepoTags, []string{"docker.io/library/busybox:latest"}) {
		t.Errorf("short name image = %+v", img)
	}
	if got, err := s.Get(ctx, "busybox:latest"); err != nil || got.ID != hub.ID() {
		t.Errorf("Get(busybox:latest) = %v, %v", got, err)
	}
}

func TestTokenAuthRegistry(t *testing.T) {
	ts := testregistry.StartTokenServer(t, map[string]string{"carol": "tok-pass-1"})
	ts.AddRefreshToken("refresh-abc-123", "carol")
	reg := testregistry.Start(t, testregistry.Options{Token: ts})
	built := reg.Push(t, "tok/app", "1", smallImage("token"))
	ref := reg.Ref("tok/app:1")

	for _, tc := range []struct {
		name string
		auth *runtime.AuthConfig
		ok   bool
	}{
		{"password via token server", &runtime.AuthConfig{Username: "carol", Password: "tok-pass-1"}, true},
		{"identity token", &runtime.AuthConfig{IdentityToken: "refresh-abc-123"}, true},
		{"registry token", &runtime.AuthConfig{RegistryToken: ts.Issue("tok/app", "pull")}, true},
		{"registry token for another server", &runtime.AuthConfig{RegistryToken: ts.Issue("tok/app", "pull"), ServerAddress: "elsewhere.example"}, false},
		{"registry token for another repo", &runtime.AuthConfig{RegistryToken: ts.Issue("other/repo", "pull")}, false},
		{"wrong identity token", &runtime.AuthConfig{IdentityToken: "refresh-wrong-999"}, false},
		{"wrong password", &runtime.AuthConfig{Username: "carol", Password: "bad-pass-777"}, false},
		{"anonymous", nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newService(t, nil)
			img, err := s.Pull(context.Background(), ref, tc.auth)
			if tc.ok {
				if err != nil || img.ID != built.ID() {
					t.Fatalf("Pull = %v, %v", img, err)
				}
				return
			}
			if err == nil {
				t.Fatal("pull succeeded")
			}
			if !errdefs.IsUnauthorized(err) && !errdefs.IsPermissionDenied(err) {
				t.Errorf("err = %v; want Unauthenticated or PermissionDenied", err)
			}
			for _, secret := range []string{"refresh-wrong-999", "bad-pass-777", "tok-pass-1"} {
				if strings.Contains(err.Error(), secret) {
					t.Errorf("error reveals a secret: %v", err)
				}
			}
		})
	}
}
