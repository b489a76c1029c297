package main

import (
	"bytes"
	"io"
	"os"
	"sync"
	"time"
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
	path string
	f    *os.File // nil when path is "" or the file could not be reopened
	buf  []byte   // reused for each line to keep the shim allocation-free
	now  func() time.Time
}

func openCRILog(path string) (*criLog, error) {
	l := &criLog{path: path, now: time.Now}
	if path == "" {
		return l, nil
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o640)
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
	f, err := os.OpenFile(l.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o640)
	if err != nil {
		return err
	}
	l.f = f
	return nil
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
