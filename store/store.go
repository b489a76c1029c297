package store

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"

	"github.com/containerd/errdefs"
)

// RecordVersion is the on-disk format version of pod and container records.
const RecordVersion = 1

// Record is what a Store holds: a pod or a container.
type Record interface {
	Key() string
}

// Store is a write-through map of records of one kind.
type Store[T Record] struct {
	mu   sync.RWMutex
	dir  string // <root>/pods or <root>/containers
	file string // pod.json or container.json
	kind string // "pod" or "container", for error messages
	m    map[string]T
	// unsaved are records whose last change is only in memory: the disk
	// write failed (full disk); retryUnsaved writes them when it can.
	unsaved  map[string]bool
	retrying bool
}

// New opens the store kept in dir, one <id>/<file> per record.
func New[T Record](dir, file, kind string) (*Store[T], error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	return &Store[T]{dir: dir, file: file, kind: kind, m: map[string]T{}, unsaved: map[string]bool{}}, nil
}

// Put stores r in memory and on disk.
func (s *Store[T]) Put(r T) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.write(r, true); err != nil {
		return err
	}
	s.m[r.Key()] = r
	return nil
}

// Update applies fn to a copy of record id under the store lock and
// persists the result; fn must not block. Records are values, so readers
// holding an earlier copy never see a half-made change.
func (s *Store[T]) Update(id string, fn func(*T) error) (T, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, err := s.changed(id, fn)
	if err != nil {
		return r, err
	}
	if err := s.write(r, true); err != nil {
		return r, err
	}
	s.m[id] = r
	delete(s.unsaved, id)
	return r, nil
}

// changed returns a copy of record id with fn applied, or the record as it
// was and fn's error; the caller holds s.mu and stores the result.
func (s *Store[T]) changed(id string, fn func(*T) error) (T, error) {
	r, ok := s.m[id]
	if !ok {
		var zero T
		return zero, fmt.Errorf("%s %q: %w", s.kind, id, errdefs.ErrNotFound)
	}
	if err := fn(&r); err != nil {
		return s.m[id], err
	}
	return r, nil
}

// write replaces r's file; durable also waits for the disk (fsync) before
// the rename, see Settle for when that is not needed.
func (s *Store[T]) write(r T, durable bool) error {
	dir := filepath.Join(s.dir, r.Key())
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	data, err := json.Marshal(struct {
		Version int `json:"version"`
		Record  T   `json:"record"`
	}{RecordVersion, r})
	if err != nil {
		return err
	}
	return writeFileAtomic(filepath.Join(dir, s.file), data, 0o600, durable)
}

// Delete forgets id in memory and on disk. Unknown IDs are not an error.
func (s *Store[T]) Delete(id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.m, id)
	delete(s.unsaved, id)
	if err := os.RemoveAll(filepath.Join(s.dir, id)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}

// Get finds a record by full ID or by a unique ID prefix (crictl users
// type truncated IDs).
func (s *Store[T]) Get(id string) (T, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var zero T
	if id == "" {
		return zero, fmt.Errorf("%s ID must not be empty: %w", s.kind, errdefs.ErrInvalidArgument)
	}
	if r, ok := s.m[id]; ok {
		return r, nil
	}
	var found []T
	for k, r := range s.m {
		if strings.HasPrefix(k, id) {
			found = append(found, r)
		}
	}
	switch len(found) {
	case 1:
		return found[0], nil
	case 0:
		return zero, fmt.Errorf("%s %q: %w", s.kind, id, errdefs.ErrNotFound)
	}
	return zero, fmt.Errorf("%s ID prefix %q matches %d objects: %w", s.kind, id, len(found), errdefs.ErrInvalidArgument)
}

// List returns every record, sorted by key for stable output.
func (s *Store[T]) List() []T {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]T, 0, len(s.m))
	for _, r := range s.m {
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key() < out[j].Key() })
	return out
}

// WriteFileAtomic replaces path with data so that readers and crashes see
// either the old or the new content.
func WriteFileAtomic(path string, data []byte, mode os.FileMode) error {
	return writeFileAtomic(path, data, mode, true)
}

func writeFileAtomic(path string, data []byte, mode os.FileMode, durable bool) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp")
	if err != nil {
		return err
	}
	tmp := f.Name()
	_, err = f.Write(data)
	if err == nil && durable {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(tmp, mode)
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
	}
	return err
}
