package image

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/containerd/containerd/v2/core/content"
	"github.com/containerd/containerd/v2/core/diff"
	"github.com/containerd/containerd/v2/core/diff/apply"
	"github.com/containerd/containerd/v2/core/images"
	"github.com/containerd/containerd/v2/core/leases"
	"github.com/containerd/containerd/v2/core/metadata"
	"github.com/containerd/containerd/v2/core/mount"
	"github.com/containerd/containerd/v2/core/snapshots"
	"github.com/containerd/containerd/v2/pkg/namespaces"
	"github.com/containerd/containerd/v2/plugins/content/local"
	"github.com/containerd/containerd/v2/plugins/snapshots/overlay"
	"github.com/containerd/errdefs"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	bolt "go.etcd.io/bbolt"
	"golang.org/x/sync/singleflight"
)

// Config configures the image service.
type Config struct {
	Root               string        // root/images
	RegistryConfigPath string        // dir of <host>/hosts.toml (containerd format); "" = none
	ProgressTimeout    time.Duration // a pull with no byte of progress for this long fails
	PullTimeout        time.Duration // a pull taking longer than this in all fails; 0 = no limit
	// MaxConcurrentDownloads bounds the blobs one pull fetches at once;
	// 0 = DefaultMaxConcurrentDownloads.
	MaxConcurrentDownloads int
	// PinnedImages are image names (normalised like a pull's) reported
	// Pinned, so kubelet's image garbage collection never removes them;
	// the pause image always is.
	PinnedImages []string
	PauseImage   string        // e.g. registry.k8s.io/pause:3.10
	PauseBinary  string        // path of the static pause binary for the built-in fallback image
	UsageRefresh time.Duration // how often FsInfo's answer is measured again; 0 = DefaultUsageRefresh

	// Logger receives pull progress and GC messages; nil means slog.Default().
	Logger *slog.Logger
}

// Image is what the rest of Krill knows about one local image.
type Image struct {
	ID          string              // "sha256:<config digest>"
	RepoTags    []string            // "registry.k8s.io/pause:3.10"
	RepoDigests []string            // "registry.k8s.io/pause@sha256:..."
	Size        uint64              // sum of the compressed blobs (manifest layers + config) in bytes
	Config      ocispec.ImageConfig // User, Env, Entrypoint, Cmd, WorkingDir, Volumes, StopSignal, Labels
	Pinned      bool                // the pause image, or named by Config.PinnedImages

	// Spec is the whole OCI image config (platform, history, rootfs), for
	// verbose status output.
	Spec ocispec.Image
	// ChainID names the committed snapshot holding the unpacked layers.
	ChainID string
}

const (
	// namespace is the containerd metadata namespace every record lives in.
	namespace = "krill"
	// snapshotterName is both the metadata key of the snapshotter and the
	// suffix of the containerd.io/gc.ref.snapshot.<name> labels the
	// unpacker writes, so GC can follow config -> snapshot chain.
	snapshotterName = "overlayfs"

	labelImageID = "io.krill.image.id"
	labelPinned  = "io.krill.image.pinned"
	labelGCRoot  = "containerd.io/gc.root"

	// defaultProgressTimeout is containerd's image_pull_progress_timeout.
	defaultProgressTimeout = 5 * time.Minute
	// DefaultMaxConcurrentDownloads is containerd's max_concurrent_downloads.
	DefaultMaxConcurrentDownloads = 3
)

// Service is the image store. All methods are safe for concurrent use.
type Service struct {
	cfg Config
	log *slog.Logger

	bdb         *bolt.DB
	db          *metadata.DB
	content     content.Store
	snapshotter snapshots.Snapshotter
	backend     snapshots.Snapshotter // the overlay snapshotter under the metadata one, closed on Close
	images      images.Store
	leases      leases.Manager
	applier     diff.Applier

	pulls  singleflight.Group
	layers *keyMutex // suppresses duplicate fetch/unpack of one blob or chain across pulls

	// mu orders changes to image records against each other, so that
	// "is this the last tag?" and the garbage collection that follows
	// see one consistent picture.
	mu sync.Mutex

	metaMu sync.Mutex
	meta   map[string]*imageMeta // by image ID; derived from immutable content

	pinned  map[string]bool // normalised Config.PinnedImages
	usage   usageCache      // FsInfo's last measure, refreshed in the background
	collect collector       // background garbage collection after rootfs removals
}

