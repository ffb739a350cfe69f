package load

import (
	"math"
	"os"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// processCPU is the CPU time (user + system) the whole process has used.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// procStatus reads a kB figure from /proc/self/status (VmRSS, VmHWM); 0
// where there is no /proc.
func procStatus(key string) int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(l, key+":"); ok {
			n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return n << 10
		}
	}
	return 0
}

// liveHeap collects garbage first, so the figure is what the run keeps
// (not what it has not freed yet): the number that must stay flat.
func liveHeap() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapInuse
}

// histogram counts durations in logarithmic buckets (2 % wide), so a run
// of any length keeps the same few kilobytes and percentiles are within
// 2 % of the exact figure.
type histogram struct {
	counts map[int]int
	n      int
	max    time.Duration
}

const bucketBase = 1.02

func bucketOf(d time.Duration) int {
	ms := float64(d) / float64(time.Millisecond)
	if ms < 1 {
		return -1 // under a millisecond
	}
	return int(math.Log(ms) / math.Log(bucketBase))
}

// bucketTop is the upper bound of bucket b.
func bucketTop(b int) time.Duration {
	if b < 0 {
		return time.Millisecond
	}
	return time.Duration(math.Pow(bucketBase, float64(b+1)) * float64(time.Millisecond))
}

func (h *histogram) add(d time.Duration) {
	if h.counts == nil {
		h.counts = map[int]int{}
	}
	if d < 0 {
		d = 0
	}
	h.counts[bucketOf(d)]++
	h.n++
	if d > h.max {
		h.max = d
	}
}

// quantile is the upper bound of the bucket holding the q-th share.
func (h *histogram) quantile(q float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	keys := make([]int, 0, len(h.counts))
	for k := range h.counts {
		keys = append(keys, k)
	}
	sort.Ints(keys)
	rank := int(math.Ceil(q * float64(h.n)))
	if rank < 1 {
		rank = 1
	}
	seen := 0
	for _, k := range keys {
		seen += h.counts[k]
		if seen >= rank {
			return min(bucketTop(k), h.max)
		}
	}
	return h.max
}
