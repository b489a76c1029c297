package main

import (
	"net"
	"path/filepath"
	"testing"
	"time"
)

func TestSdNotifyWritesStateToNotifySocket(t *testing.T) {
	for name, addr := range map[string]string{
		"path":     filepath.Join(t.TempDir(), "notify"),
		"abstract": "@krill-notify-test-" + t.Name(),
	} {
		t.Run(name, func(t *testing.T) {
			listen := addr
			if addr[0] == '@' {
				listen = "\x00" + addr[1:]
			}
			l, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: listen, Net: "unixgram"})
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close()
			t.Setenv("NOTIFY_SOCKET", addr)
			if err := sdNotify("READY=1"); err != nil {
				t.Fatal(err)
			}
			buf := make([]byte, 64)
			l.SetReadDeadline(time.Now().Add(5 * time.Second))
			n, err := l.Read(buf)
			if err != nil {
				t.Fatal(err)
			}
			if got := string(buf[:n]); got != "READY=1" {
				t.Fatalf("got %q, want READY=1", got)
			}
		})
	}
}

func TestSdNotifyWithoutSystemdIsANoOp(t *testing.T) {
	t.Setenv("NOTIFY_SOCKET", "")
	if err := sdNotify("READY=1"); err != nil {
		t.Fatalf("no NOTIFY_SOCKET must not be an error: %v", err)
	}
}
