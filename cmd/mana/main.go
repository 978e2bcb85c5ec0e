// Command mana is the one binary of Mana Auth: `mana serve auth`, `mana serve
// notify` and the operator commands. This file is wiring only.
package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
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
			return serveAll(ctx, log, os.LookupEnv, func(block string) { fmt.Fprintln(os.Stderr, block) })
		}
		switch args[1] {
		case "auth":
			return serveAuth(ctx, log, os.LookupEnv)
		case "notify":
			return serveNotify(ctx, log, os.LookupEnv)
		}
		return usageError("unknown service " + args[1])
	case "migrate":
		return migrateCmd(ctx, os.Stdout, os.LookupEnv, args[1:])
	case "probe":
		return probeCmd(ctx, os.Stdout, os.LookupEnv, args[1:])
	case "kek":
		return kekCmd(ctx, os.Stdout, os.LookupEnv, args[1:])
	case "notify":
		return notifyCmd(ctx, os.Stdout, os.LookupEnv, args[1:])
	case "-h", "--help", "help":
		fmt.Println(usage)
		return nil
	}
	return usageError("unknown command " + args[0])
}
