package main

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// maxLogLine is the longest content a single CRI log line carries; longer
// lines are split into partial ("P") chunks, like containerd and CRI-O do,
// so the kubelet's reader never has to hold an unbounded line.
const maxLogLine = 16 * 1024

// criLog writes CRI-format lines to the container's log file. Both streams
// share it; the mutex keeps a line in one write(2) and lets reopen swap the
// file between lines.
type criLog struct {
	mu   sync.Mutex
	root string // trusted directory path lies below ("" = path is trusted)
	path string
	f    *os.File // nil when path is "" or the file could not be reopened
	buf  []byte   // reused for each line to keep the shim allocation-free
	now  func() time.Time
}

func openCRILog(root, path string) (*criLog, error) {
	l := &criLog{root: root, path: path, now: time.Now}
	if path == "" {
		return l, nil
	}
	f, err := openLogFile(root, path)
	if err != nil {
		return nil, err
	}
	l.f = f
	return l, nil
}

// reopen closes and reopens the log path: the kubelet renames the file when
// it rotates logs and then asks for a reopen, so new lines go to a new file.
func (l *criLog) reopen() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.path == "" {
		return nil
	}
	if l.f != nil {
		l.f.Close()
		l.f = nil
	}
	f, err := openLogFile(l.root, l.path)
	if err != nil {
		return err
	}
	l.f = f
	return nil
}

// openLogFile opens (creating it and its directories) the log file path,
// which lies below root. The pod's log directory (root) is the kubelet's
// and trusted; what is below it comes from a pod spec, so it is walked one
// component at a time without following any symlink: a log path through a
// symlink would make the shim, as root, append to any file on the host.
func openLogFile(root, path string) (*os.File, error) {
	const flags = unix.O_WRONLY | unix.O_APPEND | unix.O_CREAT | unix.O_NOFOLLOW | unix.O_NONBLOCK | unix.O_NOCTTY | unix.O_CLOEXEC
	if root == "" {
		return os.OpenFile(path, flags, 0o640)
	}
	rel, err := filepath.Rel(root, path)
	if err != nil || !filepath.IsLocal(rel) {
		return nil, errors.New("log path " + path + " is not below " + root)
	}
	dir, err := unix.Open(root, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: root, Err: err}
	}
	parts := strings.Split(rel, "/")
	for _, part := range parts[:len(parts)-1] {
		if err := unix.Mkdirat(dir, part, 0o755); err != nil && err != unix.EEXIST {
			unix.Close(dir)
			return nil, &os.PathError{Op: "mkdir", Path: path, Err: err}
		}
		next, err := unix.Openat(dir, part, unix.O_PATH|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		unix.Close(dir)
		if err != nil {
			return nil, &os.PathError{Op: "open", Path: path, Err: err}
		}
		dir = next
	}
	fd, err := unix.Openat(dir, parts[len(parts)-1], flags, 0o640)
	unix.Close(dir)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: path, Err: err}
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil || st.Mode&unix.S_IFMT != unix.S_IFREG {
		unix.Close(fd)
		return nil, errors.New("log path " + path + " is not a regular file")
	}
	return os.NewFile(uintptr(fd), path), nil
}

func (l *criLog) close() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f != nil {
		l.f.Close()
		l.f = nil
	}
}

// writeLine writes one CRI log line; content must not contain '\n'.
// Write errors are dropped on purpose: a full disk must not block or kill
// the container, and there is nobody to report them to.
func (l *criLog) writeLine(stream string, partial bool, content []byte) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f == nil {
		return
	}
	b := l.now().UTC().AppendFormat(l.buf[:0], time.RFC3339Nano)
	b = append(b, ' ')
	b = append(b, stream...)
	if partial {
		b = append(b, " P "...)
	} else {
		b = append(b, " F "...)
	}
	b = append(b, content...)
	b = append(b, '\n')
	l.f.Write(b)
	if cap(b) <= 2*maxLogLine {
		l.buf = b
	}
}

// lineSplitter turns a stream of output chunks into CRI log lines. It keeps
// the unfinished tail of the last chunk until its newline arrives, the tail
// reaches maxLogLine (written as a partial line), or the stream ends.
type lineSplitter struct {
	log    *criLog
	stream string
	pend   []byte
}

func (s *lineSplitter) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			s.addPartial(p)
			break
		}
		if len(s.pend) == 0 {
			s.emit(p[:i])
		} else {
			s.addPartial(p[:i])
			s.emit(s.pend)
			s.pend = s.pend[:0]
		}
		p = p[i+1:]
	}
	return n, nil
}

// emit writes a complete line, still splitting it if it is too long (only
// possible when it arrived in one chunk).
func (s *lineSplitter) emit(line []byte) {
	for len(line) > maxLogLine {
		s.log.writeLine(s.stream, true, line[:maxLogLine])
		line = line[maxLogLine:]
	}
	s.log.writeLine(s.stream, false, line)
}

// addPartial appends to the pending tail. A tail of exactly maxLogLine is
// kept (its newline may come next, making it a plain "F" line); anything
// beyond that goes out as "P" chunks.
func (s *lineSplitter) addPartial(p []byte) {
	s.pend = append(s.pend, p...)
	for len(s.pend) > maxLogLine {
		s.log.writeLine(s.stream, true, s.pend[:maxLogLine])
		s.pend = s.pend[:copy(s.pend, s.pend[maxLogLine:])]
	}
}

// flush writes what is left at the end of the stream. Only a newline
// ends a line, so a tail without one is a partial ("P") line: kubelet's
// reader then shows `printf 'no newline'` without inventing a line break.
func (s *lineSplitter) flush() {
	if len(s.pend) > 0 {
		s.log.writeLine(s.stream, true, s.pend)
		s.pend = s.pend[:0]
	}
}

var _ io.Writer = (*lineSplitter)(nil)
