package image

import (
	"context"
	"sync"
)

// keyMutex is a set of mutexes by name whose Lock honours ctx. The unpacker
// uses it to let only one pull at a time fetch a given blob or unpack a given
// layer chain; the others wait and then find the work done.
type keyMutex struct {
	mu   sync.Mutex
	held map[string]chan struct{} // closed on Unlock
}

func newKeyMutex() *keyMutex { return &keyMutex{held: map[string]chan struct{}{}} }

func (k *keyMutex) Lock(ctx context.Context, key string) error {
	for {
		k.mu.Lock()
		ch, busy := k.held[key]
		if !busy {
			k.held[key] = make(chan struct{})
			k.mu.Unlock()
			return nil
		}
		k.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

func (k *keyMutex) Unlock(key string) {
	k.mu.Lock()
	if ch, ok := k.held[key]; ok {
		close(ch)
		delete(k.held, key)
	}
	k.mu.Unlock()
}
