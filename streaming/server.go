package streaming

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"

	"github.com/containerd/errdefs"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	runtime "k8s.io/cri-api/pkg/apis/runtime/v1"
	criStreaming "k8s.io/cri-streaming/pkg/streaming"
	utilexec "k8s.io/utils/exec"
)

// Config is the streaming server's listen address and timeouts.
type Config struct {
	// Address is the IP to listen on; "" means 127.0.0.1. The server has no
	// authentication or TLS (kubelet proxies every stream from the same
	// node), so anything but loopback exposes exec into every container.
	Address string
	// Port to listen on; 0 picks a free port.
	Port int
	// StreamIdleTimeout closes a session with no traffic for this long;
	// 0 means 4h (kubelet's and containerd's default).
	StreamIdleTimeout time.Duration
	// StreamCreationTimeout bounds how long a SPDY client may take to open
	// its streams after the upgrade; 0 means 30s.
	StreamCreationTimeout time.Duration
}

// Server is the streaming HTTP server. GetExec, GetAttach and GetPortForward
// may be called as soon as New returns; sessions are served after Start.
type Server struct {
	backend Backend
	lib     criStreaming.Server
	ln      *trackingListener
	http    *http.Server
	url     *url.URL

	// ctx is the parent of every session's context; Stop cancels it so that
	// Backends kill what they started.
	ctx    context.Context
	cancel context.CancelFunc

	// active counts Backend calls in progress; idle is closed while it is 0.
	activeMu sync.Mutex
	active   int
	idle     chan struct{}

	mu        sync.Mutex
	started   bool
	stopped   bool
	serveDone chan struct{}
	serveErr  error
}

