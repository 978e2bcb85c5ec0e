//go:build !unix

package app

// lockDataDir cannot lock without flock; one process per data directory is
// then the operator's rule (README).
func lockDataDir(string) (func() error, error) { return func() error { return nil }, nil }
