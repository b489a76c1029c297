// Package undo holds the undo list of a multi-step create (RunPodSandbox,
// CreateContainer): each step that made something adds how to take it back,
// with a description, and a failed create runs them newest first.
//
// It owns nothing else: it never decides what to undo or when, and it never
// retries (recovery at the next start-up finds what a failed step left).
// CRI-O's ResourceCleaner is the model; containerd stacks deferred
// cleanups instead, which is harder to read in order.
package undo

import (
	"context"
	"log/slog"
	"time"
)

// List is the undo steps of one create. Its zero value is not usable: make
// one with New. It is not safe for concurrent Adds.
type List struct {
	log     *slog.Logger
	timeout time.Duration
	steps   []step
}

type step struct {
	what string
	fn   func(context.Context) error
}

// New returns an empty List whose steps each get timeout and whose
// failures are logged to log (which should carry the object's ID).
func New(log *slog.Logger, timeout time.Duration) *List {
	if log == nil {
		log = slog.Default()
	}
	return &List{log: log, timeout: timeout}
}

// Add records how to take back what the step just made; what names it in
// the log ("remove netns").
func (l *List) Add(what string, fn func(context.Context) error) {
	l.steps = append(l.steps, step{what, fn})
}

// Run undoes every step, newest first, and empties the list. A step that
// fails is logged and the others still run. Each step gets its own context:
// it outlives ctx's cancellation (a caller that gave up must not leave
// half an object behind) but not the List's timeout, so a hung CNI plugin
// or runc cannot pin the RPC for ever.
func (l *List) Run(ctx context.Context) {
	for i := len(l.steps) - 1; i >= 0; i-- {
		s := l.steps[i]
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), l.timeout)
		err := s.fn(sctx)
		cancel()
		if err != nil {
			l.log.Warn("undo step failed", "step", s.what, "err", err)
		}
	}
	l.steps = nil
}
