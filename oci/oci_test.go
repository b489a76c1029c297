package oci

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/containerd/errdefs"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"k8s.io/cri-streaming/pkg/streaming/remotecommand"
)

func TestCreateStartLogsExitCode(t *testing.T) {
	r, _ := newTestRuntime(t)
	before := time.Now()
	cid := testID(t)
	logPath, pid := run(t, r, CreateOpts{ID: cid}, []string{"sh", "-c", "echo hello; echo oops >&2; echo; printf 'no newline'; exit 3"})
	if pid <= 0 {
		t.Fatalf("pid %d", pid)
	}
	e := waitExit(t, r, cid)
	if e.Code != 3 || e.Signal != 0 {
		t.Fatalf("exit = %+v, want code 3", e)
	}
	if e.FinishedAt.Before(before) || time.Since(e.FinishedAt) > time.Minute {
		t.Fatalf("finished at %v", e.FinishedAt)
	}
	if got := r.Exited(cid); got == nil || got.Code != 3 {
		t.Fatalf("Exited = %+v", got)
	}
	lines := readLog(t, logPath)
	if got, want := strings.Join(joined(lines, "stdout"), "|"), "hello|"; got != want {
		t.Errorf("stdout lines %q, want %q", got, want)
	}
	// Output that ends without a newline is a partial line: only a real
	// newline ends a line with F (kubelet's parser adds no line break).
	if last := lines[len(lines)-1]; last.Stream != "stdout" || !last.Partial || last.Content != "no newline" {
		t.Errorf("last line %+v, want a partial stdout line \"no newline\"", last)
	}
	if got := joined(lines, "stderr"); len(got) != 1 || got[0] != "oops" {
		t.Errorf("stderr lines %q", got)
	}
	for _, l := range lines {
		if l.Time.Before(before.Add(-time.Second)) || l.Time.After(e.FinishedAt.Add(time.Second)) {
			t.Errorf("line time %v outside the container's life", l.Time)
		}
	}
}

func TestLongLineSplit(t *testing.T) {
	r, _ := newTestRuntime(t)
	id := testID(t)
	logPath, _ := run(t, r, CreateOpts{ID: id}, []string{"sh", "-c", "head -c 40000 /dev/zero | tr '\\0' a; echo; echo short"})
	if e := waitExit(t, r, id); e.Code != 0 {
		t.Fatalf("exit %+v", e)
	}
	lines := readLog(t, logPath)
	var sizes []string
	for _, l := range lines {
		tag := "F"
		if l.Partial {
			tag = "P"
		}
		sizes = append(sizes, tag+strconv.Itoa(len(l.Content)))
	}
	if got, want := strings.Join(sizes, ","), "P16384,P16384,F7232,F5"; got != want {
		t.Fatalf("chunks %s, want %s", got, want)
	}
	full := joined(lines, "stdout")
	if full[0] != strings.Repeat("a", 40000) || full[1] != "short" {
		t.Fatalf("content mangled")
	}
}

func TestTTYLogsAndResize(t *testing.T) {
	r, _ := newTestRuntime(t)
	id := testID(t)
	o := CreateOpts{ID: id, TTY: true, Stdin: true, LogPath: filepath.Join(t.TempDir(), "c.log")}
	o.Bundle = newBundle(t, r, id, []string{"sh", "-c", "sleep 0.5; tty; stty size; echo done"}, true)
	ctx := context.Background()
	if _, err := r.Create(ctx, o); err != nil {
		t.Fatal(err)
	}
	// Attach before the start, so the resize lands before `stty size` runs.
	out := &buffer{}
	resize := make(chan remotecommand.TerminalSize, 1)
	resize <- remotecommand.TerminalSize{Width: 123, Height: 45}
	attached := make(chan error, 1)
	go func() { attached <- r.Attach(ctx, id, nil, out, nil, true, resize) }()
	time.Sleep(200 * time.Millisecond)
	if err := r.Start(ctx, id); err != nil {
		t.Fatal(err)
	}
	if e := waitExit(t, r, id); e.Code != 0 {
		t.Fatalf("exit %+v", e)
	}
	if err := <-attached; err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"/dev/pts/0", "45 123", "done"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("attach output %q lacks %q", out.String(), want)
		}
	}
	lines := readLog(t, o.LogPath)
	if len(joined(lines, "stderr")) != 0 {
		t.Errorf("tty output must be logged as stdout")
	}
	got := strings.Join(joined(lines, "stdout"), "\n")
	if !strings.Contains(got, "/dev/pts/0") || !strings.Contains(got, "45 123") {
		t.Errorf("log %q", got)
	}
	if !out.closed {
		t.Errorf("Attach did not close stdout")
	}
}

