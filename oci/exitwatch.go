package oci

import (
	"errors"
	"os"

	"golang.org/x/sys/unix"
)

// exitWatch tells when an exec'd process has exited, before runc, its
// parent, returns (runc waits for the process's output first). It finds the
// process through runc's pid file and watches it through a pidfd, which
// works for a process that is not krilld's child.
type exitWatch struct {
	exited       chan struct{} // closed once the process has exited
	done         chan struct{} // closed when the watching goroutine ends
	stopR, stopW *os.File      // closing stopW wakes the goroutine's poll
}

func watchExit(pidFile string) (*exitWatch, error) {
	stopR, stopW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	w := &exitWatch{exited: make(chan struct{}), done: make(chan struct{}), stopR: stopR, stopW: stopW}
	go w.run(pidFile)
	return w, nil
}

// stop ends the watch and waits for its goroutine.
func (w *exitWatch) stop() {
	w.stopW.Close()
	<-w.done
	w.stopR.Close()
}

func (w *exitWatch) run(pidFile string) {
	defer close(w.done)
	pid, err := readPidFile(pidFile)
	for err != nil { // runc writes it once the process runs
		if w.poll(-1, 20) {
			return
		}
		pid, err = readPidFile(pidFile)
	}
	// runc still waits for the process, so its pid cannot be reused yet.
	fd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		if errors.Is(err, unix.ESRCH) {
			close(w.exited)
		}
		return
	}
	defer unix.Close(fd)
	if !w.poll(fd, -1) {
		close(w.exited)
	}
}

// poll waits for fd (none when -1) to become readable, or timeoutMs (-1:
// no timeout); it returns true when the watch was stopped instead.
func (w *exitWatch) poll(fd, timeoutMs int) bool {
	fds := []unix.PollFd{{Fd: int32(w.stopR.Fd()), Events: unix.POLLIN}}
	if fd >= 0 {
		fds = append(fds, unix.PollFd{Fd: int32(fd), Events: unix.POLLIN})
	}
	for {
		_, err := unix.Poll(fds, timeoutMs)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		return err != nil || fds[0].Revents != 0
	}
}
