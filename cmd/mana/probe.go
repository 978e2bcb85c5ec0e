package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/mana/mana/internal/config"
)

// probeTimeout bounds one health probe; container runtimes kill slower checks anyway.
const probeTimeout = 5 * time.Second

// probeCmd checks a running service's /health, for container health checks
// in images that have no shell or curl: `mana probe [URL]`. Without a URL it
// asks the service on this host's PORT (default 3001). It returns an error
// (exit 1) unless the answer is 200.
func probeCmd(ctx context.Context, out io.Writer, look config.Lookup, args []string) error {
	target, err := probeTarget(look, args)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, probeTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	if err != nil {
		return usageError(fmt.Sprintf("probe: bad URL %q: %v", target, err))
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("probe %s: %w", target, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
	if err != nil {
		return fmt.Errorf("probe %s: read answer: %w", target, err)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("probe %s: status %d: %s", target, resp.StatusCode, body)
	}
	fmt.Fprintf(out, "%s: %s\n", target, body)
	return nil
}

func probeTarget(look config.Lookup, args []string) (string, error) {
	switch len(args) {
	case 0:
	case 1:
		return args[0], nil
	default:
		return "", usageError("probe takes at most one URL")
	}
	port, err := config.ProbePort(look)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("http://127.0.0.1:%d/health", port), nil
}