// New opens (or creates) the image store under cfg.Root.
func New(ctx context.Context, cfg Config) (*Service, error) {
	if cfg.Root == "" {
		return nil, fmt.Errorf("image store root not set: %w", errdefs.ErrInvalidArgument)
	}
	if cfg.ProgressTimeout <= 0 {
		cfg.ProgressTimeout = defaultProgressTimeout
	}
	if cfg.MaxConcurrentDownloads <= 0 {
		cfg.MaxConcurrentDownloads = DefaultMaxConcurrentDownloads
	}
	if cfg.UsageRefresh <= 0 {
		cfg.UsageRefresh = DefaultUsageRefresh
	}
	s := &Service{cfg: cfg, log: cfg.Logger, layers: newKeyMutex(), meta: map[string]*imageMeta{}, pinned: map[string]bool{}}
	for _, ref := range cfg.PinnedImages {
		named, err := normalize(ref)
		if err != nil {
			return nil, fmt.Errorf("pinned image: %w", err)
		}
		s.pinned[named.String()] = true
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	// 0700: blobs of private images and unpacked layers (with their
	// setuid binaries) are for root only. Chmod fixes an older 0711 store.
	if err := os.MkdirAll(cfg.Root, 0o700); err != nil {
		return nil, fmt.Errorf("create image store: %w", err)
	}
	if err := os.Chmod(cfg.Root, 0o700); err != nil {
		return nil, fmt.Errorf("create image store: %w", err)
	}
	if err := cleanTempMounts(filepath.Join(cfg.Root, "tmpmounts"), s.log); err != nil {
		return nil, err
	}
	cs, err := local.NewStore(filepath.Join(cfg.Root, "content"))
	if err != nil {
		return nil, fmt.Errorf("open content store: %w", err)
	}
	sn, err := overlay.NewSnapshotter(filepath.Join(cfg.Root, "snapshots"))
	if err != nil {
		return nil, fmt.Errorf("open overlay snapshotter: %w", err)
	}
	bdb, err := bolt.Open(filepath.Join(cfg.Root, "meta.db"), 0o600, &bolt.Options{Timeout: 5 * time.Second})
	if err != nil {
		sn.Close()
		return nil, fmt.Errorf("open image metadata db (is another krilld running?): %w", err)
	}
	db := metadata.NewDB(bdb, cs, map[string]snapshots.Snapshotter{snapshotterName: sn})
	ctx = s.ns(ctx)
	if err := db.Init(ctx); err != nil {
		bdb.Close()
		sn.Close()
		return nil, fmt.Errorf("init image metadata db: %w", err)
	}
	s.bdb, s.db, s.backend = bdb, db, sn
	s.content = db.ContentStore()
	s.snapshotter = db.Snapshotter(snapshotterName)
	s.images = metadata.NewImageStore(db)
	s.leases = metadata.NewLeaseManager(db)
	s.applier = timedApplier{apply.NewFileSystemApplier(s.content)}

	// Leases only ever protect pulls in flight; any lease found at start
	// belongs to a pull a previous krilld did not finish. Dropping them and
	// collecting garbage removes its half-written blobs and snapshots.
	if err := s.dropStaleLeases(ctx); err != nil {
		s.Close()
		return nil, err
	}
	s.usage.stop, s.usage.kick = make(chan struct{}), make(chan struct{}, 1)
	s.usage.stopped.Add(1)
	go s.refreshUsage(cfg.UsageRefresh)
	s.collect.stop, s.collect.kick = make(chan struct{}), make(chan struct{}, 1)
	s.collect.stopped.Add(1)
	go s.gcLoop()
	return s, nil
}

// Close stops the background work and releases the database and the
// snapshotter.
func (s *Service) Close() error {
	if s.collect.stop != nil {
		close(s.collect.stop)
		s.collect.stopped.Wait()
		s.collect.stop = nil
	}
	if s.usage.stop != nil {
		close(s.usage.stop)
		s.usage.stopped.Wait()
		s.usage.stop = nil
	}
	var errs []error
	if s.backend != nil {
		errs = append(errs, s.backend.Close())
	}
	if s.bdb != nil {
		errs = append(errs, s.bdb.Close())
	}
	return errors.Join(errs...)
}

// ns puts Krill's metadata namespace on ctx; every metadata call needs one.
func (s *Service) ns(ctx context.Context) context.Context {
	return namespaces.WithNamespace(ctx, namespace)
}

func (s *Service) dropStaleLeases(ctx context.Context) error {
	ls, err := s.leases.List(ctx)
	if err != nil {
		return fmt.Errorf("list leases: %w", err)
	}
	for _, l := range ls {
		if err := s.leases.Delete(ctx, l); err != nil && !errdefs.IsNotFound(err) {
			return fmt.Errorf("delete stale lease %s: %w", l.ID, err)
		}
	}
	return s.gc(ctx)
}

// withLease returns a ctx under which every blob, ingest and snapshot
// created is held by a fresh lease, so a concurrent garbage collection
// cannot take them before an image record references them. done deletes
// the lease; the expiry only matters if krilld dies mid-pull.
func (s *Service) withLease(ctx context.Context) (context.Context, func(context.Context) error, error) {
	l, err := s.leases.Create(ctx, leases.WithRandomID(), leases.WithExpiration(24*time.Hour))
	if err != nil {
		return nil, nil, fmt.Errorf("create lease: %w", err)
	}
	return leases.WithLease(ctx, l.ID), func(ctx context.Context) error {
		return s.leases.Delete(ctx, l)
	}, nil
}

// gc removes every blob, ingest and snapshot no image record, lease or
// rootfs snapshot still references, from the database and from disk.
func (s *Service) gc(ctx context.Context) error {
	start := time.Now()
	st, err := s.db.GarbageCollect(ctx)
	if err != nil {
		return fmt.Errorf("image garbage collection: %w", err)
	}
	s.log.Debug("image garbage collection", "took", time.Since(start), "stats", fmt.Sprint(st))
	return nil
}

// cleanTempMounts points containerd's temporary mounts (the applier mounts
// a layer's parent snapshot to unpack into it) at dir, which only this
// krilld uses, and unmounts what a krilld killed during an unpack left
// there: in the shared /tmp they would stay mounted forever. containerd
// does the same at start.
func cleanTempMounts(dir string, log *slog.Logger) error {
	if err := mount.SetTempMountLocation(dir); err != nil {
		return fmt.Errorf("temp mount location: %w", err)
	}
	warnings, err := mount.CleanupTempMounts(0)
	if err != nil {
		return fmt.Errorf("clean up temp mounts: %w", err)
	}
	for _, w := range warnings {
		log.Warn("clean up temp mount", "err", w)
	}
	return nil
}
