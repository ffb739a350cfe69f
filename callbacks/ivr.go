package callbacks

import (
	"context"
	"time"

	"github.com/switchboard-cc/switchboard/adapters"
	"github.com/switchboard-cc/switchboard/storage"
)

// Prompts played by the virtual-hold offer (sound names; the PBX maps them
// to files: Asterisk sounds dir, FreeSWITCH sound prefix). Installers
// record them in their language.
const (
	PromptOffer       = "callback-offer"            // "to keep your place and be called back, press 1"
	PromptYourNumber  = "callback-your-number"      // "we will call you back on"
	PromptConfirm     = "callback-confirm-or-other" // "press 1 to confirm, 2 to give another number"
	PromptEnterNumber = "callback-enter-number"     // "enter your number, then the hash key"
	PromptInvalid     = "callback-invalid-number"   // "that number is not valid"
	PromptConfirmed   = "callback-confirmed"        // "thank you, we will call you back; you keep your place"
	PromptSorry       = "callback-unavailable"      // "callbacks are not available now; please hold"
	// PromptSorryLater is played to a customer dialled ahead (lead time)
	// released at the hold limit: "sorry, no agent is free yet; we will
	// call you back shortly".
	PromptSorryLater = "callback-sorry-later"
	maxEntryTries    = 3
)

type offerPhase int

const (
	phaseOffered offerPhase = iota
	phaseConfirm
	phaseCollect
	phaseDone
)

type offerSession struct {
	call   OfferCall
	phase  offerPhase
	number string
	digits string
	tries  int
	token  int
	done   func(accepted bool, cb *storage.Callback) error
}

// OfferCall is a waiting caller to whom a callback is offered.
type OfferCall struct {
	CallID       string
	Leg          adapters.LegRef
	Queue        string
	CallerNumber string
	Priority     int
	EnqueuedAt   time.Time
	Skills       map[string]int
}

// ShouldOffer applies the queue's offer rule (OfferRule) to a waiting caller.
func (d *Desk) ShouldOffer(queue string, waited, estimate time.Duration, staffed bool) bool {
	q, ok := d.cfg.Queues[queue]
	return ok && q.Offer.ShouldOffer(waited, estimate, staffed)
}

// Offer plays the callback offer to a waiting caller and runs the little
// dialogue on the caller's keys: 1 accepts; then 1 confirms the number
// they called from or 2 lets them key another, ended by #. On acceptance
// the entry is stored durably (keeping the caller's enqueue time,
// priority and skills), done(true, cb) is called — the caller is then to
// leave the queue without counting as abandoned — the confirmation is
// played and the caller is hung up. Any other key, or silence for
// KeyTimeout, is a no: done(false, nil) and the caller keeps waiting.
// done is called once, from a desk goroutine; it must not block long. When
// done(true, …) returns an error (the caller was connected to an agent in
// the meantime, or hung up), the stored callback is cancelled and the
// caller is left alone.
func (d *Desk) Offer(ctx context.Context, c OfferCall, done func(accepted bool, cb *storage.Callback) error) {
	s := &offerSession{call: c, done: done}
	d.mu.Lock()
	if _, busy := d.ivr[c.Leg]; busy {
		d.mu.Unlock()
		return
	}
	d.ivr[c.Leg] = s
	d.mu.Unlock()
	d.log.Info("callback offered", "call_id", c.CallID, "queue", c.Queue, "waited_since", c.EnqueuedAt)
	d.play(c.Leg, adapters.Media{Kind: "sound", Value: PromptOffer})
	d.arm(s)
	// Counted after the prompt started: the caller must not wait on the database.
	if err := d.store.RecordCallbackOffer(ctx, c.Queue, c.CallID, d.clk.Now()); err != nil {
		d.log.Warn("could not count the callback offer", "call_id", c.CallID, "err", err)
	}
}

// arm (re)starts the key timeout of a session.
func (d *Desk) arm(s *offerSession) {
	d.mu.Lock()
	s.token++
	tok := s.token
	d.mu.Unlock()
	ch := d.clk.After(d.cfg.KeyTimeout)
	go func() {
		<-ch
		d.mu.Lock()
		cur := d.ivr[s.call.Leg]
		expired := cur == s && s.token == tok && s.phase != phaseDone
		if expired {
			s.phase = phaseDone
			delete(d.ivr, s.call.Leg)
		}
		d.mu.Unlock()
		if expired {
			d.log.Info("callback offer timed out", "call_id", s.call.CallID)
			s.done(false, nil)
		}
	}()
}

func (d *Desk) play(leg adapters.LegRef, media ...adapters.Media) {
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if _, err := d.pbx.Play(ctx, leg, media...); err != nil {
			d.log.Warn("callback prompt failed", "leg", leg.String(), "err", err)
		}
	}()
}

