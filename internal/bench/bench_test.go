package bench

import (
	"encoding/binary"
	"errors"
	"strings"
	"testing"
	"time"
)

// Negative control: computing the rank as floor(p/100*n) instead of ceil
// fails the p50-of-5 and p99-of-20 cases; indexing sorted[rank] instead of
// sorted[rank-1] fails p50-of-4, p95-of-20 and p99-of-100.
func TestPercentileNearestRank(t *testing.T) {
	ms := func(xs ...int) []time.Duration {
		out := make([]time.Duration, len(xs))
		for i, x := range xs {
			out[i] = time.Duration(x) * time.Millisecond
		}
		return out
	}
	twenty := ms(1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20)
	hundred := make([]time.Duration, 100)
	for i := range hundred {
		hundred[i] = time.Duration(i+1) * time.Millisecond
	}
	cases := []struct {
		name   string
		sorted []time.Duration
		p      float64
		want   time.Duration
	}{
		{"empty", nil, 50, 0},
		{"one sample", ms(7), 99, 7 * time.Millisecond},
		{"p50 of 4 is the 2nd", ms(1, 2, 3, 4), 50, 2 * time.Millisecond},
		{"p50 of 5 is the 3rd", ms(1, 2, 3, 4, 5), 50, 3 * time.Millisecond},
		{"p95 of 20 is the 19th", twenty, 95, 19 * time.Millisecond},
		{"p99 of 20 is the 20th", twenty, 99, 20 * time.Millisecond},
		{"p99 of 100 is the 99th", hundred, 99, 99 * time.Millisecond},
		{"p100 is the max", ms(1, 2, 3), 100, 3 * time.Millisecond},
		{"p0 is the min", ms(1, 2, 3), 0, 1 * time.Millisecond},
	}
	for _, c := range cases {
		if got := Percentile(c.sorted, c.p); got != c.want {
			t.Errorf("%s: Percentile(p%.0f) = %v, want %v", c.name, c.p, got, c.want)
		}
	}
}

// Negative control: accepting any host that resolves, or dropping the
// IsLoopback check (e.g. returning nil for every parsed IP), lets
// http://10.0.0.1 through; matching "localhost" as a prefix or suffix
// lets http://localhost.example.com through.
func TestCheckLoopback(t *testing.T) {
	for _, u := range []string{
		"http://127.0.0.1:3091", "http://127.9.8.7", "http://[::1]:3091", "http://localhost:3091",
		"https://LOCALHOST/", "http://127.0.0.1:3091/api",
	} {
		if err := CheckLoopback(u); err != nil {
			t.Errorf("CheckLoopback(%q) = %v, want nil", u, err)
		}
	}
	for _, u := range []string{
		"http://10.0.0.1", "http://10.0.0.1:3091", "http://example.com", "http://localhost.example.com",
		"http://128.0.0.1", "http://[::2]", "http://0.0.0.0:3091", "ftp://127.0.0.1", "127.0.0.1:3091", "",
		"http://[::ffff:10.0.0.1]",
	} {
		err := CheckLoopback(u)
		if err == nil {
			t.Errorf("CheckLoopback(%q) = nil, want a refusal", u)
			continue
		}
		if !errors.Is(err, ErrNotLoopback) && !strings.Contains(err.Error(), "parse") {
			t.Errorf("CheckLoopback(%q) = %v, want ErrNotLoopback", u, err)
		}
	}
}

// Negative control: splitting the whole line on spaces (instead of
// counting from the last ')') shifts every field for a comm with spaces or
// parentheses, and reading utime/stime one field off (index 10/12) yields
// 0+4711 or 42+7 instead of 4711+42; both fail, as does reading the ppid
// from field 3 (the state) instead of field 4.
func TestParseStat(t *testing.T) {
	// A real line shape (postgres backend), with a comm that contains a
	// space and a ')' to exercise the last-parenthesis rule.
	line := "12345 (postgres: x) y) S 4130 12345 12345 0 -1 4194560 5321 0 0 0 4711 42 7 3 20 0 1 0 987654 231415808 3567 18446744073709551615 1 1 0 0 0 0 0 4096 536887815 0 0 0 17 1 0 0 0 0 0"
	pt, err := ParseStat(line)
	if err != nil {
		t.Fatal(err)
	}
	if pt.Comm != "postgres: x) y" {
		t.Errorf("comm = %q", pt.Comm)
	}
	if pt.PPid != 4130 {
		t.Errorf("ppid = %d, want 4130", pt.PPid)
	}
	if pt.Self != 4711+42 {
		t.Errorf("utime+stime = %d, want %d", pt.Self, 4711+42)
	}
	if pt.Children != 7+3 {
		t.Errorf("cutime+cstime = %d, want %d", pt.Children, 7+3)
	}
	for _, bad := range []string{"", "12345 postgres S 1", "12345 (postgres) S 1 2 3", "1 (x) S 1 1 1 0 -1 0 0 0 0 0 u 42 7 3 20"} {
		if _, err := ParseStat(bad); err == nil {
			t.Errorf("ParseStat(%q) = nil error, want one", bad)
		}
	}
}

// Negative control: summing VmRSS instead of VmHWM, or a prefix match on
// "Vm" alone, returns 2048 or 1000 here instead of 4096.
func TestParseStatusHWM(t *testing.T) {
	status := "Name:\tmana\nVmPeak:\t  1000 kB\nVmHWM:\t    4096 kB\nVmRSS:\t    2048 kB\n"
	got, err := parseStatusKiB([]byte(status), "VmHWM:")
	if err != nil || got != 4096 {
		t.Fatalf("VmHWM = %d, %v; want 4096", got, err)
	}
}

// Negative control: reading the value of the entry after AT_CLKTCK, or
// stopping at the first entry, returns 6 or 33 instead of 250.
func TestParseAuxvClkTck(t *testing.T) {
	var b []byte
	for _, kv := range [][2]uint64{{33, 0x7fff0000}, {6, 4096}, {atClkTck, 250}, {3, 64}, {0, 0}} {
		b = binary.NativeEndian.AppendUint64(b, kv[0])
		b = binary.NativeEndian.AppendUint64(b, kv[1])
	}
	if got, err := parseAuxvClkTck(b); err != nil || got != 250 {
		t.Fatalf("AT_CLKTCK = %d, %v; want 250", got, err)
	}
	if _, err := parseAuxvClkTck(b[:32]); err == nil {
		t.Fatal("auxv without AT_CLKTCK: want an error")
	}
}

// Negative control: not counting a pid that appeared during the window
// (a new backend) loses its 5 ticks; counting a pid that vanished
// (absent at the end) from its start value would go negative/wrap.
func TestTicksSince(t *testing.T) {
	start := cpuSnapshot{1: 100, 2: 50, 3: 10}
	end := cpuSnapshot{1: 130, 2: 50, 4: 5}
	if got := ticksSince(start, end); got != 30+0+5 {
		t.Fatalf("ticksSince = %d, want 35", got)
	}
}
