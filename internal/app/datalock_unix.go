//go:build unix

package app

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

// lockDataDir takes an exclusive lock on dir/mana.lock for as long as the
// process runs (the kernel drops it when the process dies, so a crash never
// leaves it stuck). A second mana on the same directory is refused.
func lockDataDir(dir string) (unlock func() error, err error) {
	name := filepath.Join(dir, "mana.lock")
	f, err := os.OpenFile(name, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("MANA_DATA_DIR: lock file: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		closeErr := f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("MANA_DATA_DIR %s is in use by another mana process: one process per SQLite data directory (use PostgreSQL, DATABASE_URL, for several)", dir)
		}
		return nil, errors.Join(fmt.Errorf("MANA_DATA_DIR: lock %s: %w", name, err), closeErr)
	}
	return f.Close, nil
}
