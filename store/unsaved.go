package store

import (
	"fmt"
	"log/slog"
	"time"
)

// retryUnsavedEvery is how often records whose write failed are tried again.
const retryUnsavedEvery = 2 * time.Second

// Settle is Update for facts that are true whether or not they reach the
// disk (a container has exited): fn's change is kept in memory even when
// the write fails (full disk, I/O error), and the write is retried in the
// background until it succeeds or the record is deleted. The write error
// is returned for the caller to log.
//
// Settle does not wait for the disk (no fsync, ~5 ms here, taken under the
// lock every Get waits on): a krilld crash loses nothing written (the page
// cache outlives it) and the rename keeps the file whole, so only a crash
// of the machine can lose the newest Settle. After one no container or
// pause runs, and recovery reconciles every record with what it finds (a
// record still RUNNING without a process gets its exit as lost; a pod
// still READY is stopped again, its CNI DEL and pause removal being
// idempotent): the fsync would buy nothing. Put and Update, which create
// objects or record what the host cannot tell again, keep it.
func (s *Store[T]) Settle(id string, fn func(*T) error) (T, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, err := s.changed(id, fn)
	if err != nil {
		return r, err
	}
	s.m[id] = r
	err = s.write(r, false)
	if err == nil {
		delete(s.unsaved, id)
		return r, nil
	}
	s.unsaved[id] = true
	if !s.retrying {
		s.retrying = true
		go s.retryUnsaved()
	}
	return r, fmt.Errorf("%s %s: change kept in memory, write retried: %w", s.kind, id, err)
}

// retryUnsaved writes unsaved records until none is left.
func (s *Store[T]) retryUnsaved() {
	for {
		time.Sleep(retryUnsavedEvery)
		s.mu.Lock()
		for id := range s.unsaved {
			if err := s.write(s.m[id], false); err != nil {
				slog.Debug("store: record still not written", "kind", s.kind, "id", id, "err", err)
				continue
			}
			slog.Info("store: record written after an earlier failure", "kind", s.kind, "id", id)
			delete(s.unsaved, id)
		}
		done := len(s.unsaved) == 0
		if done {
			s.retrying = false
		}
		s.mu.Unlock()
		if done {
			return
		}
	}
}
