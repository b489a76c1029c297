//go:build ignore

// kexec runs one command in a container through kubelet's streaming exec
// endpoint (/exec/<namespace>/<pod>/<container>), the way `kubectl exec`
// reaches it through the API server: SPDY upgrade, kubelet proxies the
// stream from the runtime's streaming server (CRI Exec). It prints the
// command's stdout and exits with the command's exit code.
//
// It links client-go, which the Krill module does not import, so it is built
// inside the kubelet build module by build.sh (hence the ignore constraint).
//
// Usage: kexec https://127.0.0.1:PORT NAMESPACE POD CONTAINER CMD [ARG...]
package main

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"time"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/remotecommand"
	"k8s.io/client-go/util/exec"
)

func main() {
	if len(os.Args) < 6 {
		fmt.Fprintln(os.Stderr, "usage: kexec https://HOST:PORT NAMESPACE POD CONTAINER CMD [ARG...]")
		os.Exit(2)
	}
	base, ns, pod, ctr, cmd := os.Args[1], os.Args[2], os.Args[3], os.Args[4], os.Args[5:]

	u, err := url.Parse(base)
	if err != nil {
		fmt.Fprintln(os.Stderr, "kexec:", err)
		os.Exit(2)
	}
	u.Path = fmt.Sprintf("/exec/%s/%s/%s", ns, pod, ctr)
	q := url.Values{"output": {"1"}, "error": {"1"}}
	for _, c := range cmd {
		q.Add("command", c)
	}
	u.RawQuery = q.Encode()

	// kubelet's serving certificate is self-signed; the connection only
	// ever goes to 127.0.0.1.
	cfg := &rest.Config{Host: base, TLSClientConfig: rest.TLSClientConfig{Insecure: true}}
	ex, err := remotecommand.NewSPDYExecutor(cfg, "POST", u)
	if err != nil {
		fmt.Fprintln(os.Stderr, "kexec:", err)
		os.Exit(2)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err = ex.StreamWithContext(ctx, remotecommand.StreamOptions{Stdout: os.Stdout, Stderr: os.Stderr})
	var ee exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		os.Exit(ee.ExitStatus())
	default:
		fmt.Fprintln(os.Stderr, "kexec:", err)
		os.Exit(3)
	}
}
