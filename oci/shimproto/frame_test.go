package shimproto

import (
	"bytes"
	"errors"
	"io"
	"testing"
)

func TestRoundTrip(t *testing.T) {
	var buf bytes.Buffer
	for _, f := range []struct {
		kind byte
		p    string
	}{{Stdout, "hello"}, {Exit, ""}, {Stdin, string(make([]byte, 70000))}} {
		buf.Write(Encode(f.kind, []byte(f.p)))
	}
	for _, want := range []struct {
		kind byte
		n    int
	}{{Stdout, 5}, {Exit, 0}, {Stdin, 70000}} {
		k, p, err := Read(&buf)
		if err != nil || k != want.kind || len(p) != want.n {
			t.Fatalf("got %c %d %v, want %c %d", k, len(p), err, want.kind, want.n)
		}
	}
	if _, _, err := Read(&buf); err != io.EOF {
		t.Fatalf("end: %v", err)
	}
}

func TestRefusesHugeFrame(t *testing.T) {
	if _, _, err := Read(bytes.NewReader([]byte{Stdout, 0x7f, 0, 0, 0})); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("err = %v", err)
	}
}
