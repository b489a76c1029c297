package image

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	dockerconfig "github.com/containerd/containerd/v2/core/remotes/docker/config"
	"github.com/containerd/errdefs"
	runtime "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// FuzzReference: any image reference from a CRI request normalizes to a
// name that normalizes to itself, or fails with InvalidArgument; the
// lookups that classify references never panic.
func FuzzReference(f *testing.F) {
	f.Fuzz(func(t *testing.T, ref string) {
		_, _ = idLike(ref) // must not panic
		isDigestRef(ref)
		named, err := normalize(ref)
		if err != nil {
			if !errors.Is(err, errdefs.ErrInvalidArgument) {
				t.Fatalf("normalize(%q): %v is not InvalidArgument", ref, err)
			}
			return
		}
		again, err := normalize(named.String())
		if err != nil || again.String() != named.String() {
			t.Fatalf("normalize(%q) = %q, which normalizes to %v, %v", ref, named, again, err)
		}
	})
}

// FuzzHostsToml loads a fuzzed hosts.toml for a fuzzed registry host, as a
// pull does, with fuzzed credentials: configuration or an error, never a
// panic; the credentials may go only to the hosts the file configured;
// and no error text carries the secret.
func FuzzHostsToml(f *testing.F) {
	dir := filepath.Join(f.TempDir(), "certs.d") // emptied for each input
	f.Fuzz(func(t *testing.T, hostsToml []byte, host, user, secret string) {
		if host == "" || strings.ContainsAny(host, "/\x00") || host == "." || host == ".." {
			return // not a host name: never a directory lookup
		}
		if err := os.RemoveAll(dir); err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(filepath.Join(dir, host), 0o755); err != nil {
			return
		}
		if err := os.WriteFile(filepath.Join(dir, host, "hosts.toml"), hostsToml, 0o644); err != nil {
			t.Fatal(err)
		}
		creds, err := newCredentials(&runtime.AuthConfig{Username: user, Password: secret})
		if err != nil {
			return
		}
		hosts, err := creds.hosts(dockerconfig.HostOptions{HostDir: dockerconfig.HostDirFromRoot(dir)})(host)
		if err != nil {
			if len(secret) >= 3 && strings.Contains(creds.redact(err).Error(), secret) {
				t.Fatalf("error shows the secret: %v", creds.redact(err))
			}
			return
		}
		allowed := map[string]bool{}
		for _, h := range hosts {
			allowed[h.Host] = true
		}
		for _, h := range []string{host, "evil.example:443", "127.0.0.2"} {
			if _, pw, _ := creds.forHost(h); pw != "" && !allowed[h] {
				t.Fatalf("credentials offered to %s, not among the configured hosts %v", h, allowed)
			}
		}
	})
}
