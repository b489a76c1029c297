package testregistry

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// File is one tar entry of a layer. Type defaults to a regular file
// (tar.TypeReg); Mode defaults to 0644 (0755 for directories).
type File struct {
	Name     string
	Body     []byte
	Mode     int64
	Type     byte
	Linkname string
	Uid, Gid int
	Devmajor int64
	Devminor int64
}

// Tar builds an uncompressed layer from files, in the order given (a
// malicious layer needs exactly that control), with a fixed mtime so
// digests are stable.
func Tar(files ...File) []byte {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	mtime := time.Unix(1700000000, 0)
	for _, f := range files {
		typ := f.Type
		if typ == 0 {
			typ = tar.TypeReg
		}
		mode := f.Mode
		if mode == 0 {
			mode = 0o644
			if typ == tar.TypeDir {
				mode = 0o755
			}
		}
		h := &tar.Header{
			Typeflag: typ, Name: f.Name, Linkname: f.Linkname, Mode: mode,
			Uid: f.Uid, Gid: f.Gid, ModTime: mtime, Devmajor: f.Devmajor, Devminor: f.Devminor,
			Format: tar.FormatPAX,
		}
		if typ == tar.TypeReg {
			h.Size = int64(len(f.Body))
		}
		if err := tw.WriteHeader(h); err != nil {
			panic(fmt.Sprintf("tar header %s: %v", f.Name, err)) // test input bug
		}
		if typ == tar.TypeReg {
			tw.Write(f.Body)
		}
	}
	tw.Close()
	return buf.Bytes()
}

// Image is an image to build: uncompressed layer tars plus a config.
type Image struct {
	Config   ocispec.ImageConfig
	Layers   [][]byte
	Platform ocispec.Platform // default linux/amd64
	// Uncompressed pushes the layers as plain tar instead of gzip.
	Uncompressed bool
}

// Blob is one pushed blob.
type Blob struct {
	Desc ocispec.Descriptor
	Data []byte
}

// Built is an image turned into registry blobs.
type Built struct {
	Manifest Blob
	Config   Blob
	Layers   []Blob
	DiffIDs  []digest.Digest
}

// ID is the image ID a runtime reports: the config digest.
func (b *Built) ID() string { return b.Config.Desc.Digest.String() }

// Build compresses the layers and writes config and manifest.
func (img *Image) Build() *Built {
	b := &Built{}
	p := img.Platform
	if p.OS == "" {
		p = ocispec.Platform{OS: "linux", Architecture: "amd64"}
	}
	for _, l := range img.Layers {
		b.DiffIDs = append(b.DiffIDs, digest.FromBytes(l))
		data, mt := l, ocispec.MediaTypeImageLayer
		if !img.Uncompressed {
			var gz bytes.Buffer
			zw, _ := gzip.NewWriterLevel(&gz, gzip.BestSpeed)
			zw.Write(l)
			zw.Close()
			data, mt = gz.Bytes(), ocispec.MediaTypeImageLayerGzip
		}
		b.Layers = append(b.Layers, Blob{Desc: ocispec.Descriptor{MediaType: mt, Digest: digest.FromBytes(data), Size: int64(len(data))}, Data: data})
	}
	cfg := ocispec.Image{
		Platform: p,
		Config:   img.Config,
		RootFS:   ocispec.RootFS{Type: "layers", DiffIDs: b.DiffIDs},
	}
	cb, _ := json.Marshal(cfg)
	b.Config = Blob{Desc: ocispec.Descriptor{MediaType: ocispec.MediaTypeImageConfig, Digest: digest.FromBytes(cb), Size: int64(len(cb))}, Data: cb}
	m := ocispec.Manifest{
		Versioned: specs.Versioned{SchemaVersion: 2},
		MediaType: ocispec.MediaTypeImageManifest,
		Config:    b.Config.Desc,
	}
	for _, l := range b.Layers {
		m.Layers = append(m.Layers, l.Desc)
	}
	mb, _ := json.Marshal(m)
	b.Manifest = Blob{Desc: ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromBytes(mb), Size: int64(len(mb)), Platform: &p}, Data: mb}
	return b
}

// Push uploads img as repo:tag (tag "" pushes by digest only) and returns
// what was pushed.
func (r *Registry) Push(t testing.TB, repo, tag string, img *Image) *Built {
	t.Helper()
	b := img.Build()
	r.PushBuilt(t, repo, tag, b)
	return b
}

// PushBuilt uploads already built blobs as repo:tag.
func (r *Registry) PushBuilt(t testing.TB, repo, tag string, b *Built) {
	t.Helper()
	for _, blob := range append(append([]Blob{}, b.Layers...), b.Config) {
		if err := r.pushBlob(repo, blob); err != nil {
			t.Fatal(err)
		}
	}
	if err := r.pushManifest(repo, b.Manifest.Desc.Digest.String(), b.Manifest); err != nil {
		t.Fatal(err)
	}
	if tag != "" {
		if err := r.pushManifest(repo, tag, b.Manifest); err != nil {
			t.Fatal(err)
		}
	}
}

// PushIndex uploads an OCI index over several platform images as repo:tag
// and returns the index digest.
func (r *Registry) PushIndex(t testing.TB, repo, tag string, imgs ...*Built) digest.Digest {
	t.Helper()
	idx := ocispec.Index{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageIndex}
	for _, b := range imgs {
		r.PushBuilt(t, repo, "", b)
		idx.Manifests = append(idx.Manifests, b.Manifest.Desc)
	}
	ib, _ := json.Marshal(idx)
	blob := Blob{Desc: ocispec.Descriptor{MediaType: ocispec.MediaTypeImageIndex, Digest: digest.FromBytes(ib), Size: int64(len(ib))}, Data: ib}
	if err := r.pushManifest(repo, tag, blob); err != nil {
		t.Fatal(err)
	}
	return blob.Desc.Digest
}

func (r *Registry) pushBlob(repo string, b Blob) error {
	resp, err := r.do("HEAD", "/v2/"+repo+"/blobs/"+b.Desc.Digest.String(), nil, nil)
	if err == nil {
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			return nil
		}
	}
	resp, err = r.do("POST", "/v2/"+repo+"/blobs/uploads/", nil, nil)
	if err != nil {
		return fmt.Errorf("start upload: %w", err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		return fmt.Errorf("start upload of %s: %s", b.Desc.Digest, resp.Status)
	}
	loc, err := url.Parse(resp.Header.Get("Location"))
	if err != nil {
		return err
	}
	if !loc.IsAbs() {
		base, _ := url.Parse(r.URL())
		loc = base.ResolveReference(loc)
	}
	q := loc.Query()
	q.Set("digest", b.Desc.Digest.String())
	loc.RawQuery = q.Encode()
	resp, err = r.do("PUT", loc.String(), b.Data, http.Header{"Content-Type": {"application/octet-stream"}})
	if err != nil {
		return fmt.Errorf("upload %s: %w", b.Desc.Digest, err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		return fmt.Errorf("upload %s: %s: %s", b.Desc.Digest, resp.Status, strings.TrimSpace(string(body)))
	}
	return nil
}

func (r *Registry) pushManifest(repo, ref string, b Blob) error {
	resp, err := r.do("PUT", "/v2/"+repo+"/manifests/"+ref, b.Data, http.Header{"Content-Type": {b.Desc.MediaType}})
	if err != nil {
		return fmt.Errorf("put manifest %s:%s: %w", repo, ref, err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		return fmt.Errorf("put manifest %s:%s: %s: %s", repo, ref, resp.Status, strings.TrimSpace(string(body)))
	}
	return nil
}
