package bench

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
)

// LoadResults reads result files, each holding one JSON Result.
func LoadResults(paths []string) ([]Result, error) {
	var out []Result
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, fmt.Errorf("bench: read result: %w", err)
		}
		var r Result
		if err := json.Unmarshal(b, &r); err != nil {
			return nil, fmt.Errorf("bench: decode %s: %w", p, err)
		}
		out = append(out, r)
	}
	return out, nil
}

// modeName is a mode's row name in the tables (the reference's names).
func modeName(mode string) string {
	switch mode {
	case ModeSignup:
		return "sign-up"
	case ModeValidate:
		return "token check"
	case ModeMe:
		return "`/me/data`"
	case ModeHashLimit:
		return "argon2id hash limit"
	case ModeMailLat:
		return "register → mail visible"
	}
	return mode
}

// modeRank orders the table's rows as the reference does.
func modeRank(mode string) int {
	return slices.Index([]string{ModeSignup, ModeLogin, ModeValidate, ModeMe, ModeRefresh, ModeHashLimit, ModeMailLat}, mode)
}

type cellKey struct {
	mode string
	c    int
}

// group collects results by mode and concurrency, in the table's order.
func group(rs []Result) ([]cellKey, map[cellKey][]Result) {
	m := map[cellKey][]Result{}
	var keys []cellKey
	for _, r := range rs {
		k := cellKey{r.Mode, r.Concurrency}
		if _, ok := m[k]; !ok {
			keys = append(keys, k)
		}
		m[k] = append(m[k], r)
	}
	slices.SortStableFunc(keys, func(a, b cellKey) int {
		if d := modeRank(a.mode) - modeRank(b.mode); d != 0 {
			return d
		}
		return a.c - b.c
	})
	return keys, m
}

func pick(rs []Result, f func(Result) float64) float64 {
	xs := make([]float64, len(rs))
	for i, r := range rs {
		xs[i] = f(r)
	}
	return median(xs)
}

func num(x float64) string {
	switch {
	case x == 0:
		return "0"
	case x >= 100:
		return fmt.Sprintf("%.0f", x)
	case x >= 10:
		return fmt.Sprintf("%.1f", x)
	case x >= 1:
		return fmt.Sprintf("%.2f", x)
	}
	return fmt.Sprintf("%.3f", x)
}

// WriteTable prints the §4 columns as markdown, one row per mode and
// concurrency; repeated runs of a cell show their median and the req/s range.
func WriteTable(w io.Writer, rs []Result) {
	keys, m := group(rs)
	fmt.Fprintln(w, "| endpoint | c | runs | req/s | p50 / p95 / p99 ms | errors | server CPU ms/req (cores) | PG CPU ms/req (cores) | VmHWM MiB |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|---|---|---|")
	for _, k := range keys {
		g := m[k]
		rps := pick(g, func(r Result) float64 { return r.RPS })
		lo := slices.MinFunc(g, func(a, b Result) int { return cmpF(a.RPS, b.RPS) }).RPS
		hi := slices.MaxFunc(g, func(a, b Result) int { return cmpF(a.RPS, b.RPS) }).RPS
		var errs int64
		for _, r := range g {
			errs += r.Errors
		}
		rpsCell := num(rps)
		if len(g) > 1 {
			rpsCell += fmt.Sprintf(" (%s–%s)", num(lo), num(hi))
		}
		lat := fmt.Sprintf("%s / %s / %s", num(pick(g, func(r Result) float64 { return r.Latency.P50 })),
			num(pick(g, func(r Result) float64 { return r.Latency.P95 })), num(pick(g, func(r Result) float64 { return r.Latency.P99 })))
		srv, pg, hwm := "–", "–", "–"
		if k.mode != ModeHashLimit {
			srv = fmt.Sprintf("%s (%s)", num(pick(g, func(r Result) float64 { return r.ServerCPUMsPerReq })),
				num(pick(g, func(r Result) float64 { return r.ServerCores })))
			pg = fmt.Sprintf("%s (%s)", num(pick(g, func(r Result) float64 { return r.PGCPUMsPerReq })),
				num(pick(g, func(r Result) float64 { return r.PGCores })))
			hwm = num(pick(g, func(r Result) float64 { return float64(r.ServerHWMKiB) / 1024 }))
		}
		name := modeName(k.mode)
		switch k.mode {
		case ModeHashLimit:
			rpsCell += " hashes/s"
		case ModeMailLat:
			rpsCell = "–"
			name += fmt.Sprintf(" (%.0f samples)", pick(g, func(r Result) float64 { return float64(r.Requests) }))
		}
		fmt.Fprintf(w, "| %s | %d | %d | %s | %s | %d | %s | %s | %s |\n", name, k.c, len(g), rpsCell, lat, errs, srv, pg, hwm)
	}
}

