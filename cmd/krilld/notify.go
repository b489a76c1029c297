package main

import (
	"net"
	"os"
)

// sdNotify tells systemd about krilld's state (Type=notify units):
// "READY=1" once the socket answers CRI calls, so `systemctl start krilld`
// returns only then and units ordered after krilld (kubelet) find it
// serving. It writes one datagram to $NOTIFY_SOCKET (a path, or an
// abstract socket when it starts with '@') and does nothing when that is
// unset, i.e. when krilld was not started by systemd. The protocol is
// sd_notify(3); it is small enough not to need libsystemd or a dependency.
func sdNotify(state string) error {
	path := os.Getenv("NOTIFY_SOCKET")
	if path == "" {
		return nil
	}
	if path[0] == '@' {
		path = "\x00" + path[1:]
	}
	c, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		return err
	}
	defer c.Close()
	_, err = c.Write([]byte(state))
	return err
}
