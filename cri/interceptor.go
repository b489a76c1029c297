package cri

import (
	"context"
	"fmt"
	"runtime/debug"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/krill-runtime/krill/metrics"
)

// unaryInterceptor wraps every CRI call: the init gate, panic recovery,
// error mapping, metrics and one structured log line. Handlers stay plain.
func (s *Server) unaryInterceptor(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (resp any, err error) {
	rpc := rpcName(info.FullMethod)
	if !s.ready.Load() {
		return nil, status.Error(codes.Unavailable, "krilld is still recovering its state; try again")
	}
	start := time.Now()
	defer func() {
		if p := recover(); p != nil {
			s.log.Error("panic in rpc", "rpc", rpc, "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
			resp, err = nil, status.Errorf(codes.Internal, "internal error in %s: %v", rpc, p)
		}
		s.logCall(rpc, req, start, err)
	}()
	resp, err = handler(ctx, req)
	return resp, toStatus(err)
}

// streamInterceptor does the same for GetContainerEvents, the only
// streaming CRI call.
func (s *Server) streamInterceptor(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) (err error) {
	rpc := rpcName(info.FullMethod)
	if !s.ready.Load() {
		return status.Error(codes.Unavailable, "krilld is still recovering its state; try again")
	}
	start := time.Now()
	defer func() {
		if p := recover(); p != nil {
			s.log.Error("panic in rpc", "rpc", rpc, "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
			err = status.Errorf(codes.Internal, "internal error in %s: %v", rpc, p)
		}
		s.logCall(rpc, nil, start, err)
	}()
	return toStatus(handler(srv, ss))
}

// quiet RPCs are polled many times a second by kubelet; log them at debug.
var quiet = map[string]bool{
	"Version": true, "Status": true, "ListPodSandbox": true, "ListContainers": true,
	"ListImages": true, "ImageStatus": true, "ContainerStatus": true, "PodSandboxStatus": true,
	"ImageFsInfo": true, "ListContainerStats": true, "ListPodSandboxStats": true,
	"ContainerStats": true, "PodSandboxStats": true, "ListPodSandboxMetrics": true,
	"ListMetricDescriptors": true, "RuntimeConfig": true,
}

func (s *Server) logCall(rpc string, req any, start time.Time, err error) {
	took, code := time.Since(start), status.Code(err).String()
	metrics.ObserveRPC(rpc, code, took)
	attrs := []any{"rpc", rpc, "duration", took.Round(time.Microsecond), "code", code}
	attrs = append(attrs, idsOf(req)...)
	switch {
	case err != nil && status.Code(err) != codes.NotFound:
		s.log.Warn("rpc failed", append(attrs, "err", err)...)
	case quiet[rpc]:
		s.log.Debug("rpc", attrs...)
	default:
		s.log.Info("rpc", attrs...)
	}
}

// idsOf pulls the identifiers out of a request for the log line. It never
// logs whole requests: PullImage carries registry credentials.
func idsOf(req any) []any {
	var out []any
	if r, ok := req.(interface{ GetPodSandboxId() string }); ok && r.GetPodSandboxId() != "" {
		out = append(out, "pod", r.GetPodSandboxId())
	}
	if r, ok := req.(interface{ GetContainerId() string }); ok && r.GetContainerId() != "" {
		out = append(out, "container", r.GetContainerId())
	}
	return out
}

func rpcName(full string) string {
	if i := strings.LastIndex(full, "/"); i >= 0 {
		return full[i+1:]
	}
	return full
}
