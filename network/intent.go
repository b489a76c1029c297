package network

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/containernetworking/cni/libcni"
)

// An intent is written before CNI ADD and removed after a DEL that worked.
// libcni caches what ADD ran with only once the whole chain succeeded; a
// krilld killed during ADD (after portmap added its DNAT rules, say) would
// otherwise leave recovery to run DEL without the port mappings: portmap
// would remove nothing, and the rules would point at an IP host-local
// frees and later hands to another pod. With the intent, DEL runs with the
// very configuration and arguments ADD was given.
type intent struct {
	Config         json.RawMessage `json:"config"` // the network list, as ADD got it
	ContainerID    string          `json:"container_id"`
	NetNS          string          `json:"netns"`
	IfName         string          `json:"if_name"`
	Args           [][2]string     `json:"args"`
	CapabilityArgs map[string]any  `json:"capability_args"`
}

func (m *Manager) intentPath(podID string) string {
	return filepath.Join(m.cfg.CacheDir, "intents", podID+".json")
}

// writeIntent records a before its ADD runs; the file is complete or
// absent (temp file, then rename).
func (m *Manager) writeIntent(podID string, a attachment) error {
	b, err := json.Marshal(intent{
		Config: a.list.Bytes, ContainerID: a.rt.ContainerID, NetNS: a.rt.NetNS,
		IfName: a.rt.IfName, Args: a.rt.Args, CapabilityArgs: a.rt.CapabilityArgs,
	})
	if err != nil {
		return err
	}
	path := m.intentPath(podID)
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("cni intent: %w", err)
	}
	if err := os.WriteFile(path+".tmp", b, 0o600); err != nil {
		os.Remove(path + ".tmp")
		return fmt.Errorf("cni intent: %w", err)
	}
	return os.Rename(path+".tmp", path)
}

// readIntent returns the attachment an interrupted ADD ran with, or nil.
func (m *Manager) readIntent(podID string) (*attachment, error) {
	b, err := os.ReadFile(m.intentPath(podID))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var in intent
	if err := json.Unmarshal(b, &in); err != nil {
		return nil, fmt.Errorf("cni intent of pod %s: %w", podID, err)
	}
	list, err := libcni.ConfListFromBytes(in.Config)
	if err != nil {
		return nil, fmt.Errorf("cni intent of pod %s: %w", podID, err)
	}
	return &attachment{list, &libcni.RuntimeConf{
		ContainerID: in.ContainerID, NetNS: in.NetNS, IfName: in.IfName,
		Args: in.Args, CapabilityArgs: in.CapabilityArgs,
	}, "intent written before ADD"}, nil
}

func (m *Manager) removeIntent(podID string) {
	os.Remove(m.intentPath(podID))
}
