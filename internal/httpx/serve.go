package httpx

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"
)

// Serve listens on addr and serves h until ctx is cancelled, then drains
// in-flight requests for up to ten seconds (graceful shutdown on SIGTERM).
// ready, when not nil, is called once the listener is bound.
func Serve(ctx context.Context, log *slog.Logger, addr string, h http.Handler, ready func()) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", addr, err)
	}
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       120 * time.Second,
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	log.Info("listening", "addr", ln.Addr().String())
	if ready != nil {
		ready()
	}
	select {
	case err := <-errc:
		return fmt.Errorf("http server: %w", err)
	case <-ctx.Done():
	}
	log.Info("shutting down: draining requests")
	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		return fmt.Errorf("http shutdown: %w", err)
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("http server: %w", err)
	}
	return nil
}

// ServeWithAdmin is Serve, plus, when adminAddr is set, a second listener
// for the operator's routes (metrics, profiling) on an address the
// operator keeps private. Both stop together: when one fails, the other is
// shut down.
func ServeWithAdmin(ctx context.Context, log *slog.Logger, addr string, h http.Handler, adminAddr string, admin http.Handler, ready func()) error {
	if adminAddr == "" {
		return Serve(ctx, log, addr, h, ready)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	adminErr := make(chan error, 1)
	go func() {
		err := Serve(ctx, log.With("listener", "admin"), adminAddr, admin, nil)
		cancel() // an admin listener that cannot run stops the service: it was asked for
		adminErr <- err
	}()
	err := Serve(ctx, log, addr, h, ready)
	cancel()
	return errors.Join(err, <-adminErr)
}
