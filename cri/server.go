package cri

import (
	"log/slog"
	"sync"
	"sync/atomic"

	"google.golang.org/grpc"
	runtime "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/krill-runtime/krill/config"
	"github.com/krill-runtime/krill/events"
	"github.com/krill-runtime/krill/image"
	"github.com/krill-runtime/krill/network"
	"github.com/krill-runtime/krill/oci"
	"github.com/krill-runtime/krill/streaming"
)

// Server implements both CRI services. It holds no state of its own: every
// handler translates a CRI message into a call on one of the packages
// below and the answer back.
type Server struct {
	runtime.UnimplementedRuntimeServiceServer
	runtime.UnimplementedImageServiceServer

	cfg        *config.Config
	cgroups    Cgroups
	images     *image.Service
	network    *network.Manager
	pods       Pods
	containers Containers
	events     *events.Broadcaster
	runtimes   *oci.Handlers
	streams    *streaming.Server
	log        *slog.Logger

	// ready gates every RPC until start-up recovery has finished.
	ready atomic.Bool
	// closing ends long-lived streams (GetContainerEvents) at shutdown, so
	// a graceful stop does not wait for kubelet to hang up.
	closing chan struct{}
	closed  sync.Once
}

// Deps are the services a Server translates to.
type Deps struct {
	Config     *config.Config
	Cgroups    Cgroups // *cgroups.Manager
	Images     *image.Service
	Network    *network.Manager
	Pods       Pods       // *sandbox.Manager
	Containers Containers // *container.Manager
	Events     *events.Broadcaster
	Runtimes   *oci.Handlers
	Streams    *streaming.Server
	Log        *slog.Logger
}

// New returns a Server that answers Unavailable until SetReady is called.
func New(d Deps) *Server {
	s := &Server{
		cfg:        d.Config,
		cgroups:    d.Cgroups,
		images:     d.Images,
		network:    d.Network,
		pods:       d.Pods,
		containers: d.Containers,
		events:     d.Events,
		runtimes:   d.Runtimes,
		streams:    d.Streams,
		log:        d.Log,
		closing:    make(chan struct{}),
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	return s
}

// SetReady opens the init gate once recovery is done.
func (s *Server) SetReady() { s.ready.Store(true) }

// Close ends the event streams; unary calls in flight finish normally.
func (s *Server) Close() { s.closed.Do(func() { close(s.closing) }) }

// Register adds both CRI services to g, behind the one interceptor.
func (s *Server) Register(g *grpc.Server) {
	runtime.RegisterRuntimeServiceServer(g, s)
	runtime.RegisterImageServiceServer(g, s)
}

// ServerOptions returns the interceptors every Krill gRPC server uses.
func (s *Server) ServerOptions() []grpc.ServerOption {
	return []grpc.ServerOption{
		grpc.ChainUnaryInterceptor(s.unaryInterceptor),
		grpc.ChainStreamInterceptor(s.streamInterceptor),
	}
}
