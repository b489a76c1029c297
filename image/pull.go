package image

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/containerd/containerd/v2/core/images"
	"github.com/containerd/containerd/v2/core/remotes"
	"github.com/containerd/containerd/v2/core/remotes/docker"
	dockerconfig "github.com/containerd/containerd/v2/core/remotes/docker/config"
	remoteerrors "github.com/containerd/containerd/v2/core/remotes/errors"
	"github.com/containerd/containerd/v2/core/unpack"
	"github.com/containerd/errdefs"
	"github.com/containerd/platforms"
	"github.com/distribution/reference"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"golang.org/x/sync/semaphore"
	runtime "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/krill-runtime/krill/metrics"
)

// Pull fetches ref from its registry (or the mirrors hosts.toml names for
// it), unpacks it for linux/amd64 (the default platform) and records it
// under its normalised name. Identical concurrent pulls share one fetch.
func (s *Service) Pull(ctx context.Context, ref string, auth *runtime.AuthConfig) (*Image, error) {
	named, err := normalize(ref)
	if err != nil {
		return nil, err
	}
	creds, err := newCredentials(auth)
	if err != nil {
		return nil, fmt.Errorf("pull %s: %w", named, err)
	}
	// Pulls are shared only between callers presenting the same
	// credentials: a caller without access must not ride on another's pull.
	key := named.String() + "\x00" + creds.fingerprint()

	// The shared pull must not die because the first caller gave up while
	// others still wait; the progress timeout bounds it instead.
	ch := s.pulls.DoChan(key, func() (any, error) {
		return s.pull(context.WithoutCancel(ctx), named, creds)
	})
	select {
	case res := <-ch:
		if res.Err != nil {
			return nil, res.Err
		}
		return s.Get(ctx, res.Val.(string))
	case <-ctx.Done():
		return nil, fmt.Errorf("pull %s: %w", named, ctx.Err())
	}
}

// pull does one real pull and returns the image ID.
func (s *Service) pull(ctx context.Context, named reference.Named, creds *credentials) (_ string, retErr error) {
	ctx = s.ns(ctx)
	log := s.log.With("image", named.String())
	start := time.Now()
	log.Info("pulling image")

	ctx, done, err := s.withLease(ctx)
	if err != nil {
		return "", err
	}
	defer func() {
		if err := done(context.WithoutCancel(ctx)); err != nil {
			log.Warn("delete pull lease", "err", err)
		}
		if retErr != nil {
			// Nothing of a failed pull may stay behind: with its lease
			// gone, GC drops its ingests, blobs and unpacked layers
			// (layers another image references are kept).
			if err := s.gc(context.WithoutCancel(ctx)); err != nil {
				log.Warn("clean up after failed pull", "err", err)
			}
			retErr = creds.redact(retErr)
			log.Warn("pull failed", "took", time.Since(start), "err", retErr)
		}
	}()

	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	if s.cfg.PullTimeout > 0 {
		var stop context.CancelFunc
		ctx, stop = context.WithTimeoutCause(ctx, s.cfg.PullTimeout, fmt.Errorf("%w (%s)", errTooLong, s.cfg.PullTimeout))
		defer stop()
	}
	progress := newProgress(s.cfg.ProgressTimeout, cancel, log)
	go progress.watch(ctx)
	defer func() {
		metrics.ObservePull(progress.bytes.Load(), time.Since(start), failureReason(retErr))
	}()

	resolver := docker.NewResolver(docker.ResolverOptions{
		Hosts: creds.hosts(dockerconfig.HostOptions{
			HostDir: s.hostDir(),
			UpdateClient: func(c *http.Client) error {
				c.Transport = progress.wrap(creds.wrapTransport(c.Transport))
				return nil
			},
		}),
	})

	name, desc, err := resolver.Resolve(ctx, named.String())
	if err != nil {
		return "", s.pullError(ctx, named, "resolve", err)
	}
	fetcher, err := resolver.Fetcher(ctx, name)
	if err != nil {
		return "", s.pullError(ctx, named, "fetch", err)
	}
	if desc.MediaType == images.MediaTypeDockerSchema1Manifest {
		return "", fmt.Errorf("pull %s: docker schema 1 images are not supported: %w", named, errdefs.ErrNotImplemented)
	}

	if err := s.fetchAndUnpack(ctx, desc, remotes.FetchHandler(s.content, fetcher)); err != nil {
		return "", s.pullError(ctx, named, "fetch and unpack", err)
	}

	cfg, err := s.configDigest(ctx, desc)
	if err != nil {
		return "", s.pullError(ctx, named, "read", err)
	}
	id := cfg.String()

	s.mu.Lock()
	defer s.mu.Unlock()
	if _, tagged := named.(reference.Tagged); tagged {
		if err := s.putRecord(ctx, named.String(), desc, id, false); err != nil {
			return "", err
		}
	}
	// The digest record lets the image be found (and kept) by the
	// manifest digest it was pulled at.
	if err := s.putRecord(ctx, named.Name()+"@"+desc.Digest.String(), desc, id, false); err != nil {
		return "", err
	}
	s.usage.changed()
	log.Info("pulled image", "id", id, "bytes", progress.bytes.Load(), "took", time.Since(start))
	return id, nil
}

