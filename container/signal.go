package container

import (
	"fmt"
	"strconv"
	"strings"
	"syscall"

	"github.com/containerd/errdefs"
	"golang.org/x/sys/unix"
	runtime "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// The real-time signals as Linux programs see them: glibc keeps 32 and 33
// for itself, so SIGRTMIN is 34 (moby's and containerd's signal tables
// agree).
const (
	sigRTMin = 34
	sigRTMax = 64
)

// stopSignalOf decides the signal Stop sends, in the order KEP-4960 sets:
// the CRI config's stop_signal, else the image's STOPSIGNAL, else SIGTERM.
// It returns the signal's canonical name ("SIGUSR1", "SIGRTMIN+3"), which
// the record keeps, so the choice survives a restart and the image's
// removal. An image STOPSIGNAL that names no signal is refused here: a
// later Stop must never fail before it can escalate to SIGKILL.
func stopSignalOf(cri runtime.Signal, image string) (string, error) {
	if cri != runtime.Signal(0) { // 0 is RUNTIME_DEFAULT
		name, ok := runtime.Signal_name[int32(cri)]
		if !ok {
			return "", fmt.Errorf("unknown CRI stop signal %d: %w", cri, errdefs.ErrInvalidArgument)
		}
		name = strings.TrimPrefix(name, "SIGNAL_")
		name = strings.Replace(name, "PLUS", "+", 1)
		name = strings.Replace(name, "MINUS", "-", 1)
		sig, err := parseSignal(name)
		if err != nil {
			return "", fmt.Errorf("CRI stop signal %s: %w", name, err)
		}
		return signalName(sig), nil
	}
	if image == "" {
		return "SIGTERM", nil
	}
	sig, err := parseSignal(image)
	if err != nil {
		return "", fmt.Errorf("image STOPSIGNAL: %w", err)
	}
	return signalName(sig), nil
}

// criSignal is the CRI enum of a canonical signal name (ContainerStatus's
// stop_signal).
func criSignal(name string) runtime.Signal {
	name = strings.Replace(name, "+", "PLUS", 1)
	name = strings.Replace(name, "-", "MINUS", 1)
	for _, n := range []string{"SIGNAL_" + name, name} { // the enum's prefix differs between cri-api releases
		if v, ok := runtime.Signal_value[n]; ok {
			return runtime.Signal(v)
		}
	}
	return runtime.Signal(0)
}

// parseSignal reads a signal as images and users write it: "SIGTERM",
// "TERM", "15", "SIGRTMIN+3", "RTMAX-1".
func parseSignal(s string) (syscall.Signal, error) {
	bad := fmt.Errorf("%q is not a signal: %w", s, errdefs.ErrInvalidArgument)
	if n, err := strconv.Atoi(s); err == nil {
		if n < 1 || n > sigRTMax {
			return 0, bad
		}
		return syscall.Signal(n), nil
	}
	name := strings.ToUpper(s)
	if !strings.HasPrefix(name, "SIG") {
		name = "SIG" + name
	}
	if rest, ok := strings.CutPrefix(name, "SIGRTMIN"); ok {
		return rtSignal(rest, sigRTMin, 1, bad)
	}
	if rest, ok := strings.CutPrefix(name, "SIGRTMAX"); ok {
		return rtSignal(rest, sigRTMax, -1, bad)
	}
	if alias, ok := signalAliases[name]; ok {
		name = alias
	}
	if n := unix.SignalNum(name); n != 0 {
		return n, nil
	}
	return 0, bad
}

// signalAliases are second names of Linux signals that CRI's enum lists.
var signalAliases = map[string]string{"SIGIOT": "SIGABRT", "SIGCLD": "SIGCHLD", "SIGPOLL": "SIGIO"}

// rtSignal reads the "", "+n" or "-n" after SIGRTMIN/SIGRTMAX.
func rtSignal(offset string, base, sign int, bad error) (syscall.Signal, error) {
	if offset == "" {
		return syscall.Signal(base), nil
	}
	op := "+"
	if sign < 0 {
		op = "-"
	}
	n, err := strconv.Atoi(strings.TrimPrefix(offset, op))
	if !strings.HasPrefix(offset, op) || err != nil || n < 0 || n > sigRTMax-sigRTMin {
		return 0, bad
	}
	return syscall.Signal(base + sign*n), nil
}

// signalName is the canonical name of sig.
func signalName(sig syscall.Signal) string {
	switch {
	case sig >= sigRTMin+(sigRTMax-sigRTMin)/2+1 && sig < sigRTMax:
		return fmt.Sprintf("SIGRTMAX-%d", sigRTMax-int(sig))
	case sig > sigRTMin && sig < sigRTMax:
		return fmt.Sprintf("SIGRTMIN+%d", int(sig)-sigRTMin)
	case sig == sigRTMin:
		return "SIGRTMIN"
	case sig == sigRTMax:
		return "SIGRTMAX"
	}
	if n := unix.SignalName(sig); n != "" {
		return n
	}
	return strconv.Itoa(int(sig))
}
