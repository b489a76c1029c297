package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// FuzzLineSplitter feeds container output, cut into chunks at fuzzed
// places, through the CRI log line splitter and checks the log: every line
// is "<RFC3339Nano> stdout <P|F> <content>", no content is longer than
// maxLogLine or holds a newline, and the contents put back together (P
// lines joined, F lines ended) are exactly the output.
func FuzzLineSplitter(f *testing.F) {
	path := filepath.Join(f.TempDir(), "log") // one file, emptied for each input
	f.Fuzz(func(t *testing.T, out []byte, cuts []byte) {
		if err := os.Truncate(path, 0); err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
		l, err := openCRILog("", path)
		if err != nil {
			t.Fatal(err)
		}
		sp := &lineSplitter{log: l, stream: "stdout"}
		rest := out
		for _, c := range cuts {
			n := int(c) * 97 % (len(rest) + 1)
			sp.Write(rest[:n])
			rest = rest[n:]
		}
		sp.Write(rest)
		sp.flush()
		l.close()
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		var got bytes.Buffer
		for _, line := range strings.SplitAfter(string(b), "\n") {
			if line == "" {
				continue
			}
			ts, rest, ok1 := strings.Cut(strings.TrimSuffix(line, "\n"), " ")
			stream, rest, ok2 := strings.Cut(rest, " ")
			tag, content, ok3 := strings.Cut(rest, " ")
			if !ok1 || !ok2 || !ok3 || stream != "stdout" || (tag != "P" && tag != "F") || !strings.HasSuffix(line, "\n") {
				t.Fatalf("malformed log line %q", line)
			}
			if _, err := time.Parse(time.RFC3339Nano, ts); err != nil {
				t.Fatalf("bad timestamp in %q: %v", line, err)
			}
			if len(content) > maxLogLine {
				t.Fatalf("line content of %d bytes", len(content))
			}
			got.WriteString(content)
			if tag == "F" {
				got.WriteByte('\n')
			}
		}
		// Only a newline ends a line with F: a tail without one is a last
		// P line, so the log gives back exactly the output.
		if !bytes.Equal(got.Bytes(), out) {
			t.Fatalf("log content differs from the output:\n got %.200q\nwant %.200q", got.Bytes(), out)
		}
	})
}
