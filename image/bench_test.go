package image

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"testing"

	"github.com/krill-runtime/krill/test/testregistry"
)

// BenchmarkPullLarge pulls and unpacks a ~100 MB image of four layers of
// incompressible data from a local registry; every iteration is a cold
// pull (the image is removed, untimed, after it). peak-RSS-MB is the
// process's high-water mark during the pulls.
func BenchmarkPullLarge(b *testing.B) {
	benchPull(b, 4, 25<<20)
}

// BenchmarkPullSmall pulls a ~2 MB single-layer image: the figure to set
// beside containerd's 51 ms critest PullImage on this machine.
func BenchmarkPullSmall(b *testing.B) {
	benchPull(b, 1, 2<<20)
}

func benchPull(b *testing.B, layers, layerSize int) {
	reg := testregistry.Start(b, testregistry.Options{})
	img := &testregistry.Image{}
	for i := range layers {
		img.Layers = append(img.Layers, randomLayer(fmt.Sprintf("blob%d", i), layerSize))
	}
	ref := reg.Ref("bench:1")
	reg.Push(b, "bench", "1", img)
	img = nil
	s := newService(b, nil)
	ctx := context.Background()

	// Forget the test's own copy of the image before measuring memory.
	runtime.GC()
	debug.FreeOSMemory()
	resetPeakRSS(b)
	b.SetBytes(int64(layers * layerSize))
	b.ResetTimer()
	for b.Loop() {
		got, err := s.Pull(ctx, ref, nil)
		if err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		if err := s.Remove(ctx, got.ID); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
	b.StopTimer()
	b.ReportMetric(float64(peakRSSKiB(b))/1024, "peak-RSS-MB")
}

// resetPeakRSS sets VmHWM back to the current RSS (Linux >= 4.0).
func resetPeakRSS(b *testing.B) {
	if err := os.WriteFile("/proc/self/clear_refs", []byte("5"), 0); err != nil {
		b.Logf("cannot reset peak RSS, reporting the process-lifetime peak: %v", err)
	}
}

func peakRSSKiB(b *testing.B) int64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return n
		}
	}
	b.Fatal("no VmHWM in /proc/self/status")
	return 0
}