func (d *Desk) onIVRHangup(leg adapters.LegRef) {
	d.mu.Lock()
	s := d.ivr[leg]
	if s != nil {
		s.phase = phaseDone
		delete(d.ivr, leg)
	}
	d.mu.Unlock()
}

func (d *Desk) onDTMF(e adapters.DTMFReceived) {
	d.mu.Lock()
	s := d.ivr[e.Ref]
	if s == nil || s.phase == phaseDone {
		d.mu.Unlock()
		return
	}
	leg := e.Ref
	var accept, decline bool
	var media []adapters.Media
	switch s.phase {
	case phaseOffered:
		if e.Digit == "1" {
			if n, ok := NormalizeNumber(s.call.CallerNumber); ok {
				s.number = n
				s.phase = phaseConfirm
				media = confirmPrompt(n)
			} else {
				// No usable caller id (withheld): ask for a number at once.
				s.phase = phaseCollect
				media = []adapters.Media{{Kind: "sound", Value: PromptEnterNumber}}
			}
		} else {
			decline = true
		}
	case phaseConfirm:
		switch e.Digit {
		case "1":
			accept = true
		case "2":
			s.phase, s.digits = phaseCollect, ""
			media = []adapters.Media{{Kind: "sound", Value: PromptEnterNumber}}
		default:
			media = confirmPrompt(s.number)
		}
	case phaseCollect:
		switch {
		case e.Digit == "#":
			if n, ok := NormalizeNumber(s.digits); ok {
				s.number, s.phase = n, phaseConfirm
				media = confirmPrompt(n)
			} else if s.tries++; s.tries >= maxEntryTries {
				decline = true
			} else {
				s.digits = ""
				media = []adapters.Media{{Kind: "sound", Value: PromptInvalid}, {Kind: "sound", Value: PromptEnterNumber}}
			}
		case e.Digit == "*":
			s.digits = ""
		case len(e.Digit) == 1 && e.Digit[0] >= '0' && e.Digit[0] <= '9' && len(s.digits) < maxNumberDigits:
			s.digits += e.Digit
		}
	}
	if accept || decline {
		s.phase = phaseDone
		delete(d.ivr, leg)
	}
	d.mu.Unlock()
	switch {
	case decline:
		d.log.Info("callback offer declined", "call_id", s.call.CallID)
		s.done(false, nil)
	case accept:
		go d.accept(s)
	default:
		if len(media) > 0 {
			d.play(leg, media...)
		}
		d.arm(s)
	}
}

func confirmPrompt(n string) []adapters.Media {
	return []adapters.Media{{Kind: "sound", Value: PromptYourNumber}, {Kind: "digits", Value: n}, {Kind: "sound", Value: PromptConfirm}}
}

// accept stores the entry, tells the call flow, confirms and hangs up.
func (d *Desk) accept(s *offerSession) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c := s.call
	cb, err := d.acceptHold(ctx, Hold{CallID: c.CallID, Queue: c.Queue, Number: s.number, Priority: c.Priority, EnqueuedAt: c.EnqueuedAt, Skills: c.Skills}, false)
	if err != nil {
		// Not durable, so not promised: the caller keeps waiting.
		d.log.Error("could not store the callback; caller keeps waiting", "call_id", c.CallID, "err", err)
		d.play(c.Leg, adapters.Media{Kind: "sound", Value: PromptSorry})
		s.done(false, nil)
		return
	}
	if err := s.done(true, cb); err != nil {
		d.log.Warn("call flow refused the accepted callback; cancelling it", "call_id", c.CallID, "callback_id", cb.ID, "err", err)
		if cerr := d.store.CancelCallback(ctx, cb.ID, "caller no longer waiting: "+err.Error(), d.clk.Now()); cerr != nil {
			d.log.Error("could not cancel refused callback", "callback_id", cb.ID, "err", cerr)
		}
		return
	}
	d.Dispatch(ctx)
	// Hang up only when the confirmation has been heard (or after a bound):
	// a hangup right after Play would cut it off.
	key := "playleg:" + c.Leg.String()
	ch := make(chan adapters.Event, 4)
	d.mu.Lock()
	d.waiters[key] = ch
	d.mu.Unlock()
	if _, err := d.pbx.Play(ctx, c.Leg, adapters.Media{Kind: "sound", Value: PromptConfirmed}); err != nil {
		d.log.Warn("confirmation prompt failed", "call_id", c.CallID, "err", err)
	} else {
		select {
		case <-ch:
		case <-d.clk.After(15 * time.Second):
		case <-ctx.Done():
		}
	}
	d.mu.Lock()
	delete(d.waiters, key)
	d.mu.Unlock()
	if err := d.pbx.Hangup(ctx, c.Leg, 16); err != nil {
		d.log.Warn("hangup after callback accepted failed", "call_id", c.CallID, "err", err)
	}
}
