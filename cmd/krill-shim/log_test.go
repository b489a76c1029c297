package main

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/krill-runtime/krill/oci/shimproto"
)

func TestLineSplitter(t *testing.T) {
	long := strings.Repeat("x", maxLogLine)
	tests := []struct {
		name   string
		chunks []string
		want   []string // "<stream> <P|F> <content>"
	}{
		{"one line", []string{"hello\n"}, []string{"stdout F hello"}},
		{"two lines one chunk", []string{"a\nb\n"}, []string{"stdout F a", "stdout F b"}},
		{"line across chunks", []string{"he", "llo", "\n"}, []string{"stdout F hello"}},
		{"empty line", []string{"\n"}, []string{"stdout F "}},
		{"tail flushed at EOF is partial", []string{"a\nno newline"}, []string{"stdout F a", "stdout P no newline"}},
		{"only a tail", []string{"x"}, []string{"stdout P x"}},
		{"exactly max is one F line", []string{long + "\n"}, []string{"stdout F " + long}},
		{"exactly max across chunks", []string{long[:100], long[100:], "\n"}, []string{"stdout F " + long}},
		{"max+1 in one chunk", []string{long + "y\n"}, []string{"stdout P " + long, "stdout F y"}},
		{"max+1 across chunks", []string{long, "y", "\n"}, []string{"stdout P " + long, "stdout F y"}},
		{"two and a half max", []string{long + long + "zz\n"}, []string{"stdout P " + long, "stdout P " + long, "stdout F zz"}},
		{"long tail at EOF", []string{long + "q"}, []string{"stdout P " + long, "stdout P q"}},
		{"exactly max tail at EOF", []string{long}, []string{"stdout P " + long}},
		{"carriage return kept", []string{"tty\r\n"}, []string{"stdout F tty\r"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "log")
			l, err := openCRILog("", path)
			if err != nil {
				t.Fatal(err)
			}
			fixed := time.Date(2026, 11, 26, 6, 0, 0, 123456789, time.UTC)
			l.now = func() time.Time { return fixed }
			sp := &lineSplitter{log: l, stream: "stdout"}
			for _, c := range tc.chunks {
				sp.Write([]byte(c))
			}
			sp.flush()
			l.close()
			b, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, line := range strings.SplitAfter(string(b), "\n") {
				if line == "" {
					continue
				}
				ts, rest, ok := strings.Cut(strings.TrimSuffix(line, "\n"), " ")
				if !ok || ts != "2026-11-26T06:00:00.123456789Z" {
					t.Fatalf("bad line %q", line)
				}
				got = append(got, rest)
			}
			if strings.Join(got, "|") != strings.Join(tc.want, "|") {
				t.Fatalf("got %d lines %q\nwant %d lines %q", len(got), short(got), len(tc.want), short(tc.want))
			}
		})
	}
}

func short(lines []string) []string {
	out := make([]string, len(lines))
	for i, l := range lines {
		if len(l) > 40 {
			l = l[:20] + "..." + l[len(l)-10:]
		}
		out[i] = l
	}
	return out
}

func TestReopen(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "log")
	l, err := openCRILog("", path)
	if err != nil {
		t.Fatal(err)
	}
	l.writeLine("stderr", false, []byte("before"))
	os.Rename(path, path+".1")
	if err := l.reopen(); err != nil {
		t.Fatal(err)
	}
	l.writeLine("stderr", false, []byte("after"))
	l.close()
	old, _ := os.ReadFile(path + ".1")
	cur, _ := os.ReadFile(path)
	if !strings.HasSuffix(string(old), " stderr F before\n") || !strings.HasSuffix(string(cur), " stderr F after\n") {
		t.Fatalf("old %q new %q", old, cur)
	}
	// No log path: output is discarded, reopen is a no-op.
	l, _ = openCRILog("", "")
	l.writeLine("stdout", false, []byte("x"))
	if err := l.reopen(); err != nil {
		t.Fatal(err)
	}
}

func TestParseArgs(t *testing.T) {
	o, err := parseArgs([]string{"-id", "c1", "-bundle", "/b", "-dir", "/d", "-tty", "-stdin", "-linger", "3s", "-log", ""})
	if err != nil {
		t.Fatal(err)
	}
	if o.id != "c1" || o.bundle != "/b" || o.dir != "/d" || !o.tty || !o.stdin || o.stdinOnce || o.linger != 3*time.Second || o.logPath != "" || o.runc != "runc" {
		t.Fatalf("%+v", o)
	}
	if o.systemdCgroup {
		t.Fatal("-systemd-cgroup not given but set")
	}
	if o, err = parseArgs([]string{"-id", "c1", "-systemd-cgroup"}); err != nil || !o.systemdCgroup {
		t.Fatalf("-systemd-cgroup: %+v, %v", o, err)
	}
	for _, bad := range [][]string{{"-nope", "x"}, {"-id"}, {"-linger", "soon"}} {
		if _, err := parseArgs(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestFrames(t *testing.T) {
	var b strings.Builder
	b.Write(shimproto.Encode(shimproto.Stdout, []byte("hello")))
	b.Write(shimproto.Encode(shimproto.Exit, nil))
	r := strings.NewReader(b.String())
	k, p, err := shimproto.Read(r)
	if err != nil || k != shimproto.Stdout || string(p) != "hello" {
		t.Fatalf("%c %q %v", k, p, err)
	}
	k, p, err = shimproto.Read(r)
	if err != nil || k != shimproto.Exit || len(p) != 0 {
		t.Fatalf("%c %q %v", k, p, err)
	}
	if _, _, err := shimproto.Read(strings.NewReader("o\xff\xff\xff\xff")); err == nil {
		t.Fatal("oversized frame accepted")
	}
}

func TestStatStartTime(t *testing.T) {
	stat := "123 (a) b (c)) S 1 123 123 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 98765 1000 100"
	if got := statStartTime(stat); got != "98765" {
		t.Fatalf("got %q", got)
	}
}

// TestLogFileRefusesSymlinks: below the pod's log directory, neither a
// symlinked directory nor a symlinked file is followed (the shim runs as
// root and would append to, or create, any file on the host), missing
// directories are created, and a FIFO is refused without blocking.
func TestLogFileRefusesSymlinks(t *testing.T) {
	root, outside := t.TempDir(), t.TempDir()
	victim := filepath.Join(outside, "victim")
	if err := os.WriteFile(victim, []byte("keep\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(root, "dirlink")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(victim, filepath.Join(root, "filelink.log")); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(filepath.Join(root, "fifo.log"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, rel := range []string{"dirlink/victim", "dirlink/new.log", "filelink.log", "fifo.log", "../escape.log"} {
		if l, err := openCRILog(root, filepath.Join(root, rel)); err == nil {
			l.close()
			t.Errorf("log path %s opened", rel)
		}
	}
	if b, _ := os.ReadFile(victim); string(b) != "keep\n" {
		t.Fatalf("file behind the symlink changed: %q", b)
	}
	if _, err := os.Stat(filepath.Join(outside, "new.log")); !os.IsNotExist(err) {
		t.Fatalf("file created through the symlinked directory: %v", err)
	}
	// Control: a plain path, with directories to create, works.
	l, err := openCRILog(root, filepath.Join(root, "c", "0.log"))
	if err != nil {
		t.Fatal(err)
	}
	l.writeLine("stdout", false, []byte("ok"))
	l.close()
	if b, _ := os.ReadFile(filepath.Join(root, "c", "0.log")); !strings.HasSuffix(string(b), " stdout F ok\n") {
		t.Fatalf("log = %q", b)
	}
}
