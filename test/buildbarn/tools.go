//go:build tools

// Package tools pins the four Buildbarn commands that build.sh compiles, so
// that `go mod tidy` keeps their dependencies in go.mod and go.sum.
package tools

import (
	_ "github.com/buildbarn/bb-remote-execution/cmd/bb_runner"
	_ "github.com/buildbarn/bb-remote-execution/cmd/bb_scheduler"
	_ "github.com/buildbarn/bb-remote-execution/cmd/bb_worker"
	_ "github.com/buildbarn/bb-storage/cmd/bb_storage"
)
