package bench

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Modes the tool knows.
const (
	ModeSignup    = "signup"
	ModeLogin     = "login"
	ModeValidate  = "validate"
	ModeMe        = "me"
	ModeRefresh   = "refresh"
	ModeMailLat   = "maillat"
	ModeHashLimit = "hashlimit"
	ModeSeed      = "seed"
)

// Config is one run.
type Config struct {
	Mode        string
	BaseURL     string
	MailpitURL  string
	DatabaseURL string
	Concurrency int
	Warmup      time.Duration
	Duration    time.Duration
	// MaxRequests caps the measured requests (0 = no cap).
	MaxRequests int64
	Timeout     time.Duration
	// ServerPIDs: CPU summed over them, VmHWM of the first.
	ServerPIDs []int
	// AuxPIDs: CPU only (e.g. notify and Mailpit during sign-up).
	AuxPIDs []int
	// PostgresCPU counts every process named "postgres" on the machine,
	// or only Postmaster and its children when Postmaster is set.
	PostgresCPU bool
	Postmaster  int
	// Pool of pre-created verified users for login, validate, me, refresh.
	PoolPrefix string
	PoolSize   int
	Password   string
	// Samples for maillat.
	Samples int
	// Seed: users and sessions per user to create by SQL.
	SeedUsers           int
	SeedSessionsPerUser int
	// Label and Round tag the result for the table and growth reports.
	Label string
	Round int
}

// Result is what a run prints and writes as JSON.
type Result struct {
	Mode        string  `json:"mode"`
	Label       string  `json:"label,omitempty"`
	Round       int     `json:"round,omitempty"`
	Concurrency int     `json:"concurrency"`
	Started     string  `json:"started"`
	Seconds     float64 `json:"seconds"`
	Requests    int64   `json:"requests"`
	Errors      int64   `json:"errors"`
	// ErrorSamples are a few distinct error messages, for diagnosis.
	ErrorSamples []string `json:"error_samples,omitempty"`
	RPS          float64  `json:"rps"`
	Latency      Latency  `json:"latency"`
	// Register is the register request's own latency in maillat.
	Register *Latency `json:"register_latency,omitempty"`
	// Server, PG, Aux CPU in ms of CPU per measured request, and in cores.
	ServerCPUMsPerReq float64 `json:"server_cpu_ms_per_req"`
	ServerCores       float64 `json:"server_cores"`
	PGCPUMsPerReq     float64 `json:"pg_cpu_ms_per_req"`
	PGCores           float64 `json:"pg_cores"`
	AuxCPUMsPerReq    float64 `json:"aux_cpu_ms_per_req,omitempty"`
	ClientCores       float64 `json:"client_cores"`
	ServerHWMKiB      uint64  `json:"server_vmhwm_kib,omitempty"`
	LoadAvg           string  `json:"loadavg"`
	CPUs              int     `json:"cpus"`
	// Note says what the figures mean where a mode differs (hashlimit, seed).
	Note string `json:"note,omitempty"`
}

// Run validates cfg and executes one run.
func Run(ctx context.Context, cfg Config, log *slog.Logger) (Result, error) {
	if cfg.Mode != ModeHashLimit {
		if err := CheckLoopback(cfg.BaseURL); err != nil {
			return Result{}, err
		}
	}
	if cfg.Mode == ModeMailLat {
		if err := CheckLoopback(cfg.MailpitURL); err != nil {
			return Result{}, fmt.Errorf("mailpit: %w", err)
		}
	}
	if cfg.Concurrency < 1 {
		cfg.Concurrency = 1
	}
	cfg.BaseURL = strings.TrimRight(cfg.BaseURL, "/")
	cfg.MailpitURL = strings.TrimRight(cfg.MailpitURL, "/")
	switch cfg.Mode {
	case ModeSignup, ModeLogin, ModeValidate, ModeMe, ModeRefresh:
		return runLoad(ctx, cfg, log)
	case ModeMailLat:
		return runMailLat(ctx, cfg, log)
	case ModeHashLimit:
		return runHashLimit(ctx, cfg, log)
	case ModeSeed:
		return runSeed(ctx, cfg, log)
	}
	return Result{}, fmt.Errorf("bench: unknown mode %q", cfg.Mode)
}

// op is one request of a worker; the worker's state (its tokens) lives in
// the closure.
type op func(ctx context.Context) error

// window collects CPU counters at the start and end of the measured window.
type window struct {
	cfg        Config
	clk        float64
	srv, pg    cpuSnapshot
	aux, self  cpuSnapshot
	start, end time.Time
}

func (w *window) open(cfg Config) {
	w.cfg = cfg
	w.clk = float64(ClockTicks())
	w.start = time.Now()
	w.srv = snapshot(cfg.ServerPIDs, false)
	w.aux = snapshot(cfg.AuxPIDs, false)
	w.self = snapshot([]int{os.Getpid()}, false)
	if cfg.PostgresCPU {
		w.pg = snapshot(postgresPIDs(cfg.Postmaster), true)
	}
}

