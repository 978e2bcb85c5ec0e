//go:build integration

package integration

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"
)

// dockerImage is what the Dockerfile sets: its ENV and its CMD.
func dockerImage(t *testing.T) (env []string, cmd []string) {
	t.Helper()
	data, err := os.ReadFile("../../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(strings.NewReader(string(data)))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case strings.HasPrefix(line, "ENV "):
			env = append(env, strings.Fields(strings.TrimPrefix(line, "ENV "))...)
		case strings.HasPrefix(line, "CMD "):
			if err := json.Unmarshal([]byte(strings.TrimPrefix(line, "CMD ")), &cmd); err != nil {
				t.Fatalf("CMD of the Dockerfile: %v", err)
			}
		}
	}
	if len(env) == 0 || len(cmd) == 0 {
		t.Fatal("the Dockerfile has no ENV or CMD")
	}
	return env, cmd
}

// readmeDockerFlags are the -e flags of the README's documented docker run.
func readmeDockerFlags(t *testing.T) []string {
	t.Helper()
	data, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, block, ok := strings.Cut(string(data), "<!-- docker-run -->")
	if !ok {
		t.Fatal("README has no <!-- docker-run --> block")
	}
	block, _, _ = strings.Cut(strings.SplitN(block, "```sh", 2)[1], "```")
	var flags []string
	for _, m := range regexp.MustCompile(`-e ([A-Z_]+=\S+)`).FindAllStringSubmatch(block, -1) {
		flags = append(flags, m[1])
	}
	if len(flags) == 0 {
		t.Fatal("the README's docker run has no -e flags")
	}
	return flags
}

// TestDockerDefaults (audit F7): the image's own environment and command
// (production mode) refuse to start without settings, naming what is
// missing; with exactly the README's documented -e flags (placeholders
// filled) it serves, in production mode (no /dev/mail). PORT and
// MANA_DATA_DIR are the only values the test changes (a free port, a
// temporary directory); there is no Docker engine here, so the binary runs
// as the image would run it.
// Negative control: without NODE_ENV=production in the Dockerfile the
// first start serves instead of refusing.
func TestDockerDefaults(t *testing.T) {
	env, cmd := dockerImage(t)
	port := freePort(t)
	local := func(extra ...string) []string {
		out := []string{"PATH=" + os.Getenv("PATH")}
		for _, kv := range append(append([]string{}, env...), extra...) {
			switch {
			case strings.HasPrefix(kv, "PORT="):
				kv = fmt.Sprintf("PORT=%d", port)
			case strings.HasPrefix(kv, "MANA_DATA_DIR="):
				kv = "MANA_DATA_DIR=" + t.TempDir()
			}
			out = append(out, kv)
		}
		return out
	}

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c := exec.CommandContext(ctx, manaBinary(t), cmd...)
	c.Env = local()
	out, err := c.CombinedOutput()
	var exit *exec.ExitError
	if ctx.Err() != nil || !errors.As(err, &exit) || exit.ExitCode() <= 0 || !strings.Contains(string(out), "configuration:") {
		t.Fatalf("the image's defaults did not refuse to start (err %v, deadline %v):\n%s", err, ctx.Err(), out)
	}
	for _, want := range []string{"DATABASE_URL", "MANA_AUTH_KEK", "BETTER_AUTH_SECRET", "SMTP_HOST"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("the refusal does not name %s:\n%s", want, out)
		}
	}

	// The documented flags, with their placeholders filled.
	fill := map[string]string{
		"DATABASE_URL":       freshDatabase(t),
		"MANA_AUTH_KEK":      os.Getenv("TEST_KEK"),
		"BETTER_AUTH_SECRET": "docker-test-better-auth-secret",
		"MANA_SERVICE_KEY":   "docker-test-service-key",
		"SERVICE_KEY":        "docker-test-service-key",
		"SMTP_HOST":          "127.0.0.1",
		"BASE_URL":           "https://auth.example",
	}
	var flags []string
	for _, f := range readmeDockerFlags(t) {
		name, _, _ := strings.Cut(f, "=")
		v, ok := fill[name]
		if !ok {
			t.Fatalf("the README documents -e %s, which this test does not know how to fill: add it", name)
		}
		flags = append(flags, name+"="+v)
	}
	p := startServeArgs(t, cmd, local(flags...)...)
	if r := getJSON(t, p.URL+"/health"); r.Status != http.StatusOK {
		t.Fatalf("health with the documented flags: %s", r)
	}
	if r := getJSON(t, p.URL+"/dev/mail"); r.Status != http.StatusNotFound {
		t.Fatalf("/dev/mail in the image's mode: %s, want 404 (production)", r)
	}
}