// New binds the listener (so the port is known and URLs are right from the
// start) and builds the server. It does not serve until Start.
func New(cfg Config, b Backend) (*Server, error) {
	if b == nil {
		return nil, fmt.Errorf("streaming server: nil backend: %w", errdefs.ErrInvalidArgument)
	}
	if cfg.Address == "" {
		cfg.Address = "127.0.0.1"
	}
	ip := net.ParseIP(cfg.Address)
	if ip == nil {
		return nil, fmt.Errorf("streaming server address %q is not an IP: %w", cfg.Address, errdefs.ErrInvalidArgument)
	}
	if cfg.Port < 0 || cfg.Port > 65535 {
		return nil, fmt.Errorf("streaming server port %d out of range: %w", cfg.Port, errdefs.ErrInvalidArgument)
	}
	if cfg.StreamIdleTimeout < 0 || cfg.StreamCreationTimeout < 0 {
		return nil, fmt.Errorf("streaming server timeouts must not be negative: %w", errdefs.ErrInvalidArgument)
	}
	libCfg := criStreaming.DefaultConfig
	if cfg.StreamIdleTimeout > 0 {
		libCfg.StreamIdleTimeout = cfg.StreamIdleTimeout
	}
	if cfg.StreamCreationTimeout > 0 {
		libCfg.StreamCreationTimeout = cfg.StreamCreationTimeout
	}

	l, err := net.Listen("tcp", net.JoinHostPort(ip.String(), strconv.Itoa(cfg.Port)))
	if err != nil {
		return nil, fmt.Errorf("streaming server listen on %s port %d: %w", cfg.Address, cfg.Port, err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	// A wildcard address cannot be dialled; the client of these URLs
	// (kubelet) runs on this node, so loopback reaches the wildcard listener.
	urlIP := ip
	if ip.IsUnspecified() {
		urlIP = net.IPv4(127, 0, 0, 1)
		if ip.To4() == nil {
			urlIP = net.IPv6loopback
		}
	}
	base := &url.URL{Scheme: "http", Host: net.JoinHostPort(urlIP.String(), strconv.Itoa(port))}
	libCfg.Addr = l.Addr().String()
	libCfg.BaseURL = base

	ctx, cancel := context.WithCancel(context.Background())
	s := &Server{
		backend:   b,
		ln:        &trackingListener{Listener: l, conns: map[*trackedConn]struct{}{}},
		url:       base,
		ctx:       ctx,
		cancel:    cancel,
		serveDone: make(chan struct{}),
		idle:      make(chan struct{}),
	}
	close(s.idle)
	lib, err := criStreaming.NewServer(libCfg, &libRuntime{s: s})
	if err != nil {
		cancel()
		l.Close()
		return nil, fmt.Errorf("streaming server: %w", err)
	}
	s.lib = lib
	// The library's own Start would open a second listener and rewrite its
	// URL host after the fact; Krill serves the library's handler on the
	// listener bound above instead.
	s.http = &http.Server{
		Handler:           lib,
		ReadHeaderTimeout: 30 * time.Second,
		BaseContext:       func(net.Listener) context.Context { return ctx },
	}
	return s, nil
}

// URL is the server's base URL, e.g. http://127.0.0.1:40123.
func (s *Server) URL() string { return s.url.String() }

// Start serves in the background and returns at once.
func (s *Server) Start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopped {
		return fmt.Errorf("streaming server already stopped: %w", errdefs.ErrFailedPrecondition)
	}
	if s.started {
		return fmt.Errorf("streaming server already started: %w", errdefs.ErrAlreadyExists)
	}
	s.started = true
	go func() {
		defer close(s.serveDone)
		err := s.http.Serve(s.ln)
		if !errors.Is(err, http.ErrServerClosed) {
			s.serveErr = err
		}
	}()
	return nil
}

// Stop ends every session: session contexts are cancelled (Backends kill
// their exec processes), the listener and all connections, including
// upgraded ones that http.Server no longer tracks, are closed, and Stop
// waits up to stopGrace for Backend calls to return. Idempotent.
func (s *Server) Stop() error {
	s.mu.Lock()
	if s.stopped {
		s.mu.Unlock()
		return nil
	}
	s.stopped = true
	started := s.started
	s.mu.Unlock()

	s.cancel()
	err := s.http.Close()
	s.ln.closeAll()
	// Give Backends a bounded time to kill and reap what they started, so
	// that a daemon shutting down does not leave exec processes behind.
	s.activeMu.Lock()
	idle := s.idle
	s.activeMu.Unlock()
	select {
	case <-idle:
	case <-time.After(stopGrace):
		slog.Warn("streaming server stopped with backend calls still running", "grace", stopGrace)
	}
	if started {
		<-s.serveDone
		if s.serveErr != nil {
			err = s.serveErr
		}
	} else {
		s.ln.Close()
	}
	if err != nil {
		return fmt.Errorf("stop streaming server: %w", err)
	}
	return nil
}

// stopGrace bounds how long Stop waits for Backend calls to notice their
// cancelled context.
const stopGrace = 10 * time.Second

// begin marks a Backend call in progress; the returned func ends it.
func (s *Server) begin() func() {
	s.activeMu.Lock()
	defer s.activeMu.Unlock()
	if s.active == 0 {
		s.idle = make(chan struct{})
	}
	s.active++
	return func() {
		s.activeMu.Lock()
		defer s.activeMu.Unlock()
		s.active--
		if s.active == 0 {
			close(s.idle)
		}
	}
}

// GetExec validates req and returns a single-use URL for it.
func (s *Server) GetExec(req *runtime.ExecRequest) (*runtime.ExecResponse, error) {
	if req == nil {
		return nil, fmt.Errorf("exec: empty request: %w", errdefs.ErrInvalidArgument)
	}
	if err := validateStreams("exec", req.ContainerId, req.Stdin, req.Stdout, req.Stderr, req.Tty); err != nil {
		return nil, err
	}
	if len(req.Cmd) == 0 || req.Cmd[0] == "" {
		return nil, fmt.Errorf("exec in container %s: no command: %w", req.ContainerId, errdefs.ErrInvalidArgument)
	}
	if err := s.backend.ContainerRunning(req.ContainerId); err != nil {
		return nil, fmt.Errorf("exec in container %s: %w", req.ContainerId, err)
	}
	resp, err := s.lib.GetExec(req)
	if err != nil {
		return nil, fmt.Errorf("exec in container %s: %w", req.ContainerId, fromLibError(err))
	}
	return resp, nil
}

// GetAttach validates req and returns a single-use URL for it.
func (s *Server) GetAttach(req *runtime.AttachRequest) (*runtime.AttachResponse, error) {
	if req == nil {
		return nil, fmt.Errorf("attach: empty request: %w", errdefs.ErrInvalidArgument)
	}
	if err := validateStreams("attach", req.ContainerId, req.Stdin, req.Stdout, req.Stderr, req.Tty); err != nil {
		return nil, err
	}
	if err := s.backend.ContainerRunning(req.ContainerId); err != nil {
		return nil, fmt.Errorf("attach to container %s: %w", req.ContainerId, err)
	}
	resp, err := s.lib.GetAttach(req)
	if err != nil {
		return nil, fmt.Errorf("attach to container %s: %w", req.ContainerId, fromLibError(err))
	}
	return resp, nil
}

// GetPortForward validates req and returns a single-use URL for it. The
// ports in req only matter to WebSocket clients; SPDY clients name the port
// per stream.
func (s *Server) GetPortForward(req *runtime.PortForwardRequest) (*runtime.PortForwardResponse, error) {
	if req == nil {
		return nil, fmt.Errorf("port forward: empty request: %w", errdefs.ErrInvalidArgument)
	}
	if req.PodSandboxId == "" {
		return nil, fmt.Errorf("port forward: no pod sandbox id: %w", errdefs.ErrInvalidArgument)
	}
	for _, p := range req.Port {
		if err := validPort(p); err != nil {
			return nil, fmt.Errorf("port forward to pod %s: %w", req.PodSandboxId, err)
		}
	}
	if _, err := s.backend.PodNetNS(req.PodSandboxId); err != nil {
		return nil, fmt.Errorf("port forward to pod %s: %w", req.PodSandboxId, err)
	}
	resp, err := s.lib.GetPortForward(req)
	if err != nil {
		return nil, fmt.Errorf("port forward to pod %s: %w", req.PodSandboxId, fromLibError(err))
	}
	return resp, nil
}

// validateStreams applies kubelet's rules for exec and attach requests.
func validateStreams(op, id string, stdin, stdout, stderr, tty bool) error {
	if id == "" {
		return fmt.Errorf("%s: no container id: %w", op, errdefs.ErrInvalidArgument)
	}
	if tty && stderr {
		// A terminal merges stderr into stdout; there is no second stream.
		return fmt.Errorf("%s in container %s: tty and stderr cannot both be set: %w", op, id, errdefs.ErrInvalidArgument)
	}
	if !stdin && !stdout && !stderr {
		return fmt.Errorf("%s in container %s: one of stdin, stdout or stderr must be set: %w", op, id, errdefs.ErrInvalidArgument)
	}
	return nil
}

func validPort(p int32) error {
	if p <= 0 || p > 65535 {
		return fmt.Errorf("port %d out of range: %w", p, errdefs.ErrInvalidArgument)
	}
	return nil
}

// fromLibError turns the library's gRPC status errors into errdefs ones so
// that cri/errors.go stays the one place that picks gRPC codes.
func fromLibError(err error) error {
	st, ok := status.FromError(err)
	if !ok {
		return err
	}
	var kind error
	switch st.Code() {
	case codes.InvalidArgument:
		kind = errdefs.ErrInvalidArgument
	case codes.ResourceExhausted:
		kind = errdefs.ErrResourceExhausted
	case codes.NotFound:
		kind = errdefs.ErrNotFound
	default:
		kind = errdefs.ErrUnknown
	}
	return fmt.Errorf("%s: %w", st.Message(), kind)
}

// libRuntime is the library's view of Krill: it adapts Backend to
// criStreaming.Runtime.
type libRuntime struct{ s *Server }

func (r *libRuntime) Exec(ctx context.Context, id string, cmd []string, in io.Reader, out, errw io.WriteCloser, tty bool, resize <-chan TerminalSize) error {
	defer r.s.begin()()
	code, err := r.s.backend.Exec(ctx, id, cmd, tty, in, out, errw, resize)
	if err != nil {
		return fmt.Errorf("exec in container %s: %w", id, err)
	}
	if code != 0 {
		// The library type-asserts (no errors.As) for this exact interface
		// to send the exit code to the client: it must not be wrapped.
		return utilexec.CodeExitError{Err: fmt.Errorf("exit code %d", code), Code: code}
	}
	return nil
}

func (r *libRuntime) Attach(ctx context.Context, id string, in io.Reader, out, errw io.WriteCloser, tty bool, resize <-chan TerminalSize) error {
	defer r.s.begin()()
	if err := r.s.backend.Attach(ctx, id, in, out, errw, tty, resize); err != nil {
		return fmt.Errorf("attach to container %s: %w", id, err)
	}
	return nil
}

// PortForward is called once per forwarded connection. The library passes
// context.Background(), so the server's own context is used to end
// forwards on Stop.
func (r *libRuntime) PortForward(_ context.Context, podID string, port int32, stream io.ReadWriteCloser) error {
	defer r.s.begin()()
	if err := validPort(port); err != nil {
		return fmt.Errorf("port forward to pod %s: %w", podID, err)
	}
	netns, err := r.s.backend.PodNetNS(podID)
	if err != nil {
		return fmt.Errorf("port forward to pod %s: %w", podID, err)
	}
	conn, err := dialPod(r.s.ctx, netns, int(port))
	if err != nil {
		return fmt.Errorf("port forward to pod %s port %d: %w", podID, port, err)
	}
	if err := forward(r.s.ctx, conn, stream); err != nil {
		return fmt.Errorf("port forward to pod %s port %d: %w", podID, port, err)
	}
	return nil
}

// trackingListener remembers every accepted connection until it is closed.
// http.Server forgets connections once they are hijacked (every exec,
// attach and port-forward session is), so this is how Stop reaches them.
type trackingListener struct {
	net.Listener
	mu     sync.Mutex
	conns  map[*trackedConn]struct{}
	closed bool
}

func (l *trackingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	tc := &trackedConn{Conn: c, l: l}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		c.Close()
		return nil, net.ErrClosed
	}
	l.conns[tc] = struct{}{}
	return tc, nil
}

func (l *trackingListener) closeAll() {
	l.mu.Lock()
	l.closed = true
	conns := make([]*trackedConn, 0, len(l.conns))
	for c := range l.conns {
		conns = append(conns, c)
	}
	l.mu.Unlock()
	for _, c := range conns {
		c.Close()
	}
}

type trackedConn struct {
	net.Conn
	l    *trackingListener
	once sync.Once
	err  error
}

func (c *trackedConn) Close() error {
	c.once.Do(func() {
		c.l.mu.Lock()
		delete(c.l.conns, c)
		c.l.mu.Unlock()
		c.err = c.Conn.Close()
	})
	return c.err
}
