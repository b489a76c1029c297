// Package e2e holds end-to-end tests: a real krilld process (bin/krilld,
// built by `make build`), a real registry on 127.0.0.1, real pods and
// containers. Each test makes its own daemon, bridge and directories and
// removes them when it ends.
package e2e
