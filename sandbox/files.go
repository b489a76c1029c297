package sandbox

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
	runtime "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/krill-runtime/krill/store"
)

// shmSize is the size of a pod's /dev/shm, as Docker and containerd default.
const shmSize = 64 << 20

// writePodFiles writes the files every container of the pod bind-mounts:
// /etc/hostname, /etc/hosts, /etc/resolv.conf, and mounts the pod's
// /dev/shm tmpfs (shared by its containers because they share the IPC
// namespace; POSIX shm lives in /dev/shm, SysV shm in the IPC namespace).
func (m *Manager) writePodFiles(p store.Pod) error {
	dir := m.podDir(p.ID)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	if err := ShareWithUserns(p.Config, dir); err != nil {
		return err
	}
	hostnamePath, hostsPath, resolvPath, shmPath := m.HostFiles(p)

	nsOpts := p.Config.GetLinux().GetSecurityContext().GetNamespaceOptions()
	hostname := p.Config.GetHostname()
	if nsOpts.GetNetwork() == runtime.NamespaceMode_NODE || hostname == "" {
		h, err := os.Hostname()
		if err != nil {
			return err
		}
		if hostname == "" {
			hostname = h
		}
	}
	if err := os.WriteFile(hostnamePath, []byte(hostname+"\n"), 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(hostsPath, hostsFile(p, hostname), 0o644); err != nil {
		return err
	}
	resolv, err := resolvConf(p.Config.GetDnsConfig())
	if err != nil {
		return err
	}
	if err := os.WriteFile(resolvPath, resolv, 0o644); err != nil {
		return err
	}
	if shmPath != "/dev/shm" {
		if err := os.MkdirAll(shmPath, 0o700); err != nil {
			return err
		}
		opts := fmt.Sprintf("mode=1777,size=%d", shmSize)
		if err := unix.Mount("shm", shmPath, "tmpfs", unix.MS_NOEXEC|unix.MS_NOSUID|unix.MS_NODEV, opts); err != nil {
			return fmt.Errorf("mount pod shm: %w", err)
		}
	}
	return nil
}

// hostsFile is the pod's /etc/hosts: localhost entries and the pod's own
// name, as kubelet expects for pods whose hosts file it does not manage.
func hostsFile(p store.Pod, hostname string) []byte {
	if p.Config.GetLinux().GetSecurityContext().GetNamespaceOptions().GetNetwork() == runtime.NamespaceMode_NODE {
		if b, err := os.ReadFile("/etc/hosts"); err == nil {
			return b
		}
	}
	var b bytes.Buffer
	b.WriteString("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n")
	b.WriteString("fe00::0\tip6-localnet\nfe00::0\tip6-mcastprefix\nfe00::1\tip6-allnodes\nfe00::2\tip6-allrouters\n")
	if p.IP != "" {
		fmt.Fprintf(&b, "%s\t%s\n", p.IP, hostname)
	}
	return b.Bytes()
}

// resolvConf renders the CRI DNS config; with none the pod gets the host's
// resolv.conf (kubelet's dnsPolicy Default sends none).
func resolvConf(dns *runtime.DNSConfig) ([]byte, error) {
	if dns == nil || (len(dns.Servers) == 0 && len(dns.Searches) == 0 && len(dns.Options) == 0) {
		b, err := os.ReadFile("/etc/resolv.conf")
		if os.IsNotExist(err) {
			return nil, nil
		}
		return b, err
	}
	var b bytes.Buffer
	for _, s := range dns.Servers {
		fmt.Fprintf(&b, "nameserver %s\n", s)
	}
	if len(dns.Searches) > 0 {
		fmt.Fprintf(&b, "search %s\n", strings.Join(dns.Searches, " "))
	}
	if len(dns.Options) > 0 {
		fmt.Fprintf(&b, "options %s\n", strings.Join(dns.Options, " "))
	}
	return b.Bytes(), nil
}

// removePodFiles unmounts the shm tmpfs and deletes the pod directory.
func (m *Manager) removePodFiles(id string) error {
	dir := m.podDir(id)
	shm := filepath.Join(dir, "shm")
	if err := unix.Unmount(shm, unix.MNT_DETACH); err != nil && err != unix.EINVAL && err != unix.ENOENT {
		return fmt.Errorf("unmount pod shm: %w", err)
	}
	return os.RemoveAll(dir)
}
