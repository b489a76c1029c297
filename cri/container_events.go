package cri

import (
	runtime "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// GetContainerEvents streams lifecycle events for kubelet's evented PLEG.
func (s *Server) GetContainerEvents(r *runtime.GetEventsRequest, stream runtime.RuntimeService_GetContainerEventsServer) error {
	events, cancel := s.events.Subscribe()
	defer cancel()
	// The header tells the client it is subscribed: a client that waits for
	// it before RunPodSandbox sees every event of that pod.
	if err := stream.SendHeader(nil); err != nil {
		return err
	}
	for {
		select {
		case ev := <-events:
			if err := stream.Send(ev); err != nil {
				return err
			}
		case <-stream.Context().Done():
			return nil
		case <-s.closing:
			return nil
		}
	}
}
