package main

import (
	"os"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// trimLoop trims again every interval (KRILL_SHIM_TRIM_INTERVAL, default
// 30s, "0" disables): bursts of output or attach traffic fault in code that
// an idle shim does not need. Re-faulting the steady state's few pages costs
// well under a millisecond.
func trimLoop() {
	every := 30 * time.Second
	if v := os.Getenv("KRILL_SHIM_TRIM_INTERVAL"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			return
		}
		every = d
	}
	if every <= 0 {
		return
	}
	for {
		time.Sleep(every)
		trimText()
	}
}

// trimText drops the shim's resident code and read-only data pages and marks
// them for random access. Go binaries are large, and page faults map up to
// 64 KiB around every touched page (fault-around), so start-up leaves about
// a megabyte of the binary resident that the shim never touches again.
// Afterwards only the pages the steady state uses come back, one at a time.
// It is safe because these mappings are private, read-only and never
// written: dropped pages are read again from the page cache on demand.
// Every running container pays for its shim, so this is worth ~0.5 MB each.
func trimText() {
	exe, err := os.Readlink("/proc/self/exe")
	if err != nil {
		return
	}
	maps, err := os.ReadFile("/proc/self/maps")
	if err != nil {
		return
	}
	for _, line := range strings.Split(string(maps), "\n") {
		f := strings.Fields(line)
		if len(f) < 6 || f[5] != exe || (f[1] != "r-xp" && f[1] != "r--p") {
			continue
		}
		lo, hi, ok := strings.Cut(f[0], "-")
		if !ok {
			continue
		}
		start, err1 := strconv.ParseUint(lo, 16, 64)
		end, err2 := strconv.ParseUint(hi, 16, 64)
		if err1 != nil || err2 != nil || end <= start {
			continue
		}
		unix.Syscall(unix.SYS_MADVISE, uintptr(start), uintptr(end-start), unix.MADV_RANDOM)
		unix.Syscall(unix.SYS_MADVISE, uintptr(start), uintptr(end-start), unix.MADV_DONTNEED)
	}
}
