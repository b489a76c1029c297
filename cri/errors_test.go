package cri

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/containerd/errdefs"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

func TestToStatus(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want codes.Code
	}{
		{errdefs.ErrNotFound, codes.NotFound},
		{fmt.Errorf("pod %s: %w", "abc", errdefs.ErrNotFound), codes.NotFound},
		{fmt.Errorf("outer: %w", fmt.Errorf("inner: %w", errdefs.ErrInvalidArgument)), codes.InvalidArgument},
		{errdefs.ErrAlreadyExists, codes.AlreadyExists},
		{errdefs.ErrFailedPrecondition, codes.FailedPrecondition},
		{errdefs.ErrConflict, codes.FailedPrecondition},
		{errdefs.ErrUnavailable, codes.Unavailable},
		{errdefs.ErrNotImplemented, codes.Unimplemented},
		{errdefs.ErrPermissionDenied, codes.PermissionDenied},
		{errdefs.ErrUnauthenticated, codes.Unauthenticated},
		{errdefs.ErrResourceExhausted, codes.ResourceExhausted},
		{fmt.Errorf("pull: %w", context.DeadlineExceeded), codes.DeadlineExceeded},

		{context.Canceled, codes.Canceled},
		{errors.New("something else"), codes.Internal},
		{fmt.Errorf("runc: %w", errdefs.ErrUnknown), codes.Internal},
		{errdefs.ErrInternal, codes.Internal},
		{status.Error(codes.Aborted, "kept"), codes.Aborted},
	} {
		got := toStatus(tc.err)
		if status.Code(got) != tc.want {
			t.Errorf("%v: code %s, want %s", tc.err, status.Code(got), tc.want)
		}
		if got := status.Code(got); got == codes.Unknown {
			t.Errorf("%v: Unknown", tc.err)
		}
		if s, _ := status.FromError(got); s.Message() != tc.err.Error() && status.Code(tc.err) == codes.Unknown {
			t.Errorf("%v: message %q lost context", tc.err, s.Message())
		}
	}
	if toStatus(nil) != nil {
		t.Error("nil error must stay nil")
	}
}
