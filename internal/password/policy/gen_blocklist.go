//go:build ignore

// gen_blocklist writes blocklist.txt: the most common passwords, most
// frequent first, one per line, taken from the password frequency list that
// the Go module github.com/trustelem/zxcvbn ships (data/passwords.txt, a port
// of Dropbox zxcvbn's data, MIT licence). Run with `go generate` from this
// directory; it fetches the module through the Go module proxy.
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

const module = "github.com/trustelem/zxcvbn@v1.0.1"

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "gen_blocklist:", err)
		os.Exit(1)
	}
}

func run() error {
	// Outside any module, so that go.mod is never touched.
	cmd := exec.Command("go", "mod", "download", "-json", module)
	cmd.Dir = os.TempDir()
	cmd.Env = append(os.Environ(), "GO111MODULE=on", "GOFLAGS=-mod=mod")
	out, err := cmd.Output()
	if err != nil {
		return fmt.Errorf("go mod download %s: %w", module, err)
	}
	var info struct{ Dir, Sum string }
	if err := json.Unmarshal(out, &info); err != nil {
		return fmt.Errorf("decode go mod download output: %w", err)
	}
	src, err := os.Open(filepath.Join(info.Dir, "data", "passwords.txt"))
	if err != nil {
		return err
	}
	defer src.Close()
	dst, err := os.Create("blocklist.txt")
	if err != nil {
		return err
	}
	w := bufio.NewWriter(dst)
	sc := bufio.NewScanner(src)
	n := 0
	seen := map[string]bool{}
	for sc.Scan() {
		// Lines are "<password> <count>"; the list is sorted by count.
		fields := strings.Fields(sc.Text())
		if len(fields) == 0 {
			continue
		}
		pw := strings.ToLower(fields[0])
		if seen[pw] {
			continue
		}
		seen[pw] = true
		fmt.Fprintln(w, pw)
		n++
	}
	if err := sc.Err(); err != nil {
		return err
	}
	if err := w.Flush(); err != nil {
		return err
	}
	if err := dst.Close(); err != nil {
		return err
	}
	fmt.Printf("blocklist.txt: %d passwords from %s (%s)\n", n, module, info.Sum)
	return nil
}
