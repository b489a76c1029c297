package testregistry

import (
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Proxy is a plain-HTTP reverse proxy on 127.0.0.1 in front of a
// registry. It counts requests by method and path and can freeze blob
// downloads half way, like a registry that stops sending.
type Proxy struct {
	Host string // "127.0.0.1:PORT"

	mu     sync.Mutex
	counts map[string]int // "GET /v2/x/blobs/sha256:..." -> n

	// StallBlobsAfter > 0 makes blob bodies stop (not close) after that
	// many bytes until the client gives up.
	StallBlobsAfter atomic.Int64
	// TrickleBlobs > 0 makes blob bodies send at most 16 bytes per that
	// many nanoseconds: a registry that is alive but never finishes.
	TrickleBlobs atomic.Int64

	inFlight, maxInFlight atomic.Int64 // blob GETs being served
}

// NewProxy proxies to r (which must serve plain HTTP) until the test ends.
func NewProxy(t testing.TB, r *Registry) *Proxy {
	t.Helper()
	target, _ := url.Parse(r.URL())
	p := &Proxy{counts: map[string]int{}}
	rp := httputil.NewSingleHostReverseProxy(target)
	rp.Transport = r.client.Transport
	rp.FlushInterval = -1
	rp.ModifyResponse = func(resp *http.Response) error {
		if !isBlobGet(resp.Request) {
			return nil
		}
		if n := p.StallBlobsAfter.Load(); n > 0 {
			resp.Body = &stallingBody{ReadCloser: resp.Body, left: n, stop: make(chan struct{})}
		}
		if d := p.TrickleBlobs.Load(); d > 0 {
			resp.Body = &tricklingBody{ReadCloser: resp.Body, every: time.Duration(d)}
		}
		return nil
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p.Host = l.Addr().String()
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		p.mu.Lock()
		p.counts[req.Method+" "+req.URL.Path]++
		p.mu.Unlock()
		if isBlobGet(req) {
			n := p.inFlight.Add(1)
			defer p.inFlight.Add(-1)
			for {
				m := p.maxInFlight.Load()
				if n <= m || p.maxInFlight.CompareAndSwap(m, n) {
					break
				}
			}
		}
		rp.ServeHTTP(w, req)
	})}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return p
}

// Count returns how many requests had this method and a path containing sub.
func (p *Proxy) Count(method, sub string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for k, v := range p.counts {
		m, path, _ := strings.Cut(k, " ")
		if m == method && strings.Contains(path, sub) {
			n += v
		}
	}
	return n
}

// MaxBlobsInFlight is the most blob downloads that were served at once.
func (p *Proxy) MaxBlobsInFlight() int { return int(p.maxInFlight.Load()) }

func isBlobGet(req *http.Request) bool {
	return req.Method == "GET" && strings.Contains(req.URL.Path, "/blobs/")
}

// Ref is the full reference of repo:tag through the proxy.
func (p *Proxy) Ref(repoAndTag string) string { return p.Host + "/" + repoAndTag }

type stallingBody struct {
	io.ReadCloser
	left int64
	stop chan struct{}
	once sync.Once
}

func (s *stallingBody) Read(b []byte) (int, error) {
	if s.left <= 0 {
		<-s.stop // until the proxy's client hangs up and Close is called
		return 0, net.ErrClosed
	}
	if int64(len(b)) > s.left {
		b = b[:s.left]
	}
	n, err := s.ReadCloser.Read(b)
	s.left -= int64(n)
	return n, err
}

func (s *stallingBody) Close() error {
	s.once.Do(func() { close(s.stop) })
	return s.ReadCloser.Close()
}

type tricklingBody struct {
	io.ReadCloser
	every time.Duration
}

func (s *tricklingBody) Read(b []byte) (int, error) {
	time.Sleep(s.every)
	if len(b) > 16 {
		b = b[:16]
	}
	return s.ReadCloser.Read(b)
}

// Silent starts a TCP listener on 127.0.0.1 that accepts connections and
// never answers: a registry that hangs. It returns "127.0.0.1:PORT".
func Silent(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var conns []net.Conn
	var mu sync.Mutex
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		l.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
	})
	return l.Addr().String()
}

// WaitFor polls cond every 20ms for up to d.
func WaitFor(d time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if cond() {
			return true
		}
		time.Sleep(20 * time.Millisecond)
	}
	return cond()
}
