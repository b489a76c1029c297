package cri

import (
	"context"
	"time"

	runtime "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/krill-runtime/krill/streaming"
)

// Exec returns a single-use URL of the streaming server for kubectl exec.
func (s *Server) Exec(ctx context.Context, r *runtime.ExecRequest) (*runtime.ExecResponse, error) {
	if err := requireID("container", r.GetContainerId()); err != nil {
		return nil, err
	}
	return s.streams.GetExec(r)
}

// Attach returns a single-use URL for kubectl attach.
func (s *Server) Attach(ctx context.Context, r *runtime.AttachRequest) (*runtime.AttachResponse, error) {
	if err := requireID("container", r.GetContainerId()); err != nil {
		return nil, err
	}
	return s.streams.GetAttach(r)
}

// PortForward returns a single-use URL for kubectl port-forward.
func (s *Server) PortForward(ctx context.Context, r *runtime.PortForwardRequest) (*runtime.PortForwardResponse, error) {
	if err := requireID("pod sandbox", r.GetPodSandboxId()); err != nil {
		return nil, err
	}
	return s.streams.GetPortForward(r)
}

// ExecSync runs a command to completion (exec probes), with a timeout and
// capped output.
func (s *Server) ExecSync(ctx context.Context, r *runtime.ExecSyncRequest) (*runtime.ExecSyncResponse, error) {
	if err := requireID("container", r.GetContainerId()); err != nil {
		return nil, err
	}
	stdout, stderr, code, err := streaming.ExecSync(ctx, s.containers, r.GetContainerId(), r.GetCmd(), time.Duration(r.GetTimeout())*time.Second)
	if err != nil {
		return nil, err
	}
	return &runtime.ExecSyncResponse{Stdout: stdout, Stderr: stderr, ExitCode: int32(code)}, nil
}
