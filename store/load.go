package store

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
)

// Load reads every record from disk into memory. It never deletes what a
// live object may still need:
//   - a record of a newer version than RecordVersion stops the load with
//     an error naming the file: an older krilld must not guess what it
//     means (and must not take the object for a crashed create);
//   - a record that cannot be parsed is moved to QuarantineDir and its ID
//     returned: the caller leaves that object's containers, mounts and
//     network alone, and an operator decides;
//   - a directory without a record file is what a crash between creating
//     the directory and renaming the record into it leaves: it is removed.
func (s *Store[T]) Load() (quarantined []string, err error) {
	entries, err := os.ReadDir(s.dir)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		path := filepath.Join(s.dir, e.Name(), s.file)
		r, err := s.read(path)
		switch {
		case errors.Is(err, os.ErrNotExist):
			slog.Info("store: removing a record directory without a record", "kind", s.kind, "dir", filepath.Dir(path))
			os.RemoveAll(filepath.Dir(path))
		case errors.Is(err, errFutureVersion):
			return nil, err
		case err != nil:
			if qerr := s.quarantine(e.Name()); qerr != nil {
				return nil, fmt.Errorf("%w; moving it to %s failed: %v", err, s.QuarantineDir(), qerr)
			}
			slog.Error("store: unreadable record moved aside; its objects are left running and untouched",
				"kind", s.kind, "id", e.Name(), "err", err, "moved_to", filepath.Join(s.QuarantineDir(), e.Name()))
			quarantined = append(quarantined, e.Name())
		default:
			s.m[r.Key()] = r
		}
	}
	return quarantined, nil
}

var errFutureVersion = errors.New("record written by a newer krilld")

func (s *Store[T]) read(path string) (T, error) {
	var env struct {
		Version int             `json:"version"`
		Record  json.RawMessage `json:"record"`
	}
	var r T
	data, err := os.ReadFile(path)
	if err != nil {
		return r, err
	}
	if err := json.Unmarshal(data, &env); err != nil {
		return r, fmt.Errorf("%s record %s: %w", s.kind, path, err)
	}
	if env.Version > RecordVersion {
		return r, fmt.Errorf("%s record %s has version %d, this krilld knows up to %d: run the newer krilld, or move the file away by hand: %w",
			s.kind, path, env.Version, RecordVersion, errFutureVersion)
	}
	if env.Version != RecordVersion {
		return r, fmt.Errorf("%s record %s: version %d, want %d", s.kind, path, env.Version, RecordVersion)
	}
	if err := json.Unmarshal(env.Record, &r); err != nil {
		return r, fmt.Errorf("%s record %s: %w", s.kind, path, err)
	}
	return r, nil
}

// QuarantineDir is where unreadable records are kept:
// <root>/quarantine/pods or <root>/quarantine/containers.
func (s *Store[T]) QuarantineDir() string {
	return filepath.Join(filepath.Dir(s.dir), "quarantine", filepath.Base(s.dir))
}

func (s *Store[T]) quarantine(id string) error {
	if err := os.MkdirAll(s.QuarantineDir(), 0o700); err != nil {
		return err
	}
	dst := filepath.Join(s.QuarantineDir(), id)
	os.RemoveAll(dst) // an older copy of the same record
	return os.Rename(filepath.Join(s.dir, id), dst)
}

// Quarantined tells whether id's record was moved aside, now or by an
// earlier krilld: recovery must not take its objects for leftovers.
func (s *Store[T]) Quarantined(id string) bool {
	_, err := os.Stat(filepath.Join(s.QuarantineDir(), id))
	return err == nil
}