func TestStdinOnceAttach(t *testing.T) {
	r, _ := newTestRuntime(t)
	id := testID(t)
	logPath, _ := run(t, r, CreateOpts{ID: id, Stdin: true, StdinOnce: true}, []string{"sh", "-c", "cat; echo bye >&2"})
	out, errOut := &buffer{}, &buffer{}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := r.Attach(ctx, id, strings.NewReader("line1\nline2\n"), out, errOut, false, nil); err != nil {
		t.Fatal(err)
	}
	// Attach stays until the exit once stdin is closed with StdinOnce.
	if out.String() != "line1\nline2\n" || errOut.String() != "bye\n" {
		t.Fatalf("stdout %q stderr %q", out.String(), errOut.String())
	}
	if e := waitExit(t, r, id); e.Code != 0 {
		t.Fatalf("exit %+v", e)
	}
	if got := strings.Join(joined(readLog(t, logPath), "stdout"), ","); got != "line1,line2" {
		t.Fatalf("log %q", got)
	}
}

func TestStdinAttachDetach(t *testing.T) {
	r, _ := newTestRuntime(t)
	id := testID(t)
	_, _ = run(t, r, CreateOpts{ID: id, Stdin: true}, []string{"sh", "-c", "while read x; do echo got $x; done"})
	ctx := context.Background()
	for i := 0; i < 2; i++ {
		// Without StdinOnce, stdin EOF detaches this client only.
		out := &buffer{}
		in, inW := io.Pipe()
		done := make(chan error, 1)
		go func() { done <- r.Attach(ctx, id, in, out, nil, false, nil) }()
		want := "got a" + strconv.Itoa(i) + "\n"
		inW.Write([]byte("a" + strconv.Itoa(i) + "\n"))
		eventually(t, "echo from the container", func() bool { return out.String() == want })
		inW.Close()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		if r.Exited(id) != nil {
			t.Fatalf("container exited after a detach")
		}
	}
	if err := r.Kill(ctx, id, syscall.SIGKILL, false); err != nil {
		t.Fatal(err)
	}
	if e := waitExit(t, r, id); e.Code != 137 || e.Signal != 9 {
		t.Fatalf("exit %+v", e)
	}
}

func sleeper(t *testing.T, r *Runtime) string {
	id := testID(t)
	run(t, r, CreateOpts{ID: id}, []string{"sleep", "1000"})
	return id
}

