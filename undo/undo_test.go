package undo

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"
)

// The steps run newest first, a failing one is logged with its name and
// does not stop the rest, and every step gets a live context with the
// timeout even when the caller's context is already cancelled.
func TestRunOrderFailuresAndContext(t *testing.T) {
	var buf bytes.Buffer
	l := New(slog.New(slog.NewTextHandler(&buf, nil)), time.Minute)
	var ran []string
	add := func(name string, fail bool) {
		l.Add(name, func(ctx context.Context) error {
			ran = append(ran, name)
			if ctx.Err() != nil {
				t.Errorf("%s: context already done: %v", name, ctx.Err())
			}
			if dl, ok := ctx.Deadline(); !ok || time.Until(dl) > time.Minute {
				t.Errorf("%s: deadline %v %v, want within the timeout", name, dl, ok)
			}
			if fail {
				return errors.New("boom")
			}
			return nil
		})
	}
	add("first", false)
	add("second", true)
	add("third", false)

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	l.Run(ctx)

	if got := strings.Join(ran, ","); got != "third,second,first" {
		t.Fatalf("ran %s, want third,second,first", got)
	}
	log := buf.String()
	if !strings.Contains(log, "step=second") || !strings.Contains(log, "boom") || strings.Contains(log, "step=first") {
		t.Fatalf("log: %s", log)
	}

	ran = nil
	l.Run(ctx)
	if len(ran) != 0 {
		t.Fatalf("second Run ran %v: the list must be empty after Run", ran)
	}
}
