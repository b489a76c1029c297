package main

import (
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/krill-runtime/krill/oci/shimproto"
)

type options struct {
	id, bundle, runc, root, dir, logPath, logRoot string
	stdin, stdinOnce, tty                         bool
	systemdCgroup                                 bool // runc --systemd-cgroup
	killAllOnExit                                 bool // see killall.go
	linger                                        time.Duration
}

// shim is the state of the one container this process watches.
type shim struct {
	opt options
	log *criLog

	stdinMu   sync.Mutex
	stdin     *os.File // write side of the container's stdin; the pty master with a TTY; nil if none/closed
	stdinUsed bool     // StdinOnce: a stdin client has come and gone
	master    *os.File // pty master (TTY only)

	clientsMu sync.Mutex
	clients   map[*client]struct{}
	// clientsClosed is set once the exit frame went out to every client.
	clientsClosed bool

	initPid    int
	initProcs  string        // the container's cgroup.procs, with -kill-all-on-exit
	initFd     int           // pidfd of the init, taken while it was an unreaped child; -1 if none
	initReaped bool          // only touched by reap()
	outputDone chan struct{} // closed when all output streams reached EOF
	exited     chan struct{} // closed once the exit file is written
	exitJSON   []byte
	acked      chan struct{} // closed on the first "ack"
	ackOnce    sync.Once
}

func main() {
	// The shim's memory is paid once per container: one P. krilld also
	// sets GOMAXPROCS=1 and GOGC=25 in the environment, which the runtime
	// reads before main (runtime/debug would link in fmt for SetGCPercent).
	runtime.GOMAXPROCS(1)

	o, err := parseArgs(os.Args[1:])
	if err != nil {
		os.Stderr.WriteString("krill-shim: " + err.Error() + "\n")
		os.Exit(2)
	}

	// The sync pipe must not reach runc: krilld reads it to EOF, and a
	// runtime whose container init keeps inherited fds until `start` (crun)
	// would hold it open and hang CreateContainer.
	syscall.CloseOnExec(3)
	syncPipe := os.NewFile(3, "sync")
	s := &shim{opt: o, clients: map[*client]struct{}{}, exited: make(chan struct{}), acked: make(chan struct{})}
	if err := s.create(); err != nil {
		os.Stderr.WriteString("krill-shim " + o.id + ": " + err.Error() + "\n")
		if syncPipe != nil {
			syncPipe.WriteString("error " + strings.ReplaceAll(err.Error(), "\n", " ") + "\n")
		}
		os.Exit(1)
	}
	if syncPipe != nil {
		syncPipe.WriteString("ok " + strconv.Itoa(s.initPid) + "\n")
		syncPipe.Close()
	}
	trimText()
	// From here on the goroutines do the work; finish() ends the process.
	trimLoop()
	select {}
}