func TestExec(t *testing.T) {
	r, _ := newTestRuntime(t)
	id := sleeper(t, r)
	ctx := context.Background()
	proc := func(tty bool, args ...string) *specs.Process {
		return &specs.Process{Args: args, Cwd: "/", Terminal: tty, Env: []string{"PATH=/bin"}}
	}

	out, errOut := &buffer{}, &buffer{}
	code, err := r.Exec(ctx, id, proc(false, "sh", "-c", "echo out; echo err >&2; exit 7"), nil, out, errOut, nil)
	if err != nil || code != 7 {
		t.Fatalf("code %d err %v", code, err)
	}
	if out.String() != "out\n" || errOut.String() != "err\n" || !out.closed || !errOut.closed {
		t.Fatalf("stdout %q stderr %q closed %v/%v", out.String(), errOut.String(), out.closed, errOut.closed)
	}

	out = &buffer{}
	code, err = r.Exec(ctx, id, proc(false, "cat"), strings.NewReader("from stdin"), out, &buffer{}, nil)
	if err != nil || code != 0 || out.String() != "from stdin" {
		t.Fatalf("cat: code %d err %v out %q", code, err, out.String())
	}

	out = &buffer{}
	resize := make(chan remotecommand.TerminalSize, 1)
	resize <- remotecommand.TerminalSize{Width: 77, Height: 22}
	code, err = r.Exec(ctx, id, proc(true, "sh", "-c", "sleep 0.2; tty; stty size; exit 2"), nil, out, nil, resize)
	if err != nil || code != 2 {
		t.Fatalf("tty: code %d err %v", code, err)
	}
	if !strings.Contains(out.String(), "/dev/pts/") || !strings.Contains(out.String(), "22 77") {
		t.Fatalf("tty output %q", out.String())
	}

	out = &buffer{}
	code, err = r.Exec(ctx, id, proc(true, "cat"), strings.NewReader("typed\n\x04"), out, nil, nil)
	if err != nil || code != 0 || !strings.Contains(out.String(), "typed") {
		t.Fatalf("tty stdin: code %d err %v out %q", code, err, out.String())
	}

	_, err = r.Exec(ctx, id, proc(false, "/no/such/binary"), nil, &buffer{}, &buffer{}, nil)
	if err == nil || !strings.Contains(err.Error(), "no such file") {
		t.Fatalf("missing binary: err %v", err)
	}

	_, err = r.Exec(ctx, "nosuchcontainer", proc(false, "true"), nil, &buffer{}, &buffer{}, nil)
	if !errdefs.IsNotFound(err) {
		t.Fatalf("unknown container: %v", err)
	}
}

func TestExecCancelKillsProcess(t *testing.T) {
	r, _ := newTestRuntime(t)
	id := sleeper(t, r)
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := r.Exec(ctx, id, &specs.Process{Args: []string{"sleep", "77"}, Cwd: "/", Env: []string{"PATH=/bin"}}, nil, &buffer{}, &buffer{}, nil)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err %v, want deadline exceeded", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("exec returned after %v", d)
	}
	out := &buffer{}
	if _, err := r.Exec(context.Background(), id, &specs.Process{Args: []string{"ps"}, Cwd: "/", Env: []string{"PATH=/bin"}}, nil, out, &buffer{}, nil); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(out.String(), "sleep 77") {
		t.Fatalf("exec'd process survived the cancel:\n%s", out.String())
	}
}

func countFDs(t *testing.T) int {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}

func TestExecNoLeaks(t *testing.T) {
	r, _ := newTestRuntime(t)
	id := sleeper(t, r)
	ctx := context.Background()
	p := &specs.Process{Args: []string{"sh", "-c", "cat; echo x"}, Cwd: "/", Env: []string{"PATH=/bin"}}
	// One exec first, so lazily started runtime goroutines are counted.
	if _, err := r.Exec(ctx, id, p, strings.NewReader("y"), &buffer{}, &buffer{}, nil); err != nil {
		t.Fatal(err)
	}
	g0, fd0 := runtime.NumGoroutine(), countFDs(t)
	for i := 0; i < 200; i++ {
		out := &buffer{}
		code, err := r.Exec(ctx, id, p, strings.NewReader("y"), out, &buffer{}, nil)
		if err != nil || code != 0 || out.String() != "yx\n" {
			t.Fatalf("exec %d: code %d err %v out %q", i, code, err, out.String())
		}
	}
	time.Sleep(100 * time.Millisecond)
	g1, fd1 := runtime.NumGoroutine(), countFDs(t)
	t.Logf("goroutines %d -> %d, fds %d -> %d", g0, g1, fd0, fd1)
	if g1 > g0 || fd1 > fd0 {
		t.Fatalf("leak after 200 execs: goroutines %d -> %d, fds %d -> %d", g0, g1, fd0, fd1)
	}
	ents, _ := os.ReadDir(r.cfg.ShimDir)
	if len(ents) != 1 {
		t.Fatalf("exec temp dirs left behind: %v", ents)
	}
}

