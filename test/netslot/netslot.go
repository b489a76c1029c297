// Package netslot hands test harnesses a bridge and subnet number that no
// other test process on this machine holds. Each number is an flock'ed file
// under /run/lock, so harnesses of several checkouts at once (or a killed
// one, whose lock the kernel drops) never share a bridge.
package netslot

import (
	"fmt"
	"os"
	"sync/atomic"
	"syscall"
	"testing"
)

// Count is how many numbers there are (0 to Count-1).
const Count = 250

var seq atomic.Int32

// Reserve returns a free number and the locked file that holds it; close
// the file (after removing the bridge) to free the number.
func Reserve(t testing.TB) (int, *os.File) {
	t.Helper()
	start := int(seq.Add(1)) + os.Getpid()
	for i := 0; i < Count; i++ {
		n := (start + i) % Count
		f, err := os.OpenFile(fmt.Sprintf("/run/lock/krill-e2e-net-%d", n), os.O_CREATE|os.O_RDWR, 0o600)
		if err != nil {
			t.Fatal(err)
		}
		if syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB) == nil {
			return n, f
		}
		f.Close()
	}
	t.Fatal("no free test network number")
	return 0, nil
}
