package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// shBlock matches a fenced ```sh block of a Markdown page.
var shBlock = regexp.MustCompile("(?s)```sh\n(.*?)```")

// TestTour runs every `sh` block of docs/tour.md, in order and in one
// shell, against a throw-away krilld: the tour must stay true to Krill.
// IMAGE is the test registry's busybox; crictl reaches this krilld
// through CONTAINER_RUNTIME_ENDPOINT instead of /etc/crictl.yaml.
func TestTour(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join(repoRoot(t), "docs", "tour.md"))
	if err != nil {
		t.Fatal(err)
	}
	blocks := shBlock.FindAllStringSubmatch(string(doc), -1)
	if len(blocks) < 10 {
		t.Fatalf("found only %d sh blocks in docs/tour.md", len(blocks))
	}
	crictl, err := exec.LookPath("crictl")
	if err != nil {
		if crictl, err = exec.LookPath(filepath.Join(os.Getenv("HOME"), "go", "bin", "crictl")); err != nil {
			t.Fatal("crictl not found: run `make deps`")
		}
	}
	e := newEnv(t)
	// The tour's pod has no cgroup parent, so Krill uses its default one.
	t.Cleanup(func() {
		hierarchies, _ := filepath.Glob("/sys/fs/cgroup/*")
		for _, h := range hierarchies {
			os.Remove(filepath.Join(h, "krill")) // only when empty: others may use it
		}
	})

	script := "set -euo pipefail\n"
	for _, b := range blocks {
		script += b[1]
	}
	cmd := exec.Command("bash", "-c", script)
	cmd.Dir = t.TempDir()
	cmd.Env = append(os.Environ(),
		"CONTAINER_RUNTIME_ENDPOINT=unix://"+e.sock,
		"IMAGE_SERVICE_ENDPOINT=unix://"+e.sock,
		"IMAGE="+e.image,
		"PATH="+filepath.Dir(crictl)+":/usr/sbin:/sbin:"+os.Getenv("PATH"),
	)
	out, err := cmd.CombinedOutput()
	t.Logf("tour output:\n%s", out)
	if err != nil {
		t.Fatalf("tour failed: %v", err)
	}
	for _, want := range []string{"hello from the container", "is gone", "netns file is gone", "67108864"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("tour output lacks %q", want)
		}
	}
	if n := strings.Count(string(out), "is gone"); n != 3 {
		t.Errorf("%d of 3 'is gone' lines", n)
	}
}