func TestReopenLog(t *testing.T) {
	r, _ := newTestRuntime(t)
	id := testID(t)
	logPath, _ := run(t, r, CreateOpts{ID: id}, []string{"sh", "-c", "i=0; while true; do echo line $i; i=$((i+1)); sleep 0.05; done"})
	eventually(t, "first lines", func() bool { return len(readLog(t, logPath)) >= 3 })
	if err := os.Rename(logPath, logPath+".1"); err != nil {
		t.Fatal(err)
	}
	if err := r.ReopenLog(context.Background(), id); err != nil {
		t.Fatal(err)
	}
	eventually(t, "lines in the new file", func() bool {
		_, err := os.Stat(logPath)
		return err == nil && len(readLog(t, logPath)) >= 3
	})
	old, cur := joined(readLog(t, logPath+".1"), "stdout"), joined(readLog(t, logPath), "stdout")
	// No line lost or duplicated across the rotation.
	n := func(s string) int { v, _ := strconv.Atoi(strings.TrimPrefix(s, "line ")); return v }
	if n(cur[0]) != n(old[len(old)-1])+1 {
		t.Fatalf("rotation gap: old ends %q, new starts %q", old[len(old)-1], cur[0])
	}
}

func TestKillWait(t *testing.T) {
	r, _ := newTestRuntime(t)
	id := sleeper(t, r)
	if r.Exited(id) != nil {
		t.Fatal("running container reported exited")
	}
	ctx := context.Background()
	wctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	if _, err := r.Wait(wctx, id); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("wait on a running container: %v", err)
	}
	cancel()
	if err := r.Kill(ctx, id, syscall.SIGKILL, true); err != nil {
		t.Fatal(err)
	}
	e := waitExit(t, r, id)
	if e.Code != 137 || e.Signal != int(syscall.SIGKILL) {
		t.Fatalf("exit %+v", e)
	}
	if err := r.Kill(ctx, id, syscall.SIGKILL, false); !errdefs.IsFailedPrecondition(err) && !errdefs.IsNotFound(err) {
		t.Fatalf("kill of an exited container: %v", err)
	}
}

