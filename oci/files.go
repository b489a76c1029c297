package oci

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// Files in ShimDir/<id>/ (written by krill-shim, see cmd/krill-shim/doc.go).
const (
	fileShimPid = "shim.pid"
	fileInitPid = "init.pid"
	fileExit    = "exit"
	fileRuncLog = "runc.log"
	fileShimLog = "shim.log"
	sockCtl     = "ctl.sock"
	sockAttach  = "attach.sock"
)

// exitFile is the on-disk form of Exit.
type exitFile struct {
	Pid        int       `json:"pid"`
	Code       int       `json:"code"`
	Signal     int       `json:"signal"`
	FinishedAt time.Time `json:"finished_at"`
	ShimDied   bool      `json:"shim_died,omitempty"` // written by krilld only
}

// readExit returns the exit recorded in dir, or nil if there is none yet.
func readExit(dir string) (*Exit, error) {
	b, err := os.ReadFile(filepath.Join(dir, fileExit))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var f exitFile
	if err := json.Unmarshal(b, &f); err != nil {
		return nil, fmt.Errorf("exit file %s: %w", dir, err)
	}
	return &Exit{Code: f.Code, Signal: f.Signal, FinishedAt: f.FinishedAt, ShimDied: f.ShimDied}, nil
}

// writeExit records an exit krilld had to make up itself (the shim is gone),
// the same way the shim does: temp file, then rename.
func writeExit(dir string, e *Exit) error {
	b, err := json.Marshal(exitFile{Code: e.Code, Signal: e.Signal, FinishedAt: e.FinishedAt, ShimDied: e.ShimDied})
	if err != nil {
		return err
	}
	tmp := filepath.Join(dir, fileExit+".tmp")
	if err := os.WriteFile(tmp, append(b, '\n'), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, filepath.Join(dir, fileExit))
}

func readPidFile(path string) (int, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 0 {
		return 0, fmt.Errorf("bad pid file %s: %q", path, b)
	}
	return pid, nil
}

// shimPid returns the pid of the shim of dir if that shim is still running.
// shim.pid holds the pid and its start time, so a recycled pid is not
// mistaken for the shim; a zombie (exited, not yet reaped) counts as gone.
func shimPid(dir string) (int, bool) {
	b, err := os.ReadFile(filepath.Join(dir, fileShimPid))
	if err != nil {
		return 0, false
	}
	f := strings.Fields(string(b))
	if len(f) != 2 {
		return 0, false
	}
	pid, err := strconv.Atoi(f[0])
	if err != nil || pid <= 0 {
		return 0, false
	}
	state, start, ok := procStat(pid)
	if !ok || start != f[1] || state == "Z" || state == "X" {
		return 0, false
	}
	return pid, true
}

// procStat returns the state (field 3) and start time (field 22) of pid.
func procStat(pid int) (state, start string, ok bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return "", "", false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return "", "", false
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 20 {
		return "", "", false
	}
	return f[0], f[19], true
}

// waitPidExit waits until pid has exited (or became a zombie), ctx ends or
// timeout passes (0: no timeout). It reports whether the process is gone.
// pidfds make this work for processes that are not our children.
func waitPidExit(ctx context.Context, pid int, timeout time.Duration) bool {
	fd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		return errors.Is(err, unix.ESRCH)
	}
	defer unix.Close(fd)
	var deadline time.Time
	if timeout > 0 {
		deadline = time.Now().Add(timeout)
	}
	for {
		fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
		n, err := unix.Poll(fds, 100)
		if n > 0 {
			return true
		}
		if err != nil && !errors.Is(err, unix.EINTR) {
			return false
		}
		if ctx.Err() != nil || (!deadline.IsZero() && time.Now().After(deadline)) {
			return false
		}
	}
}

// runcLogErrors returns the error messages of a runc JSON log, which is
// where runc explains why create/run/exec failed.
func runcLogErrors(path string) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	var msgs []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		var e struct {
			Level string `json:"level"`
			Msg   string `json:"msg"`
		}
		if json.Unmarshal(sc.Bytes(), &e) == nil && (e.Level == "error" || e.Level == "fatal") && e.Msg != "" {
			msgs = append(msgs, e.Msg)
		}
	}
	return strings.Join(msgs, "; ")
}