// create sets up stdio, the log and the sockets, then runs `runc create`.
// Everything the shim needs afterwards exists before krilld hears "ok".
func (s *shim) create() error {
	o := s.opt
	if o.id == "" || o.bundle == "" || o.dir == "" {
		return errors.New("-id, -bundle and -dir are required")
	}
	// Signals: the shim has its own session and no controlling terminal, so
	// no SIGHUP/SIGINT reaches it by accident; SIGPIPE only matters for
	// fds 1 and 2, which are shim.log.
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		return wrap("set child subreaper", err)
	}
	if err := writePidFile(filepath.Join(o.dir, "shim.pid")); err != nil {
		return err
	}
	var err error
	if s.log, err = openCRILog(o.logRoot, o.logPath); err != nil {
		return wrap("open container log", err)
	}

	devNull, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	defer devNull.Close()

	// runc's own stdio: without a TTY, runc hands it to the container init.
	files := []*os.File{devNull, devNull, devNull}
	var outR, errR *os.File
	var console *os.File
	if o.tty {
		console, err = listenUnix(filepath.Join(o.dir, "console.sock"))
		if err != nil {
			return wrap("console socket", err)
		}
		defer os.Remove(filepath.Join(o.dir, "console.sock"))
		defer console.Close()
	} else {
		var inR, outW, errW *os.File
		if o.stdin {
			if inR, s.stdin, err = os.Pipe(); err != nil {
				return err
			}
			files[0] = inR
		}
		if outR, outW, err = os.Pipe(); err != nil {
			return err
		}
		if errR, errW, err = os.Pipe(); err != nil {
			return err
		}
		files[1], files[2] = outW, errW
		// The container keeps its ends; ours must go or we never see EOF.
		defer func() {
			for _, f := range []*os.File{inR, outW, errW} {
				if f != nil {
					f.Close()
				}
			}
		}()
	}

	ctl, err := listenUnix(filepath.Join(o.dir, "ctl.sock"))
	if err != nil {
		return wrap("ctl socket", err)
	}
	attach, err := listenUnix(filepath.Join(o.dir, "attach.sock"))
	if err != nil {
		return wrap("attach socket", err)
	}

	masterCh := make(chan *os.File, 1)
	if console != nil {
		go func() { masterCh <- receivePtyMaster(console) }()
	}

	pidFile := filepath.Join(o.dir, "init.pid")
	args := []string{o.runc, "--log", filepath.Join(o.dir, "runc.log"), "--log-format", "json"}
	if o.root != "" {
		args = append(args, "--root", o.root)
	}
	if o.systemdCgroup {
		args = append(args, "--systemd-cgroup")
	}
	args = append(args, "create", "--bundle", o.bundle, "--pid-file", pidFile)
	if console != nil {
		args = append(args, "--console-socket", filepath.Join(o.dir, "console.sock"))
	}
	args = append(args, o.id)
	if err := runAndWait(o.runc, args, files); err != nil {
		return wrap("runc create", err)
	}
	b, err := os.ReadFile(pidFile)
	if err != nil {
		return wrap("runc create: read pid file", err)
	}
	if s.initPid, err = strconv.Atoi(strings.TrimSpace(string(b))); err != nil {
		return errors.New("runc create: bad pid file " + strconv.Quote(string(b)))
	}
	if o.killAllOnExit {
		s.initProcs = containerCgroupProcs(s.initPid, o.id)
	}
	// runc has exited, so the init is our (unreaped) child now: a pidfd
	// taken here names it for good, whatever reuses its pid later.
	if s.initFd, err = unix.PidfdOpen(s.initPid, unix.PIDFD_NONBLOCK); err != nil {
		s.initFd = -1
	}

	if console != nil {
		select {
		case s.master = <-masterCh:
		case <-time.After(10 * time.Second):
		}
		if s.master == nil {
			return errors.New("runc create: no pty master received on the console socket")
		}
		s.stdin = s.master
	}

	s.startOutput(outR, errR)
	go s.reap()
	go s.serve(ctl, s.handleCtl)
	go s.serve(attach, s.handleAttach)
	return nil
}

// runAndWait runs runc synchronously. The shim is a subreaper and later
// reaps every child, so this is the only wait4 on a specific pid and it
// happens before the reaper starts.
func runAndWait(path string, args []string, files []*os.File) error {
	fds := make([]uintptr, len(files))
	for i, f := range files {
		fds[i] = f.Fd()
	}
	env := make([]string, 0, len(os.Environ()))
	for _, e := range os.Environ() {
		// NOTIFY_SOCKET makes runc talk to systemd; GO* are the shim's tuning.
		if !strings.HasPrefix(e, "NOTIFY_SOCKET=") && !strings.HasPrefix(e, "GOGC=") && !strings.HasPrefix(e, "GOMAXPROCS=") {
			env = append(env, e)
		}
	}
	pid, err := syscall.ForkExec(path, args, &syscall.ProcAttr{Env: env, Files: fds})
	if err != nil {
		return err
	}
	var ws syscall.WaitStatus
	for {
		_, err = syscall.Wait4(pid, &ws, 0, nil)
		if err != syscall.EINTR {
			break
		}
	}
	if err != nil {
		return err
	}
	if !ws.Exited() || ws.ExitStatus() != 0 {
		return errors.New("exit status " + strconv.Itoa(ws.ExitStatus()) + " (see runc.log)")
	}
	return nil
}

// receivePtyMaster accepts runc's connection on the console socket and
// takes the pty master fd it sends (SCM_RIGHTS).
func receivePtyMaster(l *os.File) *os.File {
	c, err := accept(l)
	if err != nil {
		return nil
	}
	defer c.Close()
	fd, err := recvFd(c)
	if err != nil {
		return nil
	}
	// Non-blocking, so the file is driven by Go's poller and a blocked read
	// does not hold an OS thread.
	unix.SetNonblock(fd, true)
	return os.NewFile(uintptr(fd), "pty-master")
}

