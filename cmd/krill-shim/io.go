package main

import (
	"bufio"
	"errors"
	"os"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/sys/unix"

	"github.com/krill-runtime/krill/oci/shimproto"
)

// startOutput copies the container's output to the CRI log and to attach
// clients until EOF.
func (s *shim) startOutput(outR, errR *os.File) {
	s.outputDone = make(chan struct{})
	var wg sync.WaitGroup
	copyStream := func(r *os.File, stream string, kind byte) {
		defer wg.Done()
		sp := &lineSplitter{log: s.log, stream: stream}
		buf := make([]byte, 16*1024)
		for {
			n, err := r.Read(buf)
			if n > 0 {
				sp.Write(buf[:n])
				s.broadcast(kind, buf[:n])
			}
			if err != nil {
				// EOF for pipes; EIO from a pty master once the last slave
				// fd is closed.
				break
			}
		}
		sp.flush()
	}
	if s.master != nil {
		wg.Add(1)
		go copyStream(s.master, "stdout", shimproto.Stdout)
	} else {
		wg.Add(2)
		go copyStream(outR, "stdout", shimproto.Stdout)
		go copyStream(errR, "stderr", shimproto.Stderr)
	}
	go func() {
		wg.Wait()
		close(s.outputDone)
	}()
}

// client is one attach connection.
type client struct {
	conn       *os.File
	out        chan []byte
	done       chan struct{}
	once       sync.Once
	wantsStdin bool
}

func (c *client) kill() {
	c.once.Do(func() {
		close(c.done)
		c.conn.Close()
	})
}

// send queues a frame without blocking: a client that falls this far behind
// is dropped instead of stalling the container's output.
func (c *client) send(f []byte) {
	select {
	case c.out <- f:
	default:
		c.kill()
	}
}

func (c *client) writeLoop() {
	for {
		select {
		case f := <-c.out:
			if _, err := c.conn.Write(f); err != nil || f[0] == shimproto.Exit {
				c.kill()
				return
			}
		case <-c.done:
			return
		}
	}
}

func (s *shim) broadcast(kind byte, p []byte) {
	s.clientsMu.Lock()
	defer s.clientsMu.Unlock()
	if len(s.clients) == 0 {
		return
	}
	f := shimproto.Encode(kind, p) // shared read-only by all clients
	for c := range s.clients {
		c.send(f)
	}
}

// closeClients sends the exit frame to every client; later clients get it
// as soon as they say hello.
func (s *shim) closeClients() {
	s.clientsMu.Lock()
	defer s.clientsMu.Unlock()
	s.clientsClosed = true
	f := shimproto.Encode(shimproto.Exit, s.exitJSON)
	for c := range s.clients {
		c.send(f)
	}
}

func (s *shim) handleAttach(conn *os.File) {
	kind, payload, err := shimproto.Read(conn)
	if err != nil || kind != shimproto.Hello {
		conn.Close()
		return
	}
	c := &client{conn: conn, out: make(chan []byte, 256), done: make(chan struct{}), wantsStdin: string(payload) == "1"}
	s.clientsMu.Lock()
	if s.clientsClosed {
		s.clientsMu.Unlock()
		conn.Write(shimproto.Encode(shimproto.Exit, s.exitJSON))
		conn.Close()
		return
	}
	s.clients[c] = struct{}{}
	s.clientsMu.Unlock()
	go c.writeLoop()

	for {
		kind, payload, err := shimproto.Read(conn)
		if err != nil {
			break
		}
		if kind == shimproto.Stdin {
			s.writeStdin(payload)
		} else if kind == shimproto.Resize {
			s.resize(string(payload))
		} else if kind == shimproto.Close {
			if !s.opt.stdinOnce {
				break // plain detach
			}
			s.closeStdinOnce(c)
		}
	}
	s.closeStdinOnce(c)
	s.clientsMu.Lock()
	delete(s.clients, c)
	s.clientsMu.Unlock()
	c.kill()
}

func (s *shim) writeStdin(p []byte) {
	if !s.opt.stdin {
		return
	}
	s.stdinMu.Lock()
	f := s.stdin
	s.stdinMu.Unlock()
	if f != nil {
		f.Write(p)
	}
}

// closeStdinOnce implements StdinOnce: the first stdin client to leave ends
// the container's stdin.
func (s *shim) closeStdinOnce(c *client) {
	if !s.opt.stdinOnce || !c.wantsStdin {
		return
	}
	s.stdinMu.Lock()
	defer s.stdinMu.Unlock()
	if s.stdinUsed {
		return
	}
	s.stdinUsed = true
	if s.master != nil {
		s.master.Write([]byte{4}) // EOT: EOF for a reader of the tty
		return
	}
	if s.stdin != nil {
		s.stdin.Close()
		s.stdin = nil
	}
}

func (s *shim) resize(arg string) error {
	f := strings.Fields(arg)
	if len(f) != 2 {
		return errors.New("resize wants: W H")
	}
	w, err1 := strconv.ParseUint(f[0], 10, 16)
	h, err2 := strconv.ParseUint(f[1], 10, 16)
	if err1 != nil || err2 != nil {
		return errors.New("resize: bad size")
	}
	if s.master == nil {
		return errors.New("resize: container has no terminal")
	}
	rc, err := s.master.SyscallConn()
	if err != nil {
		return err
	}
	var ioErr error
	err = rc.Control(func(fd uintptr) {
		ioErr = unix.IoctlSetWinsize(int(fd), unix.TIOCSWINSZ, &unix.Winsize{Col: uint16(w), Row: uint16(h)})
	})
	if err != nil {
		return err
	}
	return ioErr
}

func (s *shim) handleCtl(conn *os.File) {
	defer conn.Close()
	r := bufio.NewReaderSize(conn, 256)
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		var reply string
		switch f[0] {
		case "wait":
			// A waiter that hangs up (krilld's ctx ended) must not pin this
			// goroutine until the container exits.
			gone := make(chan struct{})
			go func() {
				r.ReadByte()
				close(gone)
			}()
			select {
			case <-s.exited:
				conn.Write([]byte("ok\n"))
			case <-gone:
			}
			return
		case "reopen":
			reply = errReply(s.log.reopen())
		case "resize":
			reply = errReply(s.resize(strings.Join(f[1:], " ")))
		case "kill":
			reply = errReply(s.signal(f[1:]))
		case "ack":
			s.ack()
			reply = "ok\n"
		default:
			reply = "error unknown request\n"
		}
		if _, err := conn.Write([]byte(reply)); err != nil {
			return
		}
	}
}

func errReply(err error) string {
	if err != nil {
		return "error " + strings.ReplaceAll(err.Error(), "\n", " ") + "\n"
	}
	return "ok\n"
}

// signal sends a signal to the container's init through the pidfd taken
// while the init was our unreaped child, so it can never reach a process
// that reused the pid. An init that is already gone is not an error: its
// exit is (or is about to be) recorded.
func (s *shim) signal(args []string) error {
	if len(args) != 1 {
		return errors.New("kill: want one signal number")
	}
	sig, err := strconv.Atoi(args[0])
	if err != nil || sig <= 0 || sig > 64 {
		return errors.New("kill: bad signal " + strconv.Quote(args[0]))
	}
	if s.initFd < 0 {
		return errors.New("kill: no pidfd for the init")
	}
	if err := unix.PidfdSendSignal(s.initFd, unix.Signal(sig), nil, 0); err != nil && err != unix.ESRCH {
		return wrap("kill", err)
	}
	return nil
}
