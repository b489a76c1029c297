package network

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"time"

	"github.com/containerd/errdefs"
	"github.com/containernetworking/cni/libcni"
	"github.com/containernetworking/cni/pkg/types"
	types100 "github.com/containernetworking/cni/pkg/types/100"
	runtime "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// rollbackTimeout bounds the DEL that undoes a failed ADD; it runs even when
// the caller's context is already done, or the ADD's leftovers would leak.
const rollbackTimeout = time.Minute

// attachment is one network list run on a pod, with the runtime
// configuration it was run with.
type attachment struct {
	list   *libcni.NetworkConfigList
	rt     *libcni.RuntimeConf
	source string // where list came from, for error messages
}

// Setup runs CNI ADD for the pod on eth0 and returns the pod's addresses
// (lo is already up: CreateNetNS did that). If the ADD fails it runs DEL,
// so no IP allocation, veth or iptables rule outlives the error.
func (m *Manager) Setup(ctx context.Context, p PodNetwork) (*Result, error) {
	if err := validPodID(p.ID); err != nil {
		return nil, fmt.Errorf("network setup: %w", err)
	}
	if !isNetNS(p.NetNS) {
		return nil, fmt.Errorf("network setup for pod %s: %q is not a network namespace: %w", p.ID, p.NetNS, errdefs.ErrInvalidArgument)
	}
	rt, err := runtimeConf(p, podIfName)
	if err != nil {
		return nil, fmt.Errorf("network setup for pod %s: %w", p.ID, err)
	}
	list, source, err := m.podNetwork(rt)
	if err != nil {
		return nil, fmt.Errorf("network setup for pod %s: %w", p.ID, err)
	}
	a := attachment{list, rt, source}
	if err := m.writeIntent(p.ID, a); err != nil {
		return nil, fmt.Errorf("network setup for pod %s: %w", p.ID, err)
	}
	res, err := m.cni.AddNetworkList(ctx, list, rt)
	var result *Result
	if err == nil {
		result, err = podIPs(res)
	}
	if err != nil {
		err = fmt.Errorf("network setup for pod %s: network %q from %s: %w: %w", p.ID, list.Name, source, err, failure(ctx))
		rerr := m.rollback(ctx, []attachment{a})
		if rerr == nil {
			m.removeIntent(p.ID)
		}
		return nil, errors.Join(err, rerr)
	}
	slog.Debug("network: pod set up", "pod", p.ID, "network", list.Name, "ip", result.IP)
	return result, nil
}

// podNetwork is the network list for one pod: the configured one, except
// that the built-in default drops portmap for a pod without host ports.
// portmap would find nothing to do on ADD, but costs a process start there
// and several iptables runs on DEL. libcni caches the list ADD ran with,
// so Teardown runs DEL on the same plugins.
func (m *Manager) podNetwork(rt *libcni.RuntimeConf) (*libcni.NetworkConfigList, string, error) {
	list, source, err := m.loadNetwork()
	if err != nil || source != builtinSource {
		return list, source, err
	}
	if _, hostPorts := rt.CapabilityArgs["portMappings"]; hostPorts {
		return list, source, nil
	}
	list, err = m.defaultNetwork(false)
	return list, source, err
}

// failure classifies a plugin failure: the caller's deadline or
// cancellation when that is what killed the plugin, else unknown (the plugin
// said why in the message).
func failure(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return errdefs.ErrUnknown
}

// rollback runs DEL, last attachment first, on a context that survives the
// caller's cancellation.
func (m *Manager) rollback(ctx context.Context, plan []attachment) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), rollbackTimeout)
	defer cancel()
	var errs []error
	for i := len(plan) - 1; i >= 0; i-- {
		if err := m.cni.DelNetworkList(ctx, plan[i].list, plan[i].rt); err != nil {
			errs = append(errs, fmt.Errorf("undo network %q: %w", plan[i].list.Name, err))
		}
	}
	return errors.Join(errs...)
}

// Teardown runs CNI DEL for the pod. It uses the configuration and arguments
// libcni cached at ADD time (so it works after a daemon restart or a change
// of ConfDir); without a cache entry it runs DEL with the current network
// and p. A netns that is already gone is passed to the plugins as "", which
// CNI allows for DEL: they still release the IP and iptables rules. Calling
// it again is harmless.
func (m *Manager) Teardown(ctx context.Context, p PodNetwork) error {
	if err := validPodID(p.ID); err != nil {
		return fmt.Errorf("network teardown: %w", err)
	}
	cached, err := m.cni.GetCachedAttachments(p.ID)
	if err != nil {
		return fmt.Errorf("network teardown for pod %s: read cni cache: %w", p.ID, err)
	}

	var plan []attachment
	for _, c := range cached {
		list, err := libcni.NetworkConfFromBytes(c.Config)
		if err != nil {
			// Unusable cache entry: fall back to the current network below
			// rather than leave the pod impossible to tear down.
			slog.Warn("network: ignoring broken cni cache entry", "pod", p.ID, "network", c.Network, "err", err)
			continue
		}
		netns := c.NetNS
		if netns == "" {
			netns = p.NetNS
		}
		plan = append(plan, attachment{list, &libcni.RuntimeConf{
			ContainerID:    c.ContainerID,
			NetNS:          netns,
			IfName:         c.IfName,
			Args:           c.CniArgs,
			CapabilityArgs: c.CapabilityArgs,
		}, "cni cache"})
	}
	if len(plan) == 0 {
		// No cache: ADD never finished. The intent says what it was given.
		a, err := m.readIntent(p.ID)
		if err != nil {
			slog.Warn("network: ignoring broken cni intent", "pod", p.ID, "err", err)
		} else if a != nil {
			plan = append(plan, *a)
		}
	}
	if len(plan) == 0 {
		rt, err := runtimeConf(p, podIfName)
		if err != nil {
			return fmt.Errorf("network teardown for pod %s: %w", p.ID, err)
		}
		list, source, err := m.podNetwork(rt)
		if err != nil {
			// Nothing cached and nothing configured: there is no plugin
			// Krill could ask to undo anything.
			slog.Warn("network: no cni cache and no usable config, nothing to tear down", "pod", p.ID, "err", err)
			return nil
		}
		plan = append(plan, attachment{list, rt, source})
	}

	var errs []error
	// Every attachment gets its DEL even when another one fails: each
	// undoes its own part (veth, IP, rules), so the order does not matter.
	for _, a := range plan {
		if !isNetNS(a.rt.NetNS) {
			a.rt.NetNS = ""
		}
		if err := m.cni.DelNetworkList(ctx, a.list, a.rt); err != nil {
			errs = append(errs, fmt.Errorf("network teardown for pod %s: network %q from %s: %w: %w", p.ID, a.list.Name, a.source, err, failure(ctx)))
		}
	}
	if len(errs) == 0 {
		m.removeIntent(p.ID)
	}
	return errors.Join(errs...)
}

