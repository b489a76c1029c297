package streaming

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	goruntime "runtime"
	"strconv"
	"syscall"
	"time"

	"github.com/containerd/errdefs"
	"golang.org/x/sys/unix"
)

const dialTimeout = 10 * time.Second

// dialPod connects to port on the pod's loopback, 127.0.0.1 first and then
// [::1] for servers that listen on IPv6 only. netns "" is the host
// network namespace (host-network pods).
func dialPod(ctx context.Context, netns string, port int) (*net.TCPConn, error) {
	dial := func() (*net.TCPConn, error) {
		// Loopback answers at once unless the listener's backlog is full;
		// the bound keeps a stuck pod from pinning a thread in its namespace.
		d := net.Dialer{Timeout: dialTimeout}
		var errs []error
		for _, addr := range []string{"127.0.0.1", "::1"} {
			c, err := d.DialContext(ctx, "tcp", net.JoinHostPort(addr, strconv.Itoa(port)))
			if err == nil {
				return c.(*net.TCPConn), nil
			}
			errs = append(errs, err)
			if !errors.Is(err, syscall.ECONNREFUSED) && !errors.Is(err, syscall.EADDRNOTAVAIL) && !errors.Is(err, syscall.ENETUNREACH) {
				break
			}
		}
		return nil, errors.Join(errs...)
	}
	if netns == "" {
		return dial()
	}
	return inNetNS(netns, dial)
}

// inNetNS runs fn on an OS thread that has joined the network namespace at
// path. Sockets belong to the namespace of the thread that created them and
// keep it for their whole life, so the connection fn returns can be used
// from any goroutine afterwards.
//
// The thread is used by nothing else while it is in the namespace
// (LockOSThread), and if it cannot be moved back it is never unlocked, so
// the Go runtime destroys it when the goroutine ends instead of letting
// other goroutines run in the pod's namespace.
func inNetNS(path string, fn func() (*net.TCPConn, error)) (*net.TCPConn, error) {
	type result struct {
		c   *net.TCPConn
		err error
	}
	done := make(chan result, 1)
	go func() {
		goruntime.LockOSThread()
		restored := false
		defer func() {
			if restored {
				goruntime.UnlockOSThread()
			}
		}()

		self, err := os.Open("/proc/thread-self/ns/net")
		if err != nil {
			restored = true // nothing changed yet
			done <- result{err: fmt.Errorf("open own network namespace: %w", err)}
			return
		}
		defer self.Close()
		target, err := os.Open(path)
		if err != nil {
			restored = true
			if errors.Is(err, os.ErrNotExist) {
				err = fmt.Errorf("%w: %w", err, errdefs.ErrNotFound)
			}
			done <- result{err: fmt.Errorf("open network namespace: %w", err)}
			return
		}
		defer target.Close()
		if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
			restored = true // setns failed: the thread did not move
			done <- result{err: fmt.Errorf("join network namespace %s: %w", path, err)}
			return
		}
		c, err := fn()
		restored = unix.Setns(int(self.Fd()), unix.CLONE_NEWNET) == nil
		done <- result{c: c, err: err}
	}()
	r := <-done
	return r.c, r.err
}

// forward copies between the client's stream and the pod connection until
// both directions have ended, passing half-closes on: the client's EOF
// becomes a FIN to the pod (CloseWrite) and the pod's EOF closes the
// stream's write side, so request/response protocols that rely on
// half-close (e.g. `nc -q`) work.
//
// On an error in either direction it returns at once; the library then
// resets the stream, which ends a copy still blocked reading it, and
// closing conn ends one blocked reading the pod. Nothing outlives the
// session.
func forward(ctx context.Context, conn *net.TCPConn, stream io.ReadWriteCloser) error {
	defer conn.Close()
	errc := make(chan error, 2)
	go func() {
		_, err := io.Copy(conn, stream)
		if err == nil {
			err = conn.CloseWrite()
		}
		if err != nil {
			err = fmt.Errorf("client to pod: %w", err)
		}
		errc <- err
	}()
	go func() {
		_, err := io.Copy(stream, conn)
		if err == nil {
			err = stream.Close()
		}
		if err != nil {
			err = fmt.Errorf("pod to client: %w", err)
		}
		errc <- err
	}()
	for range 2 {
		select {
		case err := <-errc:
			if err != nil {
				return err
			}
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}