// TestRestart plays a krilld restart: a second Runtime over the same
// directories, with no memory of the first, waits on a container still
// running and on one that exited while "krilld was down".
func TestRestart(t *testing.T) {
	r1, cfg := newTestRuntime(t)
	running := testID(t)
	logPath, runningPid := run(t, r1, CreateOpts{ID: running}, []string{"sh", "-c", "while true; do echo tick; sleep 0.05; done"})
	quick := testID(t)
	run(t, r1, CreateOpts{ID: quick}, []string{"sh", "-c", "sleep 0.2; exit 5"})
	r1 = nil // krilld is "down": nothing on our side refers to the containers

	// Logs keep flowing and the quick container's exit is recorded with no
	// krilld-side object.
	n0 := len(readLog(t, logPath))
	eventually(t, "exit file", func() bool {
		_, err := os.Stat(filepath.Join(cfg.ShimDir, quick, "exit"))
		return err == nil
	})
	eventually(t, "log growing", func() bool { return len(readLog(t, logPath)) > n0+5 })

	r2, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if e := waitExit(t, r2, quick); e.Code != 5 {
		t.Fatalf("quick exit %+v", e)
	}
	// Wait acknowledged the exit: the shim goes, the answer stays.
	eventually(t, "quick shim to exit", func() bool { _, alive := shimPid(r2.shimDir(quick)); return !alive })
	if e := r2.Exited(quick); e == nil || e.Code != 5 {
		t.Fatalf("Exited after the shim left: %+v", e)
	}
	if r2.Exited(running) != nil {
		t.Fatal("running container reported exited")
	}
	if pid, err := r2.Pid(running); err != nil || pid != runningPid {
		t.Fatalf("Pid after restart = %d, %v; want %d", pid, err, runningPid)
	}
	if _, err := r2.Pid("nosuchcontainer"); !errdefs.IsNotFound(err) {
		t.Fatalf("Pid of unknown: %v", err)
	}
	waited := make(chan *Exit, 1)
	go func() {
		e, _ := r2.Wait(context.Background(), running)
		waited <- e
	}()
	time.Sleep(100 * time.Millisecond)
	if err := r2.Kill(context.Background(), running, syscall.SIGTERM, false); err != nil {
		t.Fatal(err)
	}
	// sh as pid 1 ignores SIGTERM; SIGKILL is never ignored.
	time.Sleep(100 * time.Millisecond)
	if err := r2.Kill(context.Background(), running, syscall.SIGKILL, false); err != nil {
		t.Fatal(err)
	}
	select {
	case e := <-waited:
		if e == nil || e.Code != 137 {
			t.Fatalf("running exit %+v", e)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("Wait did not return")
	}
}

func TestDeleteAndNotFound(t *testing.T) {
	r, cfg := newTestRuntime(t)
	ctx := context.Background()
	id := sleeper(t, r)
	pid, alive := shimPid(r.shimDir(id))
	if !alive {
		t.Fatal("no shim")
	}
	if err := r.Delete(ctx, id); err != nil {
		t.Fatal(err)
	}
	if err := r.Delete(ctx, id); err != nil {
		t.Fatalf("second delete: %v", err)
	}
	if _, err := os.Stat(filepath.Join(cfg.ShimDir, id)); !os.IsNotExist(err) {
		t.Fatalf("shim dir left: %v", err)
	}
	if _, _, ok := procStat(pid); ok {
		if st, _, _ := procStat(pid); st != "Z" {
			t.Fatalf("shim %d still running after delete", pid)
		}
	}

	const unknown = "nosuchcontainer"
	checks := map[string]error{
		"start":  r.Start(ctx, unknown),
		"kill":   r.Kill(ctx, unknown, syscall.SIGTERM, false),
		"update": r.Update(ctx, unknown, &specs.LinuxResources{}),
		"reopen": r.ReopenLog(ctx, unknown),
		"attach": r.Attach(ctx, unknown, nil, &buffer{}, &buffer{}, false, nil),
	}
	_, checks["wait"] = r.Wait(ctx, unknown)
	for op, err := range checks {
		if !errdefs.IsNotFound(err) {
			t.Errorf("%s on an unknown container: %v, want NotFound", op, err)
		}
	}
	if r.Exited(unknown) != nil {
		t.Errorf("Exited of an unknown container is not nil")
	}
	if err := r.Delete(ctx, unknown); err != nil {
		t.Errorf("delete unknown: %v", err)
	}
	if err := r.Start(ctx, "../etc"); !errdefs.IsInvalidArgument(err) {
		t.Errorf("bad id: %v", err)
	}
}

func TestCreateErrorHasRuncMessage(t *testing.T) {
	r, cfg := newTestRuntime(t)
	id := testID(t)
	bundle := newBundle(t, r, id, []string{"/no/such/binary"}, false)
	_, err := r.Create(context.Background(), CreateOpts{ID: id, Bundle: bundle})
	if err == nil || !strings.Contains(err.Error(), "/no/such/binary") {
		t.Fatalf("err %v, want runc's message about the binary", err)
	}
	t.Logf("create error: %v", err)
	if _, serr := os.Stat(filepath.Join(cfg.ShimDir, id)); !os.IsNotExist(serr) {
		t.Fatalf("shim dir left after a failed create")
	}
	if _, err := r.Create(context.Background(), CreateOpts{ID: id, Bundle: t.TempDir()}); err == nil {
		t.Fatal("create with an empty bundle succeeded")
	}
}

func TestCreateDuplicate(t *testing.T) {
	r, _ := newTestRuntime(t)
	id := sleeper(t, r)
	_, err := r.Create(context.Background(), CreateOpts{ID: id, Bundle: t.TempDir()})
	if !errdefs.IsAlreadyExists(err) {
		t.Fatalf("duplicate create: %v", err)
	}
	if r.Exited(id) != nil {
		t.Fatal("a failed duplicate create disturbed the running container")
	}
}

func TestRunDetached(t *testing.T) {
	r, _ := newTestRuntime(t)
	id := testID(t)
	bundle := newBundle(t, r, id, []string{"sleep", "1000"}, false)
	ctx := context.Background()
	pid, err := r.RunDetached(ctx, id, bundle)
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(pid, 0); err != nil {
		t.Fatalf("pause pid %d: %v", pid, err)
	}
	if r.Exited(id) != nil {
		t.Fatal("running pause container reported exited")
	}
	if err := r.Kill(ctx, id, syscall.SIGKILL, false); err != nil {
		t.Fatal(err)
	}
	if e := waitExit(t, r, id); e == nil {
		t.Fatal("no exit")
	}
	if r.Exited(id) == nil {
		t.Fatal("Exited nil after the pause container died")
	}
	if err := r.Delete(ctx, id); err != nil {
		t.Fatal(err)
	}
	// The id is free again, and nothing of the old container's exit sticks.
	if _, err := r.RunDetached(ctx, id, bundle); err != nil {
		t.Fatal(err)
	}
	if r.Exited(id) != nil {
		t.Fatal("re-run pause container reported exited")
	}
	if _, err := r.RunDetached(ctx, id, bundle); !errdefs.IsAlreadyExists(err) {
		t.Fatalf("second run with the same id: %v", err)
	}
	bad := testID(t)
	_, err = r.RunDetached(ctx, bad, t.TempDir())
	if err == nil || !strings.Contains(err.Error(), "config.json") {
		t.Fatalf("run with an empty bundle: %v, want runc's complaint about config.json", err)
	}
	if _, serr := os.Stat(r.shimDir(bad)); !os.IsNotExist(serr) {
		t.Fatal("failed run left its directory")
	}
}

func TestUpdate(t *testing.T) {
	r, _ := newTestRuntime(t)
	id := sleeper(t, r)
	limit := int64(64 << 20)
	if err := r.Update(context.Background(), id, &specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: &limit}}); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join("/sys/fs/cgroup/memory", cgroupParent, id, "memory.limit_in_bytes"))
	if err != nil {
		t.Fatal(err)
	}
	if strings.TrimSpace(string(b)) != strconv.FormatInt(limit, 10) {
		t.Fatalf("memory limit %s", b)
	}
}