// runtimeConf builds the per-pod arguments of a CNI call: the Kubernetes
// CNI_ARGS plugins such as Calico or Multus read, and the capability
// arguments (portMappings for portmap, cgroupPath for plugins that want it).
func runtimeConf(p PodNetwork, ifName string) (*libcni.RuntimeConf, error) {
	args := [][2]string{
		{"IgnoreUnknown", "1"},
		{"K8S_POD_NAMESPACE", p.Namespace},
		{"K8S_POD_NAME", p.Name},
		{"K8S_POD_INFRA_CONTAINER_ID", p.ID},
		{"K8S_POD_UID", p.UID},
	}
	for _, a := range args {
		// CNI_ARGS is "K=V;K=V": a value holding ';' or '=' would forge keys.
		if strings.ContainsAny(a[1], ";=") {
			return nil, fmt.Errorf("cni arg %s=%q: %w", a[0], a[1], errdefs.ErrInvalidArgument)
		}
	}
	maps, err := portMappings(p.PortMappings)
	if err != nil {
		return nil, err
	}
	capArgs := map[string]any{}
	if len(maps) > 0 {
		capArgs["portMappings"] = maps
	}
	if p.CgroupParent != "" {
		capArgs["cgroupPath"] = p.CgroupParent
	}
	return &libcni.RuntimeConf{
		ContainerID:    p.ID,
		NetNS:          p.NetNS,
		IfName:         ifName,
		Args:           args,
		CapabilityArgs: capArgs,
	}, nil
}

// portMapping is one entry of the portMappings capability argument, as the
// portmap plugin reads it.
type portMapping struct {
	HostPort      int32  `json:"hostPort"`
	ContainerPort int32  `json:"containerPort"`
	Protocol      string `json:"protocol"`
	HostIP        string `json:"hostIP,omitempty"`
}

// portMappings converts CRI port mappings for portmap. A mapping without a
// host port only documents the container port: there is nothing to forward.
func portMappings(in []*runtime.PortMapping) ([]portMapping, error) {
	var out []portMapping
	for _, pm := range in {
		if pm == nil || pm.HostPort == 0 {
			continue
		}
		if pm.HostPort < 0 || pm.HostPort > 65535 || pm.ContainerPort <= 0 || pm.ContainerPort > 65535 {
			return nil, fmt.Errorf("port mapping %d->%d: port out of range: %w", pm.HostPort, pm.ContainerPort, errdefs.ErrInvalidArgument)
		}
		proto, ok := runtime.Protocol_name[int32(pm.Protocol)]
		if !ok {
			return nil, fmt.Errorf("port mapping %d->%d: protocol %d: %w", pm.HostPort, pm.ContainerPort, pm.Protocol, errdefs.ErrInvalidArgument)
		}
		if pm.HostIp != "" && net.ParseIP(pm.HostIp) == nil {
			return nil, fmt.Errorf("port mapping %d->%d: host ip %q: %w", pm.HostPort, pm.ContainerPort, pm.HostIp, errdefs.ErrInvalidArgument)
		}
		out = append(out, portMapping{
			HostPort:      pm.HostPort,
			ContainerPort: pm.ContainerPort,
			Protocol:      strings.ToLower(proto),
			HostIP:        pm.HostIp,
		})
	}
	return out, nil
}

// podIPs picks the pod's addresses from an ADD result: those on interfaces
// inside the pod (or not tied to any interface), first IPv4 first.
func podIPs(res types.Result) (*Result, error) {
	r, err := types100.NewResultFromResult(res)
	if err != nil {
		return nil, fmt.Errorf("convert cni result: %w", err)
	}
	var ips []net.IP
	for _, c := range r.IPs {
		if c.Interface != nil && *c.Interface >= 0 && *c.Interface < len(r.Interfaces) &&
			r.Interfaces[*c.Interface].Sandbox == "" {
			continue // host side of a veth, say
		}
		ips = append(ips, c.Address.IP)
	}
	if len(ips) == 0 {
		return nil, errors.New("cni result has no ip address for the pod")
	}
	first := 0
	for i, ip := range ips {
		if ip.To4() != nil {
			first = i
			break
		}
	}
	out := &Result{IP: ips[first].String()}
	for i, ip := range ips {
		if i != first {
			out.AdditionalIPs = append(out.AdditionalIPs, ip.String())
		}
	}
	return out, nil
}
