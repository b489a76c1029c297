package image

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sync/atomic"
	"time"
)

// errStalled is the cancel cause of a pull that moved no bytes for the
// progress timeout.
var errStalled = errors.New("no progress from the registry")

// errTooLong is the cancel cause of a pull that ran past Config.PullTimeout
// although bytes kept coming (a registry trickling them).
var errTooLong = errors.New("pull took longer than its limit")

// progress watches one pull's HTTP traffic. A pull is stalled when a
// request is outstanding and no response byte arrived for the timeout; a
// registry that accepts the connection and never answers is caught the
// same way as one that stops mid-blob. Time spent unpacking (no request
// outstanding) never counts.
type progress struct {
	timeout time.Duration
	cancel  context.CancelCauseFunc
	log     *slog.Logger

	active atomic.Int64 // requests sent whose body is not closed yet
	bytes  atomic.Int64 // response bytes read so far
	last   atomic.Int64 // unix nanos of the last sign of life
}

func newProgress(timeout time.Duration, cancel context.CancelCauseFunc, log *slog.Logger) *progress {
	p := &progress{timeout: timeout, cancel: cancel, log: log}
	p.touch()
	return p
}

func (p *progress) touch() { p.last.Store(time.Now().UnixNano()) }

// watch cancels the pull once it stalls and logs progress now and then.
func (p *progress) watch(ctx context.Context) {
	tick := min(p.timeout/4, 5*time.Second)
	tick = max(tick, 10*time.Millisecond)
	t := time.NewTicker(tick)
	defer t.Stop()
	var lastLog time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			if p.active.Load() == 0 {
				p.touch() // idle (resolving done, unpacking): nothing to wait for
				continue
			}
			idle := now.Sub(time.Unix(0, p.last.Load()))
			if idle > p.timeout {
				p.cancel(fmt.Errorf("%w for %s", errStalled, p.timeout))
				return
			}
			if now.Sub(lastLog) >= 10*time.Second {
				lastLog = now
				p.log.Info("pull progress", "bytes", p.bytes.Load(), "active_requests", p.active.Load())
			}
		}
	}
}

// wrap counts requests and response bytes on rt.
func (p *progress) wrap(rt http.RoundTripper) http.RoundTripper {
	return roundTripperFunc(func(req *http.Request) (*http.Response, error) {
		if p.active.Add(1) == 1 {
			p.touch() // the wait starts now, not at the last tick
		}
		resp, err := rt.RoundTrip(req)
		if err != nil {
			p.active.Add(-1)
			return nil, err
		}
		p.touch()
		resp.Body = &countingBody{ReadCloser: resp.Body, p: p}
		return resp, nil
	})
}

type countingBody struct {
	io.ReadCloser
	p      *progress
	closed atomic.Bool
}

func (b *countingBody) Read(buf []byte) (int, error) {
	n, err := b.ReadCloser.Read(buf)
	if n > 0 {
		b.p.bytes.Add(int64(n))
		b.p.touch()
	}
	return n, err
}

func (b *countingBody) Close() error {
	if b.closed.CompareAndSwap(false, true) {
		b.p.active.Add(-1)
	}
	return b.ReadCloser.Close()
}
