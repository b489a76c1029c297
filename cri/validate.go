package cri

import (
	"fmt"

	"github.com/containerd/errdefs"
)

// requireID refuses an empty object ID before it reaches a package: an
// empty ID would otherwise match every object as a prefix.
func requireID(kind, id string) error {
	if id == "" {
		return fmt.Errorf("%s ID must not be empty: %w", kind, errdefs.ErrInvalidArgument)
	}
	return nil
}