// fetchAndUnpack walks the image from desc down, choosing the
// linux/amd64 manifest of an index, storing every blob with fetch and
// unpacking layers into snapshots as soon as the config names their diff
// IDs, while other layers still download. At most MaxConcurrentDownloads
// blobs download at once (per pull, as in containerd). Layers unpack one
// after the other: the library unpacks in parallel only on snapshotters
// that can rebase a snapshot, which the overlay one cannot.
func (s *Service) fetchAndUnpack(ctx context.Context, desc ocispec.Descriptor, fetch images.Handler) error {
	platform := platforms.Default()
	limiter := semaphore.NewWeighted(int64(s.cfg.MaxConcurrentDownloads))
	unpacker, err := unpack.NewUnpacker(ctx, s.content,
		unpack.WithLimiter(limiter),
		unpack.WithUnpackPlatform(unpack.Platform{
			Platform:       platform,
			SnapshotterKey: snapshotterName,
			Snapshotter:    s.snapshotter,
			Applier:        s.applier,
		}),
		unpack.WithDuplicationSuppressor(s.layers),
	)
	if err != nil {
		return err
	}
	// Children labels (containerd.io/gc.ref.content.*) let GC follow
	// index -> manifest -> config/layers from the image record.
	children := images.SetChildrenLabels(s.content, images.ChildrenHandler(s.content))
	children = images.FilterPlatforms(children, platform)
	children = images.LimitManifests(children, platform, 1)
	h := unpacker.Unpack(images.Handlers(fetch, children))
	err = images.Dispatch(ctx, h, limiter, desc)
	if _, werr := unpacker.Wait(); err == nil {
		err = werr
	}
	return err
}

// hostDir finds <RegistryConfigPath>/<host>/hosts.toml, if configured.
func (s *Service) hostDir() func(string) (string, error) {
	if s.cfg.RegistryConfigPath == "" {
		return nil
	}
	return dockerconfig.HostDirFromRoot(s.cfg.RegistryConfigPath)
}

// pullError gives a failed pull its errdefs class and a message that names
// the image but never a credential.
func (s *Service) pullError(ctx context.Context, named reference.Named, step string, err error) error {
	if cause := context.Cause(ctx); errors.Is(cause, errStalled) || errors.Is(cause, errTooLong) {
		// errdefs has no sentinel of its own for this class: it is context.DeadlineExceeded.
		return fmt.Errorf("pull %s: %w: %w", named, cause, context.DeadlineExceeded)
	}
	if st, ok := errors.AsType[remoteerrors.ErrUnexpectedStatus](err); ok {
		switch st.StatusCode {
		case http.StatusUnauthorized:
			return fmt.Errorf("pull %s: registry refused the request (%s %s: %s): %w",
				named, st.RequestMethod, st.RequestURL, st.Status, errdefs.ErrUnauthenticated)
		case http.StatusForbidden:
			return fmt.Errorf("pull %s: registry denied access (%s %s: %s): %w",
				named, st.RequestMethod, st.RequestURL, st.Status, errdefs.ErrPermissionDenied)
		case http.StatusNotFound:
			return fmt.Errorf("pull %s: %s %s: %s: %w", named, st.RequestMethod, st.RequestURL, st.Status, errdefs.ErrNotFound)
		}
	}
	if errors.Is(err, docker.ErrInvalidAuthorization) {
		return fmt.Errorf("pull %s: %s: %v: %w", named, step, err, errdefs.ErrUnauthenticated)
	}
	if errdefs.IsNotFound(err) {
		return fmt.Errorf("pull %s: %s: %w", named, step, err)
	}
	if errdefs.IsFailedPrecondition(err) || errdefs.IsInvalidArgument(err) {
		// content.Copy says "unexpected commit digest/size": the registry
		// sent bytes that are not what the manifest promised.
		return fmt.Errorf("pull %s: %s: registry content does not match its digest: %w", named, step, err)
	}
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("pull %s: %s: registry sent less than the manifest promised: %w: %w", named, step, err, errdefs.ErrUnavailable)
	}
	return fmt.Errorf("pull %s: %s: %w", named, step, err)
}

// failureReason names the class of a failed pull for the failures metric;
// "" for success.
func failureReason(err error) string {
	switch {
	case err == nil:
		return ""
	case errors.Is(err, context.DeadlineExceeded):
		return "timeout"
	case errors.Is(err, context.Canceled):
		return "canceled"
	case errdefs.IsNotFound(err):
		return "not_found"
	case errdefs.IsUnauthorized(err):
		return "unauthenticated"
	case errdefs.IsPermissionDenied(err):
		return "permission_denied"
	case errdefs.IsUnavailable(err):
		return "unavailable"
	case errdefs.IsFailedPrecondition(err), errdefs.IsInvalidArgument(err):
		return "bad_content"
	case errdefs.IsNotImplemented(err):
		return "unsupported"
	}
	return "other"
}

// credsFingerprint hashes secrets so they can key a map without being kept in clear.
func credsFingerprint(parts ...string) string {
	h := sha256.New()
	for _, p := range parts {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil))
}
