package app

import (
	"io"
	"log/slog"
	"runtime/debug"
	"testing"
)

// TestMemoryLimitFollowsHashing: without GOMEMLIMIT the soft limit is the
// base plus what the hashing slots report, so slots that grow to scrypt's
// 32 MiB do not leave the collector running without end. Negative control:
// a fixed limit (set ignoring hashingBytes) fails the second check.
func TestMemoryLimitFollowsHashing(t *testing.T) {
	before := debug.SetMemoryLimit(-1)
	t.Cleanup(func() { debug.SetMemoryLimit(before) })
	log := slog.New(slog.NewTextHandler(io.Discard, nil))

	set := memoryLimit(log, func(string) (string, bool) { return "", false })
	if set == nil {
		t.Fatal("no GOMEMLIMIT, yet no limit to follow the hashing memory")
	}
	if got := debug.SetMemoryLimit(-1); got != memoryBeyondHashing {
		t.Fatalf("limit at start %d, want %d", got, memoryBeyondHashing)
	}
	set(64 << 20)
	if got, want := debug.SetMemoryLimit(-1), int64(memoryBeyondHashing+64<<20); got != want {
		t.Fatalf("limit with 64 MiB of hashing memory %d, want %d", got, want)
	}

	debug.SetMemoryLimit(before)
	gomemlimit := func(name string) (string, bool) { return "200MiB", name == "GOMEMLIMIT" }
	if memoryLimit(log, gomemlimit) != nil || debug.SetMemoryLimit(-1) != before {
		t.Fatal("GOMEMLIMIT is set, yet the default limit was applied")
	}
}
