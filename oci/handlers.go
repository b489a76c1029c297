package oci

import (
	"fmt"
	"sort"
	"strings"

	"github.com/containerd/errdefs"
)

// Handlers are the OCI runtimes pods choose between by RuntimeClass
// handler name, one Runtime each (its own binary and --root, the shared
// shim directory). A pod's containers all run under the pod's handler.
type Handlers struct {
	def    string
	byName map[string]*Runtime
}

// NewHandlers returns the set; def names the handler of pods asking for "".
func NewHandlers(def string, byName map[string]*Runtime) (*Handlers, error) {
	if _, ok := byName[def]; !ok {
		return nil, fmt.Errorf("oci: default handler %q is not among the handlers: %w", def, errdefs.ErrInvalidArgument)
	}
	return &Handlers{def: def, byName: byName}, nil
}

// Resolve turns a requested handler name into a configured one: "" is the
// default. An unknown name is ErrNotFound naming the known ones, so the
// operator sees the typo in the RuntimeClass.
func (h *Handlers) Resolve(name string) (string, error) {
	if name == "" {
		return h.def, nil
	}
	if _, ok := h.byName[name]; !ok {
		return "", fmt.Errorf("runtime handler %q is not configured (known: %s): %w",
			name, strings.Join(h.Names(), ", "), errdefs.ErrNotFound)
	}
	return name, nil
}

// Get returns the runtime of a handler ("" = the default).
func (h *Handlers) Get(name string) (*Runtime, error) {
	name, err := h.Resolve(name)
	if err != nil {
		return nil, err
	}
	return h.byName[name], nil
}

// Default returns the default handler's name.
func (h *Handlers) Default() string { return h.def }

// Names lists the handler names, sorted.
func (h *Handlers) Names() []string {
	names := make([]string, 0, len(h.byName))
	for n := range h.byName {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// All returns every runtime, in the order of Names: recovery asks each
// about containers no record names.
func (h *Handlers) All() []*Runtime {
	var out []*Runtime
	for _, n := range h.Names() {
		out = append(out, h.byName[n])
	}
	return out
}
