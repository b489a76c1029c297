package config

import (
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"testing"
)

// The config file `make install` puts in /etc/krill lists every key at its
// default, commented out. Uncommented, it must be exactly Defaults(): a
// changed default or a new key shows up here instead of misleading users.
func TestShippedConfigListsTheDefaults(t *testing.T) {
	b, err := os.ReadFile("../contrib/krill.toml")
	if err != nil {
		t.Fatal(err)
	}
	setting := regexp.MustCompile(`(?m)^# (\[[a-z_]+\]|[a-z_]+ = .*)$`)
	uncommented := setting.ReplaceAll(b, []byte("$1"))
	path := filepath.Join(t.TempDir(), "krill.toml")
	if err := os.WriteFile(path, uncommented, 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := Load(path)
	if err != nil {
		t.Fatalf("contrib/krill.toml with its settings uncommented: %v", err)
	}
	if want := Defaults(); !reflect.DeepEqual(got, want) {
		t.Fatalf("contrib/krill.toml says\n%+v\nbut the defaults are\n%+v", got, want)
	}
	if len(setting.FindAll(b, -1)) < 10 {
		t.Fatal("contrib/krill.toml lost its settings")
	}
}
