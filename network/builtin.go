package network

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/containernetworking/cni/pkg/invoke"
	"github.com/containernetworking/cni/pkg/types"
	types100 "github.com/containernetworking/cni/pkg/types/100"
	"github.com/containernetworking/cni/pkg/version"
)

// builtinBridgeType is the plugin type of the built-in default network's
// bridge. No binary has that name: krilld does the bridge plugin's and
// host-local's work itself (bridgeAdd, bridgeDel), saving the two Go
// plugin processes each ADD and each DEL would start (~16 ms of CPU each
// here). libcni still drives it like any plugin, so the CNI cache, the
// intent file, Teardown after a restart and the verbose cniResult work
// the same. A configured conflist always runs its plugin binaries.
const builtinBridgeType = "krill-bridge"

// builtinPluginPath is what pluginExec.FindInPath answers for
// builtinBridgeType: not a file, a name ExecPlugin recognises.
const builtinPluginPath = "krilld:" + builtinBridgeType

// pluginExec runs CNI plugins for libcni: the built-in bridge in-process,
// every other plugin as the binary found in the plugin dirs.
type pluginExec struct {
	*invoke.DefaultExec
}

func (e *pluginExec) FindInPath(plugin string, paths []string) (string, error) {
	if plugin == builtinBridgeType {
		return builtinPluginPath, nil
	}
	return e.DefaultExec.FindInPath(plugin, paths)
}

func (e *pluginExec) ExecPlugin(ctx context.Context, pluginPath string, stdin []byte, environ []string) ([]byte, error) {
	if pluginPath != builtinPluginPath {
		return e.DefaultExec.ExecPlugin(ctx, pluginPath, stdin, environ)
	}
	args := cniEnv(environ)
	var out []byte
	var err error
	switch cmd := args["CNI_COMMAND"]; cmd {
	case "ADD":
		out, err = bridgeAdd(stdin, args)
	case "DEL":
		err = bridgeDel(stdin, args)
	case "VERSION":
		var b strings.Builder
		err = version.PluginSupports("0.3.0", "0.3.1", "0.4.0", "1.0.0").Encode(&b)
		out = []byte(b.String())
	default:
		// CHECK, STATUS, GC: Krill never asks them of its own network.
		err = fmt.Errorf("%s: command %q not supported", builtinBridgeType, cmd)
	}
	if err != nil {
		// The plugin error form, so libcni reports it as a plugin's.
		return nil, &types.Error{Code: types.ErrInternal, Msg: err.Error()}
	}
	return out, nil
}

// cniEnv picks the CNI_* variables out of a plugin's environment.
func cniEnv(environ []string) map[string]string {
	args := map[string]string{}
	for _, kv := range environ {
		if k, v, ok := strings.Cut(kv, "="); ok && strings.HasPrefix(k, "CNI_") {
			args[k] = v
		}
	}
	return args
}

// bridgeConf is the built-in bridge's configuration: the bridge plugin's
// keys that the built-in network uses (see doc.go). ipam is host-local's.
type bridgeConf struct {
	types.NetConf
	Bridge      string `json:"bridge"`
	IsGateway   bool   `json:"isGateway"`
	IPMasq      bool   `json:"ipMasq"`
	HairpinMode bool   `json:"hairpinMode"`
	MTU         int    `json:"mtu"`
}

func parseBridgeConf(stdin []byte) (*bridgeConf, error) {
	var c bridgeConf
	if err := json.Unmarshal(stdin, &c); err != nil {
		return nil, fmt.Errorf("%s: parse config: %w", builtinBridgeType, err)
	}
	if c.Bridge == "" {
		return nil, fmt.Errorf("%s: no bridge name", builtinBridgeType)
	}
	if c.IPMasq {
		// Never masquerade pod traffic out (the network rule of this
		// project); the built-in network never asks for it.
		return nil, fmt.Errorf("%s: ipMasq is not supported", builtinBridgeType)
	}
	if c.IPAM.Type != "host-local" {
		return nil, fmt.Errorf("%s: ipam type %q not supported (host-local only)", builtinBridgeType, c.IPAM.Type)
	}
	return &c, nil
}

// resultBytes encodes an ADD result in the version the config asked for.
func resultBytes(r *types100.Result, cniVersion string) ([]byte, error) {
	res, err := r.GetAsVersion(cniVersion)
	if err != nil {
		return nil, err
	}
	var b strings.Builder
	if err := res.PrintTo(&b); err != nil {
		return nil, err
	}
	return []byte(b.String()), nil
}
