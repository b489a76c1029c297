// Package version holds Krill's version, set at build time with
// -ldflags "-X github.com/krill-runtime/krill/version.Version=...".
package version

// Version of krilld and krill-shim.
var Version = "0.1.0-dev"
