package image

import (
	"context"
	"sync"
	"time"
)

// gcDelay gathers removals into one garbage collection. A collection takes
// the metadata database's write lock for its whole mark and sweep (tens
// of milliseconds here, more with many images), so one per removed
// container would make every other pod's create wait behind it; a pod
// stop removes pause and each container within a few milliseconds.
const gcDelay = 100 * time.Millisecond

// collector runs garbage collection in the background when asked.
type collector struct {
	kick    chan struct{}
	stop    chan struct{}
	stopped sync.WaitGroup
}

// scheduleGC asks for a collection soon, without waiting for it: what it
// frees is already unreachable (no record, lease or snapshot names it), so
// nobody can observe it before it goes, except as disk usage.
func (s *Service) scheduleGC() {
	select {
	case s.collect.kick <- struct{}{}:
	default: // one is already pending; it will see this removal too
	}
}

// gcLoop collects garbage gcDelay after the first request of a burst,
// until Close; a request still pending at Close is honoured first.
func (s *Service) gcLoop() {
	defer s.collect.stopped.Done()
	for {
		select {
		case <-s.collect.kick:
		case <-s.collect.stop:
			select {
			case <-s.collect.kick:
				s.collectNow()
			default:
			}
			return
		}
		select {
		case <-time.After(gcDelay):
		case <-s.collect.stop:
			s.collectNow()
			return
		}
		s.collectNow()
	}
}

func (s *Service) collectNow() {
	// A request arriving from here on sees a collection that may have
	// missed it and so queues another one.
	select {
	case <-s.collect.kick:
	default:
	}
	if err := s.gc(s.ns(context.Background())); err != nil {
		s.log.Warn("background image garbage collection", "err", err)
	}
}
