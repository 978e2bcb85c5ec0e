// Command mana is the one binary of Mana Auth: `mana serve` (both services
// in one process), `mana serve auth`, `mana serve notify` and the operator
// commands. It parses the command line and hands over to internal/app;
// nothing here runs per request.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/mana/mana/internal/app"
	"github.com/mana/mana/internal/config"
)

const usage = `usage:
  mana serve           run auth and notify in one process on one port (PORT, default 3001;
                       DATABASE_URL; no SMTP_HOST: mail is captured and shown at /dev/mail)
  mana serve auth      run mana-auth (configured by PORT, DATABASE_URL, BASE_URL, MANA_AUTH_KEK, ...)
  mana serve notify    run mana-notify (configured by PORT, DATABASE_URL, SERVICE_KEY, SMTP_*, ...)
  mana migrate [up]    apply pending migrations of both services (DATABASE_URL)
  mana migrate status  list migrations and whether each is applied
  mana kek rotate [-batch N]  re-wrap every vault key and signing key still under a retired KEK
                       (MANA_AUTH_KEK = the new KEK, MANA_AUTH_KEK_PREVIOUS = the retired ones)
  mana jwks rotate [-prepublish 1h]  a new JWT signing key, published now, signing after the pre-publication
  mana jwks retire KID [-grace 15m]  stop a key signing now; withdraw it (its tokens refused) after the grace
  mana cutover status  rows per format and whether going back to the old service is safe
  mana cutover finalize [-batch N]  end the rollback window: every row to mana's formats
                       (the old service is locked out afterwards)
  mana audit verify    walk the audit log's hash chain: counts and ok, or the first broken link (exit 1)
  mana audit seal      seal every security event committed so far (the services do it every
                       MANA_AUDIT_SEAL_INTERVAL)
  mana probe [URL]     exit 0 when /health answers 200 (default http://127.0.0.1:$PORT/health)
  mana notify retry ID re-drive one failed notification (DATABASE_URL)`

func main() {
	log := slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	slog.SetDefault(log)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	if err := run(ctx, log, os.Args[1:]); err != nil {
		var u usageError
		if errors.As(err, &u) {
			fmt.Fprintln(os.Stderr, string(u))
			fmt.Fprintln(os.Stderr, usage)
			os.Exit(2)
		}
		log.Error("mana stopped with an error", "err", err)
		fmt.Fprintln(os.Stderr, "mana:", err)
		os.Exit(1)
	}
}

type usageError string

func (u usageError) Error() string { return string(u) }

func run(ctx context.Context, log *slog.Logger, args []string) error {
	if len(args) == 0 {
		return usageError("missing command")
	}
	switch args[0] {
	case "serve":
		if len(args) < 2 {
			return app.ServeAll(ctx, log, os.LookupEnv, func(block string) { fmt.Fprintln(os.Stderr, block) })
		}
		switch args[1] {
		case "auth":
			return app.ServeAuth(ctx, log, os.LookupEnv)
		case "notify":
			return app.ServeNotify(ctx, log, os.LookupEnv)
		}
		return usageError("unknown service " + args[1])
	case "migrate":
		return migrateCmd(ctx, os.Stdout, os.LookupEnv, args[1:])
	case "probe":
		return probeCmd(ctx, os.Stdout, os.LookupEnv, args[1:])
	case "kek":
		return kekCmd(ctx, os.Stdout, os.LookupEnv, args[1:])
	case "jwks":
		return jwksCmd(ctx, os.Stdout, log, os.LookupEnv, args[1:])
	case "cutover":
		return cutoverCmd(ctx, os.Stdout, os.LookupEnv, args[1:])
	case "notify":
		return notifyCmd(ctx, os.Stdout, os.LookupEnv, args[1:])
	case "audit":
		return auditCmd(ctx, os.Stdout, os.LookupEnv, args[1:])
	case "-h", "--help", "help":
		fmt.Println(usage)
		return nil
	}
	return usageError("unknown command " + args[0])
}

// migrateCmd is `mana migrate [up|status]`.
func migrateCmd(ctx context.Context, out io.Writer, look config.Lookup, args []string) error {
	sub := "up"
	if len(args) > 0 {
		sub = args[0]
	}
	err := app.Migrate(ctx, out, look, sub)
	if errors.Is(err, app.ErrUnknownSubcommand) {
		return usageError("unknown migrate subcommand " + sub)
	}
	return err
}