// close fills the CPU and memory fields of r from the window.
func (w *window) close(r *Result, log *slog.Logger) {
	w.end = time.Now()
	srv := snapshot(w.cfg.ServerPIDs, false)
	aux := snapshot(w.cfg.AuxPIDs, false)
	self := snapshot([]int{os.Getpid()}, false)
	var pg cpuSnapshot
	if w.cfg.PostgresCPU {
		pg = snapshot(postgresPIDs(w.cfg.Postmaster), true)
	}
	secs := w.end.Sub(w.start).Seconds()
	r.Seconds = secs
	r.Started = w.start.UTC().Format(time.RFC3339)
	toMs := func(ticks uint64) float64 { return float64(ticks) / w.clk * 1000 }
	perReq := func(ticks uint64) float64 {
		if r.Requests == 0 {
			return 0
		}
		return toMs(ticks) / float64(r.Requests)
	}
	if len(w.cfg.ServerPIDs) > 0 {
		t := ticksSince(w.srv, srv)
		r.ServerCPUMsPerReq = perReq(t)
		r.ServerCores = toMs(t) / 1000 / secs
		if kib, err := ReadHWMKiB(w.cfg.ServerPIDs[0]); err == nil {
			r.ServerHWMKiB = kib
		} else {
			log.Warn("no VmHWM", "pid", w.cfg.ServerPIDs[0], "err", err)
		}
	}
	if w.cfg.PostgresCPU {
		t := ticksSince(w.pg, pg)
		r.PGCPUMsPerReq = perReq(t)
		r.PGCores = toMs(t) / 1000 / secs
	}
	if len(w.cfg.AuxPIDs) > 0 {
		r.AuxCPUMsPerReq = perReq(ticksSince(w.aux, aux))
	}
	r.ClientCores = toMs(ticksSince(w.self, self)) / 1000 / secs
	if secs > 0 {
		r.RPS = float64(r.Requests) / secs
	}
}

func baseResult(cfg Config) Result {
	la, _ := os.ReadFile("/proc/loadavg")
	return Result{Mode: cfg.Mode, Label: cfg.Label, Round: cfg.Round, Concurrency: cfg.Concurrency,
		LoadAvg: strings.TrimSpace(string(la)), CPUs: runtime.NumCPU()}
}

// runLoad is the closed loop: Concurrency workers, each sending its next
// request as soon as the previous one is answered, over kept-alive
// connections. Requests that start in the warm-up are not counted; the
// measured window ends at Duration or MaxRequests, whichever comes first.
func runLoad(ctx context.Context, cfg Config, log *slog.Logger) (Result, error) {
	c := newClient(cfg.BaseURL, cfg.Concurrency, cfg.Timeout)
	ops, err := prepare(ctx, cfg, c, log)
	if err != nil {
		return Result{}, err
	}
	res := baseResult(cfg)
	var (
		measured atomic.Int64
		errs     atomic.Int64
		mu       sync.Mutex
		samples  []string
		w        window
	)
	lat := make([][]time.Duration, cfg.Concurrency)
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	measureFrom := time.Now().Add(cfg.Warmup)
	stopAt := measureFrom.Add(cfg.Duration)
	var wg sync.WaitGroup
	for i := range cfg.Concurrency {
		wg.Go(func() {
			for runCtx.Err() == nil {
				t0 := time.Now()
				if !t0.Before(stopAt) {
					return
				}
				counted := !t0.Before(measureFrom)
				if counted && cfg.MaxRequests > 0 && measured.Add(1) > cfg.MaxRequests {
					measured.Add(-1)
					cancel()
					return
				} else if counted && cfg.MaxRequests <= 0 {
					measured.Add(1)
				}
				err := ops[i](runCtx)
				d := time.Since(t0)
				if !counted {
					continue
				}
				if err != nil {
					if runCtx.Err() != nil && errors.Is(err, context.Canceled) {
						measured.Add(-1) // cut off by the end of the run, not an answer
						return
					}
					errs.Add(1)
					mu.Lock()
					if len(samples) < 5 {
						samples = append(samples, err.Error())
					}
					mu.Unlock()
				}
				lat[i] = append(lat[i], d)
			}
		})
	}
	// The CPU window opens when counting starts.
	select {
	case <-time.After(time.Until(measureFrom)):
	case <-runCtx.Done():
	}
	w.open(cfg)
	wg.Wait()
	res.Requests = measured.Load()
	res.Errors = errs.Load()
	res.ErrorSamples = samples
	w.close(&res, log)
	var all []time.Duration
	for _, l := range lat {
		all = append(all, l...)
	}
	res.Latency = Summarize(all)
	if ctx.Err() != nil {
		return res, fmt.Errorf("bench: interrupted: %w", ctx.Err())
	}
	return res, nil
}
