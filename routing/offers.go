package routing

import "slices"

// offerSet is a call's ringing offers: agent id → the offer's timer
// token. A call rings one agent at a time except in ring-all queues, so
// the one offer is kept inline and a map is made only for a second one:
// the usual offer then costs no allocation for this bookkeeping (the map
// it replaced cost two per offered call: the map and its first group).
type offerSet struct {
	// one/token is the only offer while many is nil; token is never 0
	// for a live offer (the engine's tokens start at 1), so 0 means none.
	one   string
	token uint64
	// many holds every offer once a second one was made.
	many map[string]uint64
}

// tokenOf is the token of the offer to agent id, 0 when there is none.
func (s *offerSet) tokenOf(id string) uint64 {
	if s.many != nil {
		return s.many[id]
	}
	if s.token != 0 && s.one == id {
		return s.token
	}
	return 0
}

// has reports whether agent id has a ringing offer.
func (s *offerSet) has(id string) bool { return s.tokenOf(id) != 0 }

// add records (or renews) the offer to agent id with token tok (not 0).
func (s *offerSet) add(id string, tok uint64) {
	switch {
	case s.many != nil:
		s.many[id] = tok
	case s.token == 0 || s.one == id:
		s.one, s.token = id, tok
	default:
		s.many = map[string]uint64{s.one: s.token, id: tok}
		s.one, s.token = "", 0
	}
}

// remove forgets the offer to agent id, if any.
func (s *offerSet) remove(id string) {
	if s.many != nil {
		delete(s.many, id)
		return
	}
	if s.one == id {
		s.one, s.token = "", 0
	}
}

// count is how many offers are ringing.
func (s *offerSet) count() int {
	if s.many != nil {
		return len(s.many)
	}
	if s.token != 0 {
		return 1
	}
	return 0
}

// sortedIDs appends the agents with a ringing offer to dst in id order
// (decisions about them come out in that order whatever the map order).
func (s *offerSet) sortedIDs(dst []string) []string {
	if s.many == nil {
		if s.token != 0 {
			dst = append(dst, s.one)
		}
		return dst
	}
	n := len(dst)
	for id := range s.many {
		dst = append(dst, id)
	}
	slices.Sort(dst[n:])
	return dst
}
