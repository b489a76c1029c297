package testregistry

import (
	"encoding/json"
	"io"
	"net/http"
	"os"
	"testing"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

func TestPushAndFetch(t *testing.T) {
	for _, o := range []Options{{}, {Users: map[string]string{"bob": "pw-123"}}, {TLS: true}, {ClientCerts: true}} {
		r := Start(t, o)
		b := r.Push(t, "x/y", "t1", &Image{Layers: [][]byte{Tar(File{Name: "f", Body: []byte("data")})}})
		resp, err := r.do("GET", "/v2/x/y/manifests/t1", nil, http.Header{"Accept": {ocispec.MediaTypeImageManifest}})
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		var m ocispec.Manifest
		if resp.StatusCode != 200 || json.Unmarshal(body, &m) != nil || m.Config.Digest != b.Config.Desc.Digest {
			t.Fatalf("%+v: manifest %s %s", o, resp.Status, body)
		}
		if _, err := os.Stat(r.BlobPath(b.Layers[0].Desc.Digest)); err != nil {
			t.Errorf("blob not where BlobPath says: %v", err)
		}
		if len(o.Users) > 0 {
			// Without credentials the registry refuses.
			resp, err := r.client.Get(r.URL() + "/v2/x/y/manifests/t1")
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusUnauthorized {
				t.Errorf("anonymous GET = %s; want 401", resp.Status)
			}
		}
		if o.TLS {
			// Without our CA, the certificate is not trusted.
			if _, err := http.Get(r.URL() + "/v2/"); err == nil {
				t.Error("TLS registry trusted without its CA")
			}
		}
		r.Stop()
		if _, err := http.Get(r.URL() + "/v2/"); err == nil && r.Scheme == "http" {
			t.Error("registry still answers after Stop")
		}
	}
}

func TestProxyCountsAndSilent(t *testing.T) {
	r := Start(t, Options{})
	b := r.Push(t, "p", "1", &Image{Layers: [][]byte{Tar(File{Name: "f", Body: []byte("d")})}})
	p := NewProxy(t, r)
	resp, err := http.Get("http://" + p.Host + "/v2/p/blobs/" + b.Layers[0].Desc.Digest.String())
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || p.Count("GET", "/blobs/") != 1 {
		t.Errorf("proxy: %s, count %d", resp.Status, p.Count("GET", "/blobs/"))
	}
	host := Silent(t)
	c := &http.Client{Timeout: 300 * 1e6}
	if _, err := c.Get("http://" + host + "/v2/"); err == nil {
		t.Error("silent listener answered")
	}
}
