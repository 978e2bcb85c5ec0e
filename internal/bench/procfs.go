package bench

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// ProcTimes is the CPU time of one process in clock ticks, from /proc/<pid>/stat.
type ProcTimes struct {
	Comm string
	PPid int
	// Self is utime+stime: the process's own CPU.
	Self uint64
	// Children is cutime+cstime: CPU of children it has waited for. For the
	// postmaster this is the CPU of backends that exited, which would
	// otherwise vanish from a window in which a connection closed.
	Children uint64
}

// ParseStat parses the contents of /proc/<pid>/stat. The command name is in
// parentheses and may itself contain spaces and parentheses, so the fields
// are counted from the last ')'.
func ParseStat(line string) (ProcTimes, error) {
	open := strings.IndexByte(line, '(')
	end := strings.LastIndexByte(line, ')')
	if open < 0 || end < open {
		return ProcTimes{}, fmt.Errorf("bench: /proc stat line has no (comm): %q", line)
	}
	// Fields after ") " start at field 3 (state); utime is field 14.
	f := strings.Fields(line[end+1:])
	if len(f) < 15 {
		return ProcTimes{}, fmt.Errorf("bench: /proc stat line has %d fields after comm, want >= 15", len(f))
	}
	var v [4]uint64
	for i := range v {
		n, err := strconv.ParseUint(f[11+i], 10, 64)
		if err != nil {
			return ProcTimes{}, fmt.Errorf("bench: /proc stat field %d: %w", 14+i, err)
		}
		v[i] = n
	}
	ppid, err := strconv.Atoi(f[1])
	if err != nil {
		return ProcTimes{}, fmt.Errorf("bench: /proc stat field 4 (ppid): %w", err)
	}
	return ProcTimes{Comm: line[open+1 : end], PPid: ppid, Self: v[0] + v[1], Children: v[2] + v[3]}, nil
}

// ReadProcTimes reads /proc/<pid>/stat.
func ReadProcTimes(pid int) (ProcTimes, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return ProcTimes{}, fmt.Errorf("bench: read stat of pid %d: %w", pid, err)
	}
	return ParseStat(string(b))
}

// ReadHWMKiB returns VmHWM (peak resident set) of pid in KiB.
func ReadHWMKiB(pid int) (uint64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, fmt.Errorf("bench: read status of pid %d: %w", pid, err)
	}
	return parseStatusKiB(b, "VmHWM:")
}

func parseStatusKiB(status []byte, key string) (uint64, error) {
	sc := bufio.NewScanner(bytes.NewReader(status))
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, key) {
			continue
		}
		f := strings.Fields(line[len(key):])
		if len(f) == 0 {
			break
		}
		n, err := strconv.ParseUint(f[0], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("bench: %s %q: %w", key, f[0], err)
		}
		return n, nil
	}
	return 0, fmt.Errorf("bench: no %s line in status", key)
}

// PIDsByComm lists the processes whose command name (/proc/<pid>/comm) is
// comm, e.g. every postgres backend and the postmaster.
func PIDsByComm(comm string) ([]int, error) {
	dirs, err := filepath.Glob("/proc/[0-9]*")
	if err != nil {
		return nil, fmt.Errorf("bench: list /proc: %w", err)
	}
	var out []int
	for _, d := range dirs {
		b, err := os.ReadFile(filepath.Join(d, "comm"))
		if err != nil {
			continue // exited since the listing
		}
		if strings.TrimSpace(string(b)) != comm {
			continue
		}
		pid, err := strconv.Atoi(filepath.Base(d))
		if err == nil {
			out = append(out, pid)
		}
	}
	return out, nil
}

// postgresPIDs lists the PostgreSQL processes to count: every process
// named postgres, or, when postmaster > 0, only that postmaster and its
// children (the backends and auxiliary processes of one cluster), so that
// other clusters on the machine do not enter the figure.
func postgresPIDs(postmaster int) []int {
	pids, _ := PIDsByComm("postgres")
	if postmaster <= 0 {
		return pids
	}
	out := []int{postmaster}
	for _, pid := range pids {
		if t, err := ReadProcTimes(pid); err == nil && t.PPid == postmaster {
			out = append(out, pid)
		}
	}
	return out
}

// atClkTck is AT_CLKTCK, the auxiliary-vector entry with the kernel's
// USER_HZ, which is what sysconf(_SC_CLK_TCK) returns.
const atClkTck = 17

// ClockTicks returns the units of /proc/<pid>/stat times per second, read
// from the auxiliary vector (no cgo needed); 100, Linux's USER_HZ on every
// common architecture, when that cannot be read.
func ClockTicks() int {
	b, err := os.ReadFile("/proc/self/auxv")
	if err != nil {
		return 100
	}
	if n, err := parseAuxvClkTck(b); err == nil && n > 0 {
		return n
	}
	return 100
}

// parseAuxvClkTck reads AT_CLKTCK from a 64-bit native-endian auxv.
func parseAuxvClkTck(b []byte) (int, error) {
	for i := 0; i+16 <= len(b); i += 16 {
		key := binary.NativeEndian.Uint64(b[i:])
		val := binary.NativeEndian.Uint64(b[i+8:])
		if key == 0 {
			break
		}
		if key == atClkTck {
			return int(val), nil
		}
	}
	return 0, errors.New("bench: no AT_CLKTCK in auxv")
}

// cpuSnapshot is the CPU ticks of a set of processes at one instant.
type cpuSnapshot map[int]uint64

// snapshot reads self (+children when withChildren) ticks of each pid; pids
// that are gone are skipped.
func snapshot(pids []int, withChildren bool) cpuSnapshot {
	s := make(cpuSnapshot, len(pids))
	for _, pid := range pids {
		t, err := ReadProcTimes(pid)
		if err != nil {
			continue
		}
		s[pid] = t.Self
		if withChildren {
			s[pid] += t.Children
		}
	}
	return s
}

// ticksSince sums, over the pids of end, the ticks spent since start. A pid
// absent at the start (a backend that connected during the window) counts
// from zero, since all its CPU was spent in the window.
func ticksSince(start, end cpuSnapshot) uint64 {
	var sum uint64
	for pid, t := range end {
		if t0, ok := start[pid]; ok && t >= t0 {
			sum += t - t0
		} else if !ok {
			sum += t
		}
	}
	return sum
}
