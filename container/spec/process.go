package spec

import (
	"fmt"
	"strings"

	"github.com/containerd/errdefs"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	runtime "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// defaultPath is the PATH a container gets when neither the image nor the
// request sets one (Docker's and containerd's default).
const defaultPath = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// processArgs merges the CRI command/args with the image's Entrypoint/Cmd the
// way kubelet documents it (and Docker does):
//
//	command set:          command + args            (image Entrypoint and Cmd dropped)
//	only args set:        Entrypoint + args         (image Cmd dropped)
//	neither:              Entrypoint + Cmd
//
// An Entrypoint of [""] is Docker's way of saying "no entrypoint".
func processArgs(cfg *runtime.ContainerConfig, img *ocispec.ImageConfig) ([]string, error) {
	command, args := cfg.GetCommand(), cfg.GetArgs()
	var out []string
	if len(command) > 0 {
		out = append(append(out, command...), args...)
	} else {
		if len(img.Entrypoint) != 1 || img.Entrypoint[0] != "" {
			out = append(out, img.Entrypoint...)
		}
		if len(args) > 0 {
			out = append(out, args...)
		} else {
			out = append(out, img.Cmd...)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no command specified by the request nor the image: %w", errdefs.ErrInvalidArgument)
	}
	return out, nil
}

// processEnv layers the environment: the default PATH and HOSTNAME first,
// then the image's variables, then the CRI ones, each layer replacing a
// variable of the same name in place. An image entry without "=" unsets the
// variable (Docker semantics).
func processEnv(hostname string, imageEnv []string, criEnv []*runtime.KeyValue) []string {
	env := []string{defaultPath, "HOSTNAME=" + hostname}
	env = mergeEnv(env, imageEnv)
	cri := make([]string, 0, len(criEnv))
	for _, kv := range criEnv {
		if kv.GetKey() == "" {
			continue
		}
		cri = append(cri, kv.GetKey()+"="+string(kv.GetValue()))
	}
	return mergeEnv(env, cri)
}

func mergeEnv(base, overrides []string) []string {
	index := make(map[string]int, len(base))
	out := make([]string, 0, len(base)+len(overrides))
	for _, e := range base {
		k, _, _ := strings.Cut(e, "=")
		index[k] = len(out)
		out = append(out, e)
	}
	removed := false
	for _, e := range overrides {
		k, _, hasValue := strings.Cut(e, "=")
		i, seen := index[k]
		switch {
		case !hasValue && seen:
			out[i], removed = "", true
		case !hasValue:
		case seen:
			out[i] = e
		default:
			index[k] = len(out)
			out = append(out, e)
		}
	}
	if removed {
		kept := out[:0]
		for _, e := range out {
			if e != "" {
				kept = append(kept, e)
			}
		}
		out = kept
	}
	return out
}

// processCwd: the CRI working dir, else the image's, else "/". runc creates
// it if it does not exist.
func processCwd(criDir, imageDir string) string {
	switch {
	case criDir != "":
		return criDir
	case imageDir != "":
		return imageDir
	}
	return "/"
}
