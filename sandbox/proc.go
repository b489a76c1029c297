package sandbox

import (
	"bytes"
	"fmt"
	"os"
)

// isZombie reports whether pid has exited but not been reaped yet.
func isZombie(pid int) bool {
	state, _, ok := procStat(pid)
	return !ok || state == 'Z' || state == 'X'
}

// startTime returns the start time of pid (field 22 of /proc/<pid>/stat,
// clock ticks after boot): with the pid it names one process for good, as
// a pid alone can be reused once the process is gone.
func startTime(pid int) (string, bool) {
	_, start, ok := procStat(pid)
	return start, ok
}

// procStat returns the state (field 3) and start time (field 22) of pid.
func procStat(pid int) (state byte, start string, ok bool) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, "", false
	}
	// The state follows the command name in parentheses, which may itself
	// hold spaces or parentheses: look after the last ')'.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, "", false
	}
	f := bytes.Fields(b[i+1:])
	if len(f) < 20 || len(f[0]) != 1 {
		return 0, "", false
	}
	return f[0][0], string(f[19]), true
}
