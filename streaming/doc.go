// Package streaming serves the CRI streaming calls — Exec, Attach and
// PortForward — and runs ExecSync.
//
// The CRI calls Exec, Attach and PortForward do not stream anything over
// gRPC: they return a URL. The client (kubelet, crictl) then connects to that
// URL and speaks SPDY or WebSocket to it. This package owns that HTTP server.
// The protocol work (stream negotiation, framing, the exit-code status
// message, resize events) is done by the kubelet's own library,
// k8s.io/cri-streaming/pkg/streaming; Krill only plugs a Backend into it.
//
// The life of `crictl exec -it c1 sh`:
//
//  1. cri.Exec calls Server.GetExec. It validates the request (a command, at
//     least one stream, no stderr with a TTY), asks the Backend whether the
//     container is running, and stores the request in the library's request
//     cache under a random single-use token. The token expires after one
//     minute (the library's cacheTTL) and at most 1000 may be pending.
//  2. crictl connects to http://<address>:<port>/exec/<token>. The library
//     consumes the token (a second use gets 404), upgrades the connection
//     and calls back into Backend.Exec with the streams.
//  3. When Backend.Exec returns a non-zero exit code, the code is handed to
//     the library as a k8s.io/utils/exec.ExitError: that is the only shape
//     the library turns into the "NonZeroExitCode" status from which crictl
//     and kubectl take their own exit code.
//
// PortForward dials 127.0.0.1:<port> (then [::1]:<port>) from inside the
// pod's network namespace: the socket is created on an OS thread that has
// joined the namespace, and is then used from any goroutine (a socket stays
// in the namespace it was created in).
//
// ExecSync runs a command to completion with captured output (probes, critest),
// keeping at most MaxExecSyncOutput bytes of both streams together (what
// fits in kubelet's largest message) and killing the process
// (through context cancellation reaching the Backend) when the timeout expires.
//
// This package must never know how a process is started in a container
// (runc, shims, OCI specs): that is the Backend's job, supplied by the
// container layer. It must never hand-write SPDY or WebSocket framing, and it
// never serves on anything but its own listener.
package streaming