// BenchmarkShimRSS reports a shim's memory (VmRSS, and PSS which shares the
// binary's pages between shims) for two containers, one pod's worth, after
// each logged 20000 lines.
func BenchmarkShimRSS(b *testing.B) {
	// Let the shims' periodic trim run once before measuring (default 30s).
	b.Setenv("KRILL_SHIM_TRIM_INTERVAL", "1s")
	r, _ := newTestRuntime(b)
	var ids []string
	for i := 0; i < 2; i++ {
		id := testID(b)
		logPath := filepath.Join(b.TempDir(), "c.log")
		// Some output first, so the log path has been exercised.
		run(b, r, CreateOpts{ID: id, LogPath: logPath, Stdin: i == 0}, []string{"sh", "-c", "seq 1 20000; sleep 1000"})
		ids = append(ids, id)
	}
	time.Sleep(2500 * time.Millisecond)
	b.ResetTimer()
	var rss, pss float64
	for i := 0; i < b.N; i++ {
		rss, pss = 0, 0
		for _, id := range ids {
			pid, alive := shimPid(r.shimDir(id))
			if !alive {
				b.Fatal("shim gone")
			}
			rss += float64(procKB(b, pid, "status", "VmRSS:"))
			pss += float64(procKB(b, pid, "smaps_rollup", "Pss:"))
		}
	}
	b.ReportMetric(rss/2, "rss-KB/shim")
	b.ReportMetric(pss/2, "pss-KB/shim")
}

func procKB(b *testing.B, pid int, file, key string) int {
	data, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), file))
	if err != nil {
		b.Fatal(err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(line, key) {
			v, _ := strconv.Atoi(strings.Fields(line)[1])
			return v
		}
	}
	b.Fatalf("%s not in %s", key, file)
	return 0
}

func BenchmarkExecTrue(b *testing.B) {
	r, _ := newTestRuntime(b)
	id := testID(b)
	run(b, r, CreateOpts{ID: id}, []string{"sleep", "1000"})
	p := &specs.Process{Args: []string{"true"}, Cwd: "/", Env: []string{"PATH=/bin"}}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if code, err := r.Exec(context.Background(), id, p, nil, &buffer{}, &buffer{}, nil); err != nil || code != 0 {
			b.Fatal(code, err)
		}
	}
}