func writePidFile(path string) error {
	st, err := os.ReadFile("/proc/self/stat")
	if err != nil {
		return err
	}
	start := statStartTime(string(st))
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(strconv.Itoa(os.Getpid())+" "+start+"\n"), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// statStartTime returns field 22 (starttime) of a /proc/<pid>/stat line; the
// command name (field 2) may hold spaces, so fields are counted after ')'.
func statStartTime(stat string) string {
	i := strings.LastIndexByte(stat, ')')
	if i < 0 {
		return ""
	}
	f := strings.Fields(stat[i+1:])
	if len(f) < 20 {
		return ""
	}
	return f[19]
}

// reap waits for every child. The container init is ours because we are a
// subreaper and runc create has exited; orphans re-parented to us (a
// container sharing the host pid namespace) are reaped and forgotten.
func (s *shim) reap() {
	for {
		var ws syscall.WaitStatus
		pid, err := syscall.Wait4(-1, &ws, 0, nil)
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			// ECHILD: no children left. Normally the init was reaped above;
			// if it never became our child (it should, we are a subreaper),
			// watch it through a pidfd so the exit is still recorded, with
			// the status unknown (255).
			if !s.initReaped {
				waitGone(s.initPid)
				go s.finish(255, 0, time.Now())
			}
			return
		}
		if pid != s.initPid {
			continue
		}
		s.initReaped = true
		code, sig := 0, 0
		switch {
		case ws.Exited():
			code = ws.ExitStatus()
		case ws.Signaled():
			sig = int(ws.Signal())
			code = 128 + sig
		}
		go s.finish(code, sig, time.Now())
	}
}

// finish runs once, after the init has exited: drain output, write the exit
// file, tell waiters and attach clients, then linger for krilld's ack.
func (s *shim) finish(code, sig int, at time.Time) {
	if s.initProcs != "" {
		killAll(s.initProcs)
	}
	// The output pipes reach EOF once every process holding them is gone;
	// a daemonised grandchild (host pid namespace) could keep them open
	// forever, so the exit is not held up for long.
	select {
	case <-s.outputDone:
	case <-time.After(shimproto.DrainTimeout):
	}
	s.log.close()

	s.exitJSON = []byte(`{"pid":` + strconv.Itoa(s.initPid) + `,"code":` + strconv.Itoa(code) +
		`,"signal":` + strconv.Itoa(sig) + `,"finished_at":"` + at.UTC().Format(time.RFC3339Nano) + `"}`)
	path := filepath.Join(s.opt.dir, "exit")
	if err := os.WriteFile(path+".tmp", append(s.exitJSON, '\n'), 0o644); err == nil {
		os.Rename(path+".tmp", path)
	} else {
		os.Stderr.WriteString("krill-shim " + s.opt.id + ": write exit file: " + err.Error() + "\n")
	}
	close(s.exited)
	s.closeClients()

	select {
	case <-s.acked:
	case <-time.After(s.opt.linger):
	}
	os.Remove(filepath.Join(s.opt.dir, "attach.sock"))
	os.Remove(filepath.Join(s.opt.dir, "ctl.sock"))
	os.Exit(0)
}

func (s *shim) ack() { s.ackOnce.Do(func() { close(s.acked) }) }

// serve accepts connections on a socket until the shim exits.
func (s *shim) serve(l *os.File, handle func(*os.File)) {
	for {
		c, err := accept(l)
		if err != nil {
			if err == unix.EINTR || err == unix.ECONNABORTED || err == unix.EMFILE || err == unix.ENFILE {
				time.Sleep(10 * time.Millisecond)
				continue
			}
			return
		}
		go handle(c)
	}
}

func wrap(msg string, err error) error { return errors.New(msg + ": " + err.Error()) }

// parseArgs reads the command line (see doc.go). Package flag would do, but
// it drags fmt and reflect into every shim's memory.
func parseArgs(args []string) (options, error) {
	o := options{runc: "runc", linger: time.Minute}
	strs := map[string]*string{"-id": &o.id, "-bundle": &o.bundle, "-runc": &o.runc, "-root": &o.root, "-dir": &o.dir, "-log": &o.logPath, "-log-root": &o.logRoot}
	bools := map[string]*bool{"-stdin": &o.stdin, "-stdin-once": &o.stdinOnce, "-tty": &o.tty, "-systemd-cgroup": &o.systemdCgroup, "-kill-all-on-exit": &o.killAllOnExit}
	for i := 0; i < len(args); i++ {
		a := args[i]
		if p, ok := bools[a]; ok {
			*p = true
			continue
		}
		if i+1 >= len(args) {
			return o, errors.New("flag " + a + " needs a value")
		}
		v := args[i+1]
		i++
		if p, ok := strs[a]; ok {
			*p = v
			continue
		}
		if a != "-linger" {
			return o, errors.New("unknown flag " + a)
		}
		d, err := time.ParseDuration(v)
		if err != nil {
			return o, wrap("-linger", err)
		}
		o.linger = d
	}
	return o, nil
}

// waitGone blocks until pid has exited.
func waitGone(pid int) {
	fd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		return
	}
	defer unix.Close(fd)
	for {
		fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
		if n, err := unix.Poll(fds, -1); n > 0 || (err != nil && err != unix.EINTR) {
			return
		}
	}
}
