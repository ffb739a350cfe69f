package ari

import (
	"context"
	"log/slog"
	"sync"

	xslog "golang.org/x/exp/slog"
)

// fifo is an unbounded ordered queue: push never blocks, so the websocket
// reader can hand each event over at once however busy the consumer is
// (ari/v6's bus drops events past 100 per subscriber instead).
type fifo[T any] struct {
	mu     sync.Mutex
	items  []T
	signal chan struct{}
}

func newFifo[T any]() *fifo[T] { return &fifo[T]{signal: make(chan struct{}, 1)} }

func (q *fifo[T]) push(v T) {
	q.mu.Lock()
	q.items = append(q.items, v)
	q.mu.Unlock()
	select {
	case q.signal <- struct{}{}:
	default:
	}
}

// popAll waits for items and takes them all, in order.
func (q *fifo[T]) popAll(ctx context.Context) ([]T, bool) {
	for {
		q.mu.Lock()
		if len(q.items) > 0 {
			items := q.items
			q.items = nil
			q.mu.Unlock()
			return items, true
		}
		q.mu.Unlock()
		select {
		case <-q.signal:
		case <-ctx.Done():
			return nil, false
		}
	}
}

func (q *fifo[T]) len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.items)
}

// xslogBridge lets ari/v6, which logs with golang.org/x/exp/slog (a type
// distinct from log/slog), write into the application's log/slog handler.
type xslogBridge struct{ h slog.Handler }

// newXSlog returns an x/exp/slog logger that writes to l.
func newXSlog(l *slog.Logger) *xslog.Logger {
	return xslog.New(&xslogBridge{h: l.Handler()})
}

func (b *xslogBridge) Enabled(ctx context.Context, l xslog.Level) bool {
	return b.h.Enabled(ctx, slog.Level(l))
}

func (b *xslogBridge) Handle(ctx context.Context, r xslog.Record) error {
	nr := slog.NewRecord(r.Time, slog.Level(r.Level), r.Message, r.PC)
	r.Attrs(func(a xslog.Attr) bool {
		nr.AddAttrs(convertAttr(a))
		return true
	})
	return b.h.Handle(ctx, nr)
}

func convertAttr(a xslog.Attr) slog.Attr {
	if a.Value.Kind() == xslog.KindGroup {
		var sub []any
		for _, g := range a.Value.Group() {
			sub = append(sub, convertAttr(g))
		}
		return slog.Group(a.Key, sub...)
	}
	return slog.Any(a.Key, a.Value.Any())
}

func (b *xslogBridge) WithAttrs(as []xslog.Attr) xslog.Handler {
	out := make([]slog.Attr, 0, len(as))
	for _, a := range as {
		out = append(out, convertAttr(a))
	}
	return &xslogBridge{h: b.h.WithAttrs(out)}
}

func (b *xslogBridge) WithGroup(name string) xslog.Handler {
	return &xslogBridge{h: b.h.WithGroup(name)}
}