// TestSurvivesKrilldKill creates a container from a separate "krilld"
// process, SIGKILLs that process, and checks the container keeps running and
// logging, and that a new Runtime can still stop it and get its exit code.
func TestSurvivesKrilldKill(t *testing.T) {
	_, cfg := newTestRuntime(t)
	r, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	id := testID(t)
	o := CreateOpts{ID: id, LogPath: filepath.Join(t.TempDir(), "c.log")}
	o.Bundle = newBundle(t, r, id, []string{"sh", "-c", "trap 'exit 42' TERM; while true; do echo tick; sleep 0.05; done"}, false)
	arg, _ := json.Marshal(struct {
		Cfg  Config
		Opts CreateOpts
	}{cfg, o})
	helper := exec.Command(os.Args[0], "-test.run=^$")
	helper.Env = append(os.Environ(), fakeKrilldEnv+"="+string(arg))
	stdout, err := helper.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := helper.Start(); err != nil {
		t.Fatal(err)
	}
	line, _ := bufio.NewReader(stdout).ReadString('\n')
	if line != "started\n" {
		helper.Process.Kill()
		helper.Wait()
		t.Fatalf("fake krilld: %q", line)
	}
	helper.Process.Signal(syscall.SIGKILL)
	helper.Wait() // returns only if nothing (the shim) holds the helper's stdout

	n0 := len(readLog(t, o.LogPath))
	eventually(t, "logs after krilld died", func() bool { return len(readLog(t, o.LogPath)) > n0+5 })
	if _, alive := shimPid(r.shimDir(id)); !alive {
		t.Fatal("shim died with krilld")
	}
	if r.Exited(id) != nil {
		t.Fatal("container exited with krilld")
	}
	if err := r.Kill(context.Background(), id, syscall.SIGTERM, false); err != nil {
		t.Fatal(err)
	}
	if e := waitExit(t, r, id); e.Code != 42 {
		t.Fatalf("exit %+v", e)
	}
}

// BenchmarkExecRuncFloor is plain go-runc Exec of /bin/true, for comparison
// with BenchmarkExecTrue (what Exec adds on top of runc).
func BenchmarkExecRuncFloor(b *testing.B) {
	r, _ := newTestRuntime(b)
	id := testID(b)
	run(b, r, CreateOpts{ID: id}, []string{"sleep", "1000"})
	p := specs.Process{Args: []string{"true"}, Cwd: "/", Env: []string{"PATH=/bin"}}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := r.runc.Exec(context.Background(), id, p, nil); err != nil {
			b.Fatal(err)
		}
	}
}

func TestErrorClasses(t *testing.T) {
	r, _ := newTestRuntime(t)
	id := testID(t)
	run(t, r, CreateOpts{ID: id}, []string{"true"})
	waitExit(t, r, id)
	ctx := context.Background()
	p := &specs.Process{Args: []string{"true"}, Cwd: "/", Env: []string{"PATH=/bin"}}
	_, execErr := r.Exec(ctx, id, p, nil, &buffer{}, &buffer{}, nil)
	for op, err := range map[string]error{
		"exec":   execErr,
		"kill":   r.Kill(ctx, id, syscall.SIGKILL, false),
		"start":  r.Start(ctx, id),
		"update": r.Update(ctx, id, &specs.LinuxResources{}),
		"reopen": r.ReopenLog(ctx, id),
	} {
		if !errdefs.IsFailedPrecondition(err) {
			t.Errorf("%s on an exited container: %v, want FailedPrecondition", op, err)
		}
		if err != nil && strings.Contains(err.Error(), "level=") {
			t.Errorf("%s: raw runc log text in %q", op, err)
		}
	}
	if err := r.Attach(ctx, id, nil, &buffer{}, &buffer{}, false, nil); err != nil {
		t.Errorf("attach to an exited container: %v", err)
	}
}