func cmpF(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// WriteTargets marks issue 14's throughput targets met or not met by rs.
func WriteTargets(w io.Writer, rs []Result) {
	_, m := group(rs)
	get := func(mode string, c int) ([]Result, bool) { g, ok := m[cellKey{mode, c}]; return g, ok }
	rps := func(g []Result) float64 { return pick(g, func(r Result) float64 { return r.RPS }) }
	mark := func(ok bool) string {
		if ok {
			return "**met**"
		}
		return "**not met**"
	}
	fmt.Fprintln(w, "| target (issue 14) | measured | verdict |")
	fmt.Fprintln(w, "|---|---|---|")
	if g, ok := get(ModeValidate, 8); ok {
		p99 := pick(g, func(r Result) float64 { return r.Latency.P99 })
		fmt.Fprintf(w, "| token check ≥ 12,000/s at c=8 with p99 < 10 ms | %s/s, p99 %s ms | %s |\n", num(rps(g)), num(p99), mark(rps(g) >= 12000 && p99 < 10))
	}
	if g, ok := get(ModeMe, 8); ok {
		fmt.Fprintf(w, "| `/me/data` ≥ 3,500/s (c=8) | %s/s | %s |\n", num(rps(g)), mark(rps(g) >= 3500))
	}
	if g, ok := get(ModeRefresh, 8); ok {
		fmt.Fprintf(w, "| refresh ≥ 2,500/s (c=8) | %s/s | %s |\n", num(rps(g)), mark(rps(g) >= 2500))
	}
	var hashes, hashCPU float64
	for k, g := range m {
		if k.mode == ModeHashLimit {
			hashes = rps(g)
			// CPU ms per hash, from the tool's own CPU over the window.
			hashCPU = pick(g, func(r Result) float64 { return ratio(r.ClientCores*r.Seconds*1000, float64(r.Requests)) })
		}
	}
	if g, ok := get(ModeLogin, 8); ok && hashes > 0 {
		share := rps(g) / hashes
		loginCPU := pick(g, func(r Result) float64 { return r.ServerCPUMsPerReq })
		// The CPU share does not depend on what else ran on the box: the
		// part of a login's server CPU that is the hash.
		fmt.Fprintf(w, "| login ≥ 90 %% of the measured argon2id limit (c=8) | %s/s of %s hashes/s = %.0f %% (by CPU: a hash costs %s ms, a login %s ms of server CPU = %.0f %%) | %s |\n",
			num(rps(g)), num(hashes), share*100, num(hashCPU), num(loginCPU), ratio(hashCPU, loginCPU)*100, mark(share >= 0.9))
	}
}

// WriteGrowth compares runs labelled small and large (e.g. 1k users vs
// 100k users / 1M sessions) per mode and concurrency: the median req/s,
// the median CPU ms per request of server + PostgreSQL, p99, and the
// paired ratios large/small, each the median over rounds of the ratio of
// the two runs of one round. Runs of one round are back to back, so the
// paired ratio cancels most of the drift of a shared box, which the plain
// medians do not. A figure is within target when large is no more than
// 10 % worse than small: req/s ratio >= 0.9, CPU ratio <= 1.1.
func WriteGrowth(w io.Writer, rs []Result, small, large string) {
	var a, b []Result
	for _, r := range rs {
		switch r.Label {
		case small:
			a = append(a, r)
		case large:
			b = append(b, r)
		}
	}
	ka, ma := group(a)
	_, mb := group(b)
	fmt.Fprintf(w, "| endpoint | c | runs | req/s %s | req/s %s | paired ratio | CPU ms/req srv+PG %s | %s | paired ratio | p99 ms %s | %s | req/s within 10 %% | CPU within 10 %% |\n", small, large, small, large, small, large)
	fmt.Fprintln(w, "|---|---|---|---|---|---|---|---|---|---|---|---|---|")
	cpu := func(r Result) float64 { return r.ServerCPUMsPerReq + r.PGCPUMsPerReq }
	rps := func(r Result) float64 { return r.RPS }
	p99 := func(r Result) float64 { return r.Latency.P99 }
	verdict := func(ok bool) string {
		if ok {
			return "yes"
		}
		return "**no**"
	}
	for _, k := range ka {
		ga, gb := ma[k], mb[k]
		if len(gb) == 0 {
			continue
		}
		rr, cr := pairedRatios(ga, gb, rps), pairedRatios(ga, gb, cpu)
		fmt.Fprintf(w, "| %s | %d | %d+%d | %s | %s | %.3f | %s | %s | %.3f | %s | %s | %s | %s |\n",
			modeName(k.mode), k.c, len(ga), len(gb), num(pick(ga, rps)), num(pick(gb, rps)), rr,
			num(pick(ga, cpu)), num(pick(gb, cpu)), cr, num(pick(ga, p99)), num(pick(gb, p99)),
			verdict(rr >= 0.9), verdict(cr <= 1.1))
	}
	fmt.Fprintln(w)
	fmt.Fprintf(w, "paired ratio = median over rounds of (%s ÷ %s) within the round; within 10 %%: req/s ratio ≥ 0.90, CPU ms/req ratio ≤ 1.10.\n", large, small)
}

// pairedRatios is the median over rounds of f(large)/f(small) for the runs
// of the same round; rounds with only one side are skipped.
func pairedRatios(small, large []Result, f func(Result) float64) float64 {
	byRound := map[int]Result{}
	for _, r := range small {
		byRound[r.Round] = r
	}
	var xs []float64
	for _, r := range large {
		if s, ok := byRound[r.Round]; ok {
			xs = append(xs, ratio(f(r), f(s)))
		}
	}
	return median(xs)
}

func ratio(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return a / b
}

// WriteLine prints one result as a line of text.
func WriteLine(w io.Writer, r Result) {
	var b strings.Builder
	fmt.Fprintf(&b, "%s c=%d: %d requests, %d errors, %.1f req/s, p50/p95/p99 %s/%s/%s ms",
		r.Mode, r.Concurrency, r.Requests, r.Errors, r.RPS, num(r.Latency.P50), num(r.Latency.P95), num(r.Latency.P99))
	if r.Register != nil {
		fmt.Fprintf(&b, " (register alone %s/%s/%s ms)", num(r.Register.P50), num(r.Register.P95), num(r.Register.P99))
	}
	fmt.Fprintf(&b, ", server %s ms/req (%s cores), PG %s ms/req (%s cores), client %s cores, VmHWM %s MiB, load %s",
		num(r.ServerCPUMsPerReq), num(r.ServerCores), num(r.PGCPUMsPerReq), num(r.PGCores), num(r.ClientCores),
		num(float64(r.ServerHWMKiB)/1024), r.LoadAvg)
	if r.Note != "" {
		fmt.Fprintf(&b, " [%s]", r.Note)
	}
	for _, e := range r.ErrorSamples {
		fmt.Fprintf(&b, "\n  error: %s", e)
	}
	fmt.Fprintln(w, b.String())
}
