package routing

import (
	"strconv"
	"time"
)

// The reason texts of offer traces are built here by appending into a
// stack buffer: one allocation (the string) per reason, where fmt.Sprintf
// cost three or four (each argument boxed, the time and duration
// formatted apart, the result). An offer is made on almost every routing
// decision, so this is on the hot path. The texts are exactly what the
// fmt formats gave ("%s", "%d", and a time.Duration's "%s"); reasons_test
// checks them against fmt.

// reasonBuf is big enough for every reason with ordinary ids; a longer
// one spills to the heap and is still right.
type reasonBuf [256]byte

// offerReason is the trace reason for q's strategy choosing ag.
func offerReason(q *queueState, ag *agentState, req map[string]int) string {
	var buf reasonBuf
	b := buf[:0]
	id := ag.def.ID
	switch q.cfg.Strategy {
	case StrategyFewestCalls:
		b = append(append(append(b, "fewest calls: "...), id...), " has handled "...)
		b = strconv.AppendInt(b, int64(ag.handled), 10)
	case StrategyLeastTalk:
		b = append(append(append(b, "least talk time: "...), id...), " has talked "...)
		b = appendDuration(b, ag.talk)
	case StrategyTopDown:
		b = append(append(append(b, "top-down: "...), id...), " is first in order ("...)
		b = append(strconv.AppendInt(b, int64(ag.def.Queues[q.cfg.Name]), 10), ')')
	case StrategyRoundRobin:
		b = append(append(append(b, "round-robin: "...), id...), " is next in turn"...)
	case StrategyBestSkill:
		b = append(append(append(b, "best skill: "...), id...), " scores "...)
		b = strconv.AppendInt(b, int64(skillScore(ag, req, q.cfg.Name)), 10)
	case StrategyRandom:
		b = append(append(append(b, "random: "...), id...), " drawn"...)
	default:
		b = append(append(append(b, "longest idle: "...), id...), " available since "...)
		b = ag.idleSince.UTC().AppendFormat(b, time.RFC3339)
	}
	return string(b)
}

// ringAllReason is the trace reason of a ring-all offer to n agents.
func ringAllReason(n int) string {
	var buf reasonBuf
	b := append(buf[:0], "ring-all: "...)
	b = strconv.AppendInt(b, int64(n), 10)
	b = append(b, " available agents rung at once; the first to answer wins"...)
	return string(b)
}

// randomReason is the trace reason of a random draw of id among n.
func randomReason(id string, n int) string {
	var buf reasonBuf
	b := append(append(append(buf[:0], "random: "...), id...), " drawn from "...)
	b = strconv.AppendInt(b, int64(n), 10)
	return string(b)
}

// availableReason is the trace reason of an offer to an agent who became
// free: the queue it came from, the agent's priority there, how long the
// call waited (rounded to the second) and its priority.
func availableReason(agent, queue string, prio int, waited time.Duration, callPrio int) string {
	var buf reasonBuf
	b := append(append(append(buf[:0], "agent "...), agent...), " became available: first eligible call in its queues by their order ("...)
	b = append(append(b, queue...), " is its priority "...)
	b = strconv.AppendInt(b, int64(prio), 10)
	b = append(b, ") and then by wait (waited "...)
	b = appendDuration(b, waited)
	b = append(b, ", call priority "...)
	b = strconv.AppendInt(b, int64(callPrio), 10)
	return string(append(b, ')'))
}

// appendDuration appends d as time.Duration.String writes it ("1h2m3.5s",
// "250ms", "0s"), without the allocation String makes.
func appendDuration(b []byte, d time.Duration) []byte {
	// The algorithm is String's (time/time.go), writing into the end of
	// a fixed array and copying the used part.
	var arr [32]byte
	w := len(arr)
	u := uint64(d)
	neg := d < 0
	if neg {
		u = -u
	}
	if u < uint64(time.Second) {
		// Below one second: "0s" or a smaller unit with a fraction.
		var prec int
		w--
		arr[w] = 's'
		w--
		switch {
		case u == 0:
			return append(b, "0s"...)
		case u < uint64(time.Microsecond):
			prec = 0
			arr[w] = 'n'
		case u < uint64(time.Millisecond):
			prec = 3
			// U+00B5 'µ' micro sign, as String writes it.
			w--
			copy(arr[w:], "µ")
		default:
			prec = 6
			arr[w] = 'm'
		}
		w, u = fmtFrac(arr[:w], u, prec)
		w = fmtInt(arr[:w], u)
	} else {
		w--
		arr[w] = 's'
		w, u = fmtFrac(arr[:w], u, 9)
		// u is now whole seconds.
		w = fmtInt(arr[:w], u%60)
		u /= 60
		if u > 0 {
			w--
			arr[w] = 'm'
			w = fmtInt(arr[:w], u%60)
			u /= 60
			if u > 0 {
				w--
				arr[w] = 'h'
				w = fmtInt(arr[:w], u)
			}
		}
	}
	if neg {
		w--
		arr[w] = '-'
	}
	return append(b, arr[w:]...)
}

// fmtFrac writes the fraction of v/10^prec (dropping trailing zeros,
// with its dot) into the end of buf and returns where it starts and
// v/10^prec.
func fmtFrac(buf []byte, v uint64, prec int) (int, uint64) {
	w := len(buf)
	print := false
	for i := 0; i < prec; i++ {
		digit := v % 10
		print = print || digit != 0
		if print {
			w--
			buf[w] = byte(digit) + '0'
		}
		v /= 10
	}
	if print {
		w--
		buf[w] = '.'
	}
	return w, v
}

// fmtInt writes v in decimal into the end of buf and returns where it
// starts.
func fmtInt(buf []byte, v uint64) int {
	w := len(buf)
	if v == 0 {
		w--
		buf[w] = '0'
		return w
	}
	for v > 0 {
		w--
		buf[w] = byte(v%10) + '0'
		v /= 10
	}
	return w
}
