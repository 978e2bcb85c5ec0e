// Command manabench is a closed-loop, bounded load tool for mana's auth API
// on loopback (the logic is in internal/bench). Usage:
//
//	manabench -mode validate -base http://127.0.0.1:3791 -c 8 -database-url URL -server-pid PID [-json out.json]
//	manabench table RESULT.json...              markdown table (+ issue 14 targets)
//	manabench growth -small 1k -large 100k RESULT.json...   growth comparison
//
// Run scripts/benchmark.sh for the whole matrix on a throwaway stack.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/mana/mana/internal/bench"
)

func main() {
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], log)
	stop()
	if err != nil {
		log.Error("manabench", "err", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, log *slog.Logger) error {
	if len(args) > 0 {
		switch args[0] {
		case "table":
			rs, err := bench.LoadResults(args[1:])
			if err != nil {
				return err
			}
			bench.WriteTable(os.Stdout, rs)
			fmt.Println()
			bench.WriteTargets(os.Stdout, rs)
			return nil
		case "growth":
			fs := flag.NewFlagSet("growth", flag.ContinueOnError)
			small := fs.String("small", "small", "label of the small-database runs")
			large := fs.String("large", "large", "label of the large-database runs")
			if err := fs.Parse(args[1:]); err != nil {
				return fmt.Errorf("growth flags: %w", err)
			}
			rs, err := bench.LoadResults(fs.Args())
			if err != nil {
				return err
			}
			bench.WriteGrowth(os.Stdout, rs, *small, *large)
			return nil
		}
	}
	fs := flag.NewFlagSet("manabench", flag.ContinueOnError)
	var cfg bench.Config
	fs.StringVar(&cfg.Mode, "mode", "", "signup | login | validate | me | refresh | maillat | hashlimit | seed")
	fs.StringVar(&cfg.BaseURL, "base", "http://127.0.0.1:3091", "mana-auth base URL (loopback only)")
	fs.StringVar(&cfg.MailpitURL, "mailpit", "http://127.0.0.1:8026", "Mailpit HTTP API base URL (loopback only), for maillat")
	fs.StringVar(&cfg.DatabaseURL, "database-url", "", "PostgreSQL URL of mana's database (verifies pool users, seeds)")
	fs.IntVar(&cfg.Concurrency, "c", 1, "workers (closed loop: each has one request in flight)")
	fs.DurationVar(&cfg.Warmup, "warmup", 2*time.Second, "warm-up, not counted")
	fs.DurationVar(&cfg.Duration, "duration", 10*time.Second, "measured window")
	fs.Int64Var(&cfg.MaxRequests, "max-requests", 2_000_000, "cap on measured requests (0 = none)")
	fs.DurationVar(&cfg.Timeout, "timeout", 30*time.Second, "per-request timeout")
	pids := fs.String("server-pid", "", "comma-separated pids of the server: CPU summed, VmHWM of the first")
	aux := fs.String("aux-pids", "", "comma-separated pids whose CPU is reported apart (notify, Mailpit)")
	fs.BoolVar(&cfg.PostgresCPU, "pg", true, "count PostgreSQL's CPU: every process named postgres, or -pg-pid and its children")
	fs.IntVar(&cfg.Postmaster, "pg-pid", 0, "postmaster pid: count only this cluster's processes (0 = every postgres process)")
	fs.StringVar(&cfg.PoolPrefix, "pool-prefix", "bench-pool-", "pool users are <prefix><n>@bench.test; must start with bench-")
	fs.IntVar(&cfg.PoolSize, "pool", 200, "pool users for login/validate/me/refresh")
	fs.StringVar(&cfg.Password, "password", "Bench-pw-7f3Kq9-zX", "password of every bench user")
	fs.IntVar(&cfg.Samples, "samples", 100, "maillat: sequential samples")
	fs.IntVar(&cfg.SeedUsers, "users", 1000, "seed: users to create by SQL")
	fs.IntVar(&cfg.SeedSessionsPerUser, "sessions-per-user", 10, "seed: sessions per seeded user")
	fs.StringVar(&cfg.Label, "label", "", "tag for the growth report (e.g. 1k, 100k)")
	fs.IntVar(&cfg.Round, "round", 0, "round number, for the record")
	jsonOut := fs.String("json", "", "also write the result as JSON to this file")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil // the usage is printed already
		}
		return fmt.Errorf("flags: %w", err)
	}
	if !strings.HasPrefix(cfg.PoolPrefix, "bench-") {
		// The verification UPDATE only touches bench-% rows.
		return errors.New("-pool-prefix must start with bench-")
	}
	var err error
	if cfg.ServerPIDs, err = parsePIDs(*pids); err != nil {
		return err
	}
	if cfg.AuxPIDs, err = parsePIDs(*aux); err != nil {
		return err
	}
	res, err := bench.Run(ctx, cfg, log)
	if err != nil {
		return err
	}
	bench.WriteLine(os.Stdout, res)
	if *jsonOut != "" {
		b, err := json.MarshalIndent(res, "", "  ")
		if err != nil {
			return fmt.Errorf("encode result: %w", err)
		}
		if err := os.WriteFile(*jsonOut, append(b, '\n'), 0o644); err != nil {
			return fmt.Errorf("write result: %w", err)
		}
	}
	return nil
}

func parsePIDs(s string) ([]int, error) {
	var out []int
	for _, f := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' }) {
		pid, err := strconv.Atoi(f)
		if err != nil || pid <= 0 {
			return nil, fmt.Errorf("bad pid %q", f)
		}
		out = append(out, pid)
	}
	return out, nil
}
