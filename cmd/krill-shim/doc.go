// Command krill-shim watches over one container, the way conmon or
// containerd-shim do. krilld (package oci) starts one per container and then
// forgets it: the shim lives in its own session, so containers keep running,
// logging and being reaped while krilld is down or restarting.
//
// It owns, for its container:
//   - the container's stdio: pipes for stdout/stderr (and stdin when asked),
//     or a pty master received on a console socket when the container has a TTY;
//   - the CRI log file: every line is written as
//     "<RFC3339Nano time> <stdout|stderr> <P|F> <content>\n"; lines longer than
//     16 KiB become "P" (partial) chunks followed by an "F" (final) chunk; only
//     a newline ends an "F" line, so output that ends without one leaves a
//     last "P" line when the stream closes; TTY output is logged as stdout;
//   - reaping: it is a child subreaper, so the container's init (and any
//     orphan reparented to it) is its child and it gets the exit status;
//   - the exit file, written atomically once the init has exited and the
//     output is flushed.
//
// It must never: import anything beyond the standard library and
// golang.org/x/sys (every running container pays for its memory), write to
// krilld through anything that outlives `create` (a pipe to a dead krilld
// would kill it with SIGPIPE), or take decisions about the container's
// lifecycle (start, kill, delete are krilld's, through runc; the one kill
// it does, -kill-all-on-exit, krilld decided at create).
//
// # Invocation
//
//	krill-shim -id ID -bundle DIR -runc PATH -root DIR -dir SHIMDIR
//	           [-log FILE [-log-root DIR]] [-stdin] [-stdin-once] [-tty] [-linger DURATION]
//	           [-systemd-cgroup] [-kill-all-on-exit]
//
// With -log-root, FILE lies below DIR (the pod's log directory) and the
// shim creates and opens it without following symlinks below DIR (log.go).
// -systemd-cgroup runs `runc --systemd-cgroup create`: the container's
// cgroupsPath is then runc's "slice:prefix:name" and systemd makes its scope.
// -kill-all-on-exit (krilld's choice for a container without a pid
// namespace of its own) SIGKILLs what is left in the container's cgroup
// once its init has exited, before the output is drained (killall.go).
//
// Environment: krilld sets GOMAXPROCS=1 and GOGC=25 (read by the Go runtime
// before main; neither is passed on to runc). KRILL_SHIM_TRIM_INTERVAL
// (default 30s, 0 = off) sets how often the shim drops the resident pages of
// its own binary (trim.go).
//
// File descriptor 3 is the sync pipe. The shim writes exactly one line to it
// and closes it: "ok <container pid>\n" once `runc create` succeeded, or
// "error <text>\n". runc runs with "--log SHIMDIR/runc.log --log-format json"
// so krilld can read runc's own error messages from that file.
//
// # Files in SHIMDIR
//
//	shim.pid     "<pid> <start time in clock ticks>" (field 22 of /proc/<pid>/stat),
//	             so krilld can tell the shim from a process that reused its pid
//	init.pid     the container init's pid (runc --pid-file)
//	runc.log     runc's JSON log
//	shim.log     the shim's own stdout/stderr
//	exit         {"pid":N,"code":N,"signal":N,"finished_at":"RFC3339Nano"},
//	             written to exit.tmp and renamed; code is 128+signal when the
//	             init was killed by a signal
//	ctl.sock     control socket (below)
//	attach.sock  attach socket (below)
//	console.sock only while `runc create` runs with a TTY
//
// # ctl.sock: one request line, one response line per request
//
//	wait            -> "ok\n" once the exit file is written (blocks until then)
//	reopen          -> "ok\n" | "error <text>\n"   reopen the CRI log (log rotation)
//	resize W H      -> "ok\n" | "error <text>\n"   TIOCSWINSZ on the pty master
//	kill SIG        -> "ok\n" | "error <text>\n"   signal the init (through a pidfd;
//	                   an init already gone is "ok")
//	ack             -> "ok\n"  krilld has seen the exit: the shim exits as soon
//	                   as the container has exited and the exit file is written
//
// A connection may carry several requests. After the exit the shim lingers
// (-linger, default one minute) until an ack arrives, then removes its sockets
// and exits.
//
// # attach.sock: framed, both ways
//
// Every frame is one kind byte, a 4-byte big-endian payload length, and the
// payload (at most 1 MiB). The client first sends a hello frame.
//
//	client -> shim  'a' hello, payload "1" if the client will send stdin, else "0"
//	                'i' stdin data
//	                'c' the client's stdin ended
//	                'r' resize, payload "W H" (decimal columns and rows)
//	shim -> client  'o' stdout data (all output when TTY)
//	                'e' stderr data
//	                'x' the container exited (payload: the exit JSON); the shim
//	                    then closes the connection
//
// Stdin: data from every attached client goes to the container's stdin. With
// StdinOnce, the first client that said it sends stdin closes the container's
// stdin when it sends 'c' or disconnects (with a TTY the shim writes an EOT,
// ^D, instead: closing the pty master would hang up the container's terminal).
// Without StdinOnce, 'c' just detaches that client (the shim closes its
// connection). Output is fanned out to all clients; a client that cannot keep
// up is disconnected rather than slowing down the container or its log.
package main
