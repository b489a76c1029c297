package store

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"sync"

	"github.com/containerd/errdefs"
)

// Names reserves the unique names CRI gives objects (kubelet's
// name_namespace_uid_attempt for pods, name_pod_attempt for containers)
// while they are made, so that two concurrent create calls for the same
// name cannot both succeed.
type Names struct {
	mu   sync.Mutex
	kind string
	m    map[string]string // name -> ID
}

// NewNames returns an empty index for objects of kind ("pod", "container").
func NewNames(kind string) *Names { return &Names{kind: kind, m: map[string]string{}} }

// Reserve takes name for id, or says which object already holds it.
func (n *Names) Reserve(name, id string) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if other, ok := n.m[name]; ok {
		return fmt.Errorf("%s name %q is already used by %s %s: %w", n.kind, name, n.kind, other, errdefs.ErrAlreadyExists)
	}
	n.m[name] = id
	return nil
}

// Release frees name if id still holds it.
func (n *Names) Release(name, id string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.m[name] == id {
		delete(n.m, name)
	}
}

// Locks serialises lifecycle calls per object ID: kubelet may stop a pod
// while a remove of the same pod is still running.
type Locks struct{ m sync.Map }

// Lock locks id and returns the unlock function.
func (l *Locks) Lock(id string) (unlock func()) {
	v, _ := l.m.LoadOrStore(id, &sync.Mutex{})
	mu := v.(*sync.Mutex)
	mu.Lock()
	return mu.Unlock
}

// Forget drops the lock of a removed object.
func (l *Locks) Forget(id string) { l.m.Delete(id) }

// IDLength is the length of a pod or container ID: 64 hex digits, the
// form kubelet and crictl expect (and print truncated).
const IDLength = 64

// NewID returns a new object ID of IDLength hex digits.
func NewID() string {
	b := make([]byte, IDLength/2)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand does not fail on Linux
	}
	return hex.EncodeToString(b)
}
