package cri

import (
	"context"
	"errors"

	"github.com/containerd/errdefs"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// toStatus is the one place where Krill errors become gRPC codes.
//
// Packages below the CRI layer wrap containerd's errdefs sentinels with
// context; kubelet and critest look only at the code, people look at the
// message, so the message keeps the whole wrapped chain.
func toStatus(err error) error {
	if err == nil {
		return nil
	}
	if _, ok := status.FromError(err); ok {
		// Already a gRPC status (e.g. from a nested client): keep it.
		var se interface{ GRPCStatus() *status.Status }
		if errors.As(err, &se) {
			return err
		}
	}
	return status.Error(codeOf(err), err.Error())
}

func codeOf(err error) codes.Code {
	switch {
	case errors.Is(err, context.DeadlineExceeded), errdefs.IsDeadlineExceeded(err):
		return codes.DeadlineExceeded
	case errors.Is(err, context.Canceled), errdefs.IsCanceled(err):
		return codes.Canceled
	case errdefs.IsNotFound(err):
		return codes.NotFound
	case errdefs.IsInvalidArgument(err):
		return codes.InvalidArgument
	case errdefs.IsAlreadyExists(err):
		return codes.AlreadyExists
	case errdefs.IsFailedPrecondition(err), errdefs.IsConflict(err):
		return codes.FailedPrecondition
	case errdefs.IsUnavailable(err):
		return codes.Unavailable
	case errdefs.IsNotImplemented(err):
		return codes.Unimplemented
	case errdefs.IsPermissionDenied(err):
		return codes.PermissionDenied
	case errdefs.IsUnauthorized(err):
		return codes.Unauthenticated
	case errdefs.IsResourceExhausted(err):
		return codes.ResourceExhausted
	case errdefs.IsAborted(err):
		return codes.Aborted
	case errdefs.IsOutOfRange(err):
		return codes.OutOfRange
	case errdefs.IsDataLoss(err):
		return codes.DataLoss
	}
	// What no package classified (errdefs.ErrUnknown, ErrInternal, a bare
	// error from the host) is a failure of the host or of Krill itself, not
	// of the request: Internal. Never Unknown, from which neither kubelet
	// nor an operator can tell anything.
	return codes.Internal
}
