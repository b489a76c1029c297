package oci

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync"

	"github.com/containerd/errdefs"
	"k8s.io/cri-streaming/pkg/streaming/remotecommand"

	"github.com/krill-runtime/krill/oci/shimproto"
)

// Attach connects to the container's running process through its shim:
// output as it is produced (stdout and stderr apart unless tty), stdin to
// the container (if it was created with Stdin), terminal resizes. It returns
// when the container exits, when ctx ends, or when stdin ends (with
// StdinOnce, the shim then closes the container's stdin and Attach stays
// until the exit so the last output is delivered). stdout and stderr are
// closed on return. Attaching to an exited container returns at once.
func (r *Runtime) Attach(ctx context.Context, id string, stdin io.Reader, stdout, stderr io.WriteCloser, tty bool, resize <-chan remotecommand.TerminalSize) error {
	defer closeWriters(stdout, stderr)
	if err := checkID(id); err != nil {
		return err
	}
	dir := r.shimDir(id)
	var d net.Dialer
	conn, err := d.DialContext(ctx, "unix", filepath.Join(dir, sockAttach))
	if err != nil {
		if e, _ := readExit(dir); e != nil {
			return nil
		}
		if _, serr := os.Stat(dir); serr != nil {
			return fmt.Errorf("attach to container %s: %w", id, errdefs.ErrNotFound)
		}
		if _, alive := shimPid(dir); !alive {
			return fmt.Errorf("attach to container %s: no shim (not created with one?): %w", id, errdefs.ErrFailedPrecondition)
		}
		return fmt.Errorf("attach to container %s: %v: %w", id, err, errdefs.ErrUnavailable)
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()

	var wmu sync.Mutex
	send := func(kind byte, p []byte) error {
		wmu.Lock()
		defer wmu.Unlock()
		_, err := conn.Write(shimproto.Encode(kind, p))
		return err
	}
	hello := []byte("0")
	if stdin != nil {
		hello = []byte("1")
	}
	if err := send(shimproto.Hello, hello); err != nil {
		return fmt.Errorf("attach to container %s: %v: %w", id, err, errdefs.ErrUnavailable)
	}

	done := make(chan struct{})
	defer close(done)
	if stdin != nil {
		go func() {
			buf := make([]byte, 32*1024)
			for {
				n, err := stdin.Read(buf)
				if n > 0 && send(shimproto.Stdin, buf[:n]) != nil {
					return
				}
				if err != nil {
					send(shimproto.Close, nil)
					return
				}
			}
		}()
	}
	if resize != nil {
		go func() {
			for {
				select {
				case <-done:
					return
				case sz, ok := <-resize:
					if !ok {
						return
					}
					send(shimproto.Resize, []byte(strconv.Itoa(int(sz.Width))+" "+strconv.Itoa(int(sz.Height))))
				}
			}
		}()
	}

	if stdout == nil {
		stdout = nopWriteCloser{io.Discard}
	}
	if stderr == nil || tty {
		stderr = stdout
	}
	br := bufio.NewReader(conn)
	for {
		kind, p, err := shimproto.Read(br)
		if err != nil {
			return nil // the shim closed (detach, exit) or ctx ended
		}
		var werr error
		switch kind {
		case shimproto.Stdout:
			_, werr = stdout.Write(p)
		case shimproto.Stderr:
			_, werr = stderr.Write(p)
		case shimproto.Exit:
			return nil
		}
		if werr != nil {
			return nil // the client went away
		}
	}
}

type nopWriteCloser struct{ io.Writer }

func (nopWriteCloser) Close() error { return nil }
