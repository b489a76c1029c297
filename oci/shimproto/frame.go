// Package shimproto is the wire format of krill-shim's attach socket,
// shared by the shim (cmd/krill-shim) and krilld (package oci) so that the
// two ends cannot drift apart. It imports only io, errors and time: the shim
// must stay tiny.
//
// A frame is one kind byte, a 4-byte big-endian length and that many bytes
// of payload. cmd/krill-shim/doc.go describes what each kind carries.
package shimproto

import (
	"errors"
	"io"
	"time"
)

// DrainTimeout is how long the shim waits, after the container's init
// exits, for its output pipes to reach EOF before it writes the exit file
// anyway (a daemonised grandchild may hold them open for ever). krilld's
// wait for a shim to exit is derived from it, so the two cannot drift.
const DrainTimeout = 5 * time.Second

// Frame kinds.
const (
	Hello  = 'a' // client -> shim: attach request
	Stdin  = 'i' // client -> shim: bytes for the container's stdin
	Close  = 'c' // client -> shim: the client's stdin ended
	Resize = 'r' // client -> shim: terminal size
	Stdout = 'o' // shim -> client: container output (or the tty)
	Stderr = 'e' // shim -> client: container error output
	Exit   = 'x' // shim -> client: the container exited

	// MaxFrame bounds a payload so a broken peer cannot make the other
	// side allocate without limit.
	MaxFrame = 1 << 20
)

// ErrTooLarge is returned for a frame longer than MaxFrame.
var ErrTooLarge = errors.New("shim frame too large")

// Encode returns the frame of kind with payload p.
func Encode(kind byte, p []byte) []byte {
	f := make([]byte, 5+len(p))
	f[0] = kind
	n := len(p)
	f[1], f[2], f[3], f[4] = byte(n>>24), byte(n>>16), byte(n>>8), byte(n)
	copy(f[5:], p)
	return f
}

// Read reads one frame from r.
func Read(r io.Reader) (kind byte, payload []byte, err error) {
	var hdr [5]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return 0, nil, err
	}
	n := uint32(hdr[1])<<24 | uint32(hdr[2])<<16 | uint32(hdr[3])<<8 | uint32(hdr[4])
	if n > MaxFrame {
		return 0, nil, ErrTooLarge
	}
	p := make([]byte, n)
	if _, err := io.ReadFull(r, p); err != nil {
		return 0, nil, err
	}
	return hdr[0], p, nil
}
