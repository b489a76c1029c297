package store

import (
	"os"
	"testing"

	runtime "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// BenchmarkStateChange: one container state change written by Update
// (fsync'd) and by Settle (not), on a disk directory like krilld's root
// (the default temp dir may be a tmpfs, where fsync costs nothing).
func BenchmarkStateChange(b *testing.B) {
	for name, change := range map[string]func(*Store[Container], string, func(*Container) error) (Container, error){
		"Update": (*Store[Container]).Update,
		"Settle": (*Store[Container]).Settle,
	} {
		b.Run(name, func(b *testing.B) {
			dir, err := os.MkdirTemp("/var/tmp", "krill-store-bench")
			if err != nil {
				b.Fatal(err)
			}
			defer os.RemoveAll(dir)
			s, err := New[Container](dir, "container.json", "container")
			if err != nil {
				b.Fatal(err)
			}
			if err := s.Put(Container{ID: "c1", Config: &runtime.ContainerConfig{}}); err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, err := change(s, "c1", func(c *Container) error { c.Pid = i; return nil }); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