// kekCmd is `mana kek rotate [-batch N]`.
func kekCmd(ctx context.Context, out io.Writer, look config.Lookup, args []string) error {
	if len(args) == 0 || args[0] != "rotate" {
		return usageError("kek needs a subcommand: rotate")
	}
	fs := flag.NewFlagSet("kek rotate", flag.ContinueOnError)
	fs.SetOutput(out)
	batch := fs.Int("batch", 500, "users per transaction")
	if err := fs.Parse(args[1:]); err != nil {
		return usageError(err.Error())
	}
	if *batch < 1 || *batch > 10000 {
		return usageError("-batch must be between 1 and 10000")
	}
	return app.RotateKEK(ctx, out, look, *batch)
}

// jwksCmd is `mana jwks rotate [-prepublish D]` and `mana jwks retire KID [-grace D]`.
func jwksCmd(ctx context.Context, out io.Writer, log *slog.Logger, look config.Lookup, args []string) error {
	if len(args) == 0 {
		return usageError("jwks needs a subcommand: rotate or retire")
	}
	fs := flag.NewFlagSet("jwks "+args[0], flag.ContinueOnError)
	fs.SetOutput(out)
	switch args[0] {
	case "rotate":
		prepublish := fs.Duration("prepublish", time.Hour, "how long the new key is published before it signs")
		if err := fs.Parse(args[1:]); err != nil || fs.NArg() != 0 || *prepublish < 0 {
			return usageError("usage: mana jwks rotate [-prepublish 1h]")
		}
		return app.JWKSRotate(ctx, out, log, look, *prepublish)
	case "retire":
		if len(args) < 2 {
			return usageError("usage: mana jwks retire KID [-grace 15m]")
		}
		grace := fs.Duration("grace", 15*time.Minute, "how long tokens signed by the key stay valid")
		if err := fs.Parse(args[2:]); err != nil || fs.NArg() != 0 || *grace < 0 {
			return usageError("usage: mana jwks retire KID [-grace 15m]")
		}
		return app.JWKSRetire(ctx, out, log, look, args[1], *grace)
	}
	return usageError("unknown jwks subcommand " + args[0])
}

// cutoverCmd is `mana cutover status` and `mana cutover finalize [-batch N]`.
func cutoverCmd(ctx context.Context, out io.Writer, look config.Lookup, args []string) error {
	if len(args) == 0 {
		return usageError("cutover needs a subcommand: status or finalize")
	}
	switch args[0] {
	case "status":
		if len(args) != 1 {
			return usageError("usage: mana cutover status")
		}
		return app.CutoverStatus(ctx, out, look)
	case "finalize":
		fs := flag.NewFlagSet("cutover finalize", flag.ContinueOnError)
		fs.SetOutput(out)
		batch := fs.Int("batch", 500, "rows per transaction")
		if err := fs.Parse(args[1:]); err != nil {
			return usageError(err.Error())
		}
		if *batch < 1 || *batch > 10000 {
			return usageError("-batch must be between 1 and 10000")
		}
		return app.CutoverFinalize(ctx, out, look, *batch)
	}
	return usageError("unknown cutover subcommand " + args[0])
}

// notifyCmd is `mana notify retry <id>`: re-drive one failed notification.
func notifyCmd(ctx context.Context, out io.Writer, look config.Lookup, args []string) error {
	if len(args) != 2 || args[0] != "retry" {
		return usageError("usage: mana notify retry <notification-id>")
	}
	return app.RetryNotification(ctx, out, look, args[1])
}

// auditCmd is `mana audit verify` and `mana audit seal`.
func auditCmd(ctx context.Context, out io.Writer, look config.Lookup, args []string) error {
	if len(args) != 1 {
		return usageError("usage: mana audit verify | mana audit seal")
	}
	switch args[0] {
	case "verify":
		return app.AuditVerify(ctx, out, look)
	case "seal":
		return app.AuditSeal(ctx, out, look)
	}
	return usageError("unknown audit subcommand " + args[0])
}