func TestRuncMessage(t *testing.T) {
	for in, want := range map[string]string{
		`/usr/sbin/runc did not terminate successfully: exit status 1: time="2026-11-26T06:24:03Z" level=error msg="container not running"`: "container not running",
		`exit status 1: time="x" level=warning msg="w"` + "\n" + `time="x" level=error msg="say \"hi\""`:                                    `say "hi"`,
		"  plain text\n": "plain text",
	} {
		if got := runcMessage(in); got != want {
			t.Errorf("runcMessage(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestCreateCancelledLeavesNothing: a caller that gives up while `runc
// create` is still running gets its deadline error, and nothing is left
// once runc finishes: Create waits for runc, then deletes what it made.
// runc is wrapped to take 1 s over create; the caller waits 150 ms.
func TestCreateCancelledLeavesNothing(t *testing.T) {
	_, cfg := newTestRuntime(t)
	slow := filepath.Join(t.TempDir(), "slow-runc")
	script := "#!/bin/sh\ncase \" $* \" in *\" create \"*) sleep 1;; esac\nexec /usr/sbin/runc \"$@\"\n"
	if err := os.WriteFile(slow, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	cfg.RuncPath = slow
	r, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	id := testID(t)
	bundle := newBundle(t, r, id, []string{"sleep", "60"}, false)
	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Millisecond)
	defer cancel()
	_, err = r.Create(ctx, CreateOpts{ID: id, Bundle: bundle, LogPath: filepath.Join(t.TempDir(), "c.log")})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("create: %v, want DeadlineExceeded", err)
	}
	// Had runc been abandoned, it would finish what it started meanwhile.
	time.Sleep(time.Second)
	if r.known(id) {
		t.Error("runc still knows the container after the cancelled create")
	}
	if _, err := os.Stat(filepath.Join(cfg.ShimDir, id)); !os.IsNotExist(err) {
		t.Errorf("shim dir left: %v", err)
	}
	if _, err := os.Stat(filepath.Join("/sys/fs/cgroup/memory", cgroupParent, id)); !os.IsNotExist(err) {
		t.Errorf("container cgroup left: %v", err)
	}
}

// TestExecDrainsThenAnswers: a process that exits while a child it left in
// the background holds its stdout makes Exec wait at most ExecDrain for the
// output (runc itself waits for it), then answer with the output so far and
// an error saying the output was held (DeadlineExceeded); the child is left
// running.
// This is the path of both ExecSync and streaming exec.
func TestExecDrainsThenAnswers(t *testing.T) {
	r, _ := newTestRuntime(t)
	r.cfg.ExecDrain = 300 * time.Millisecond
	id := sleeper(t, r)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for _, tty := range []bool{false, true} {
		out := &buffer{}
		p := &specs.Process{Args: []string{"sh", "-c", "echo before; sleep 365d & exit 3"}, Cwd: "/", Env: []string{"PATH=/bin"}, Terminal: tty}
		code, err := r.Exec(ctx, id, p, nil, out, &buffer{}, nil)
		if ctx.Err() != nil {
			t.Fatalf("tty %v: Exec waited for the background child until the caller gave up", tty)
		}
		switch {
		case tty && (err != nil || code != 3):
			// runc does not wait for a terminal's output: nothing is held.
			t.Fatalf("tty: code %d err %v, want 3", code, err)
		case !tty && (!errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "held open")):
			t.Fatalf("code %d err %v; want an error naming the held output", code, err)
		}
		if !strings.Contains(out.String(), "before") {
			t.Errorf("tty %v: output %q lost what came before the drain bound", tty, out.String())
		}
	}
	// Left alone: the child of the non-terminal exec still runs (the
	// terminal one got the hangup of its session, as in any shell).
	out := &buffer{}
	if _, err := r.Exec(ctx, id, &specs.Process{Args: []string{"sh", "-c", "ps -o args | grep -c '^sleep 365d'"}, Cwd: "/", Env: []string{"PATH=/bin"}}, nil, out, &buffer{}, nil); err != nil {
		t.Fatal(err)
	}
	if strings.TrimSpace(out.String()) == "0" {
		t.Errorf("background child killed: %q sleep 365d running", out.String())
	}
}
