package esltest

import (
	"bufio"
	"crypto/rand"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Options configure a fake FreeSWITCH.
type Options struct {
	// Password for `auth`; default "ClueCon".
	Password string
	// Hostname appears in FreeSWITCH-Hostname; default "vm" as in the captures.
	Hostname string
	// PlaybackTime is how long a finite prompt (file, say, tone) plays
	// before PLAYBACK_STOP / CHANNEL_EXECUTE_COMPLETE; default 10ms.
	// local_stream:// (music on hold) plays until uuid_break.
	PlaybackTime time.Duration
	// StartSequence is the first Event-Sequence; default 2700 (like the captures).
	StartSequence uint64
}

// Server is a fake FreeSWITCH listening on 127.0.0.1.
type Server struct {
	opts     Options
	ln       net.Listener
	coreUUID string

	mu        sync.Mutex
	conns     map[*conn]struct{}
	channels  map[string]*channel
	seq       uint64
	endpoints []endpointRule
	faults    Faults
	commands  []string
	globals   map[string]string
	talks     map[string]int // dial string → originated legs ever bridged with another channel
	closed    bool
	wg        sync.WaitGroup
}

// Faults are the misbehaviours a test can switch on. The zero value is a
// well-behaved FreeSWITCH.
type Faults struct {
	// ReplyDelay delays every command/reply and api/response (slow replies).
	ReplyDelay time.Duration
	// ReplyDelayMatch limits ReplyDelay to commands containing this text
	// (empty = all commands).
	ReplyDelayMatch string
	// Reorder makes each connection deliver events in reversed batches of
	// this many frames (a batch is flushed reversed when full or after 2ms).
	// 0 or 1 delivers in order.
	Reorder int
	// Refuse closes every new connection right after accept (FreeSWITCH down).
	Refuse bool
	// Mute swallows every command without reply (a switch that stopped
	// answering while keeping the socket open).
	Mute bool
}

// New starts a fake FreeSWITCH on 127.0.0.1 on a free port.
func New(opts Options) (*Server, error) {
	if opts.Password == "" {
		opts.Password = "ClueCon"
	}
	if opts.Hostname == "" {
		opts.Hostname = "vm"
	}
	if opts.PlaybackTime == 0 {
		opts.PlaybackTime = 10 * time.Millisecond
	}
	if opts.StartSequence == 0 {
		opts.StartSequence = 2700
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("esltest: listen: %w", err)
	}
	s := &Server{
		opts:     opts,
		ln:       ln,
		coreUUID: NewUUID(),
		conns:    map[*conn]struct{}{},
		channels: map[string]*channel{},
		seq:      opts.StartSequence - 1,
		globals:  map[string]string{},
		talks:    map[string]int{},
	}
	s.wg.Add(1)
	go s.accept()
	return s, nil
}

// Addr is the host:port to dial.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Close stops the server and closes every connection.
func (s *Server) Close() {
	s.mu.Lock()
	s.closed = true
	cs := make([]*conn, 0, len(s.conns))
	for c := range s.conns {
		cs = append(cs, c)
	}
	s.mu.Unlock()
	_ = s.ln.Close()
	for _, c := range cs {
		c.close()
	}
	s.wg.Wait()
}

// SetFaults replaces the active faults.
func (s *Server) SetFaults(f Faults) {
	s.mu.Lock()
	s.faults = f
	s.mu.Unlock()
}

// DropConnections closes every client connection abruptly (no disconnect
// notice), like a FreeSWITCH crash or a network cut.
func (s *Server) DropConnections() {
	s.mu.Lock()
	cs := make([]*conn, 0, len(s.conns))
	for c := range s.conns {
		cs = append(cs, c)
	}
	s.mu.Unlock()
	for _, c := range cs {
		c.close()
	}
}

// InjectFrame sends a raw frame with the given Content-Type and body to
// every authenticated connection (e.g. "log/data" or "text/rude-rejection",
// which eslgo cannot handle).
func (s *Server) InjectFrame(contentType, body string) {
	f := render([]Header{{"Content-Type", contentType}, {"Content-Length", strconv.Itoa(len(body))}}, []byte(body))
	s.mu.Lock()
	cs := make([]*conn, 0, len(s.conns))
	for c := range s.conns {
		if c.authed {
			cs = append(cs, c)
		}
	}
	s.mu.Unlock()
	for _, c := range cs {
		c.write(f)
	}
}

// InjectRaw writes exact bytes (a whole frame, e.g. one captured from a
// real FreeSWITCH) to every authenticated connection.
func (s *Server) InjectRaw(frame []byte) {
	s.mu.Lock()
	cs := make([]*conn, 0, len(s.conns))
	for c := range s.conns {
		if c.authed {
			cs = append(cs, c)
		}
	}
	s.mu.Unlock()
	for _, c := range cs {
		c.write(frame)
	}
}

// Connections returns how many client connections are open.
func (s *Server) Connections() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.conns)
}

// Commands returns every command line received so far (first line of each
// command, without the password of auth).
func (s *Server) Commands() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.commands...)
}

// Bridged counts the legs originated to a dial string matching pattern
// that were ever bridged (uuid_bridge) with another channel — each leg
// once, however often it was bridged — so a test or a load run counts
// calls connected at the PBX rather than in the code under test. A
// pattern ending in "*" matches by prefix, as in Endpoint.
func (s *Server) Bridged(pattern string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	pre, prefix := strings.CutSuffix(pattern, "*")
	n := 0
	for dial, c := range s.talks {
		if dial == pattern || prefix && strings.HasPrefix(dial, pre) {
			n += c
		}
	}
	return n
}

// Global returns a global variable set with global_setvar.
func (s *Server) Global(name string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.globals[name]
}

// NewUUID returns a random RFC 4122 version 4 UUID.
func NewUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

func (s *Server) accept() {
	defer s.wg.Done()
	for {
		nc, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.mu.Lock()
		if s.closed || s.faults.Refuse {
			s.mu.Unlock()
			_ = nc.Close()
			continue
		}
		c := newConn(s, nc)
		s.conns[c] = struct{}{}
		s.mu.Unlock()
		s.wg.Add(2)
		go c.readLoop()
		go c.writeLoop()
	}
}

// conn is one client connection.
type conn struct {
	s  *Server
	nc net.Conn

	wmu sync.Mutex // one frame at a time on the socket
	// apiMu is held while an `api` command runs: FreeSWITCH delivers no
	// event on a connection between an api command and its reply.
	apiMu sync.Mutex

	// guarded by s.mu
	authed bool
	all    bool
	events map[string]bool
	format string
	dead   bool
	// outbound mode (the dialplan's `socket` application)
	outboundUUID string
	myevents     bool
	linger       bool
	lingerSecs   int // linger N: FreeSWITCH closes by itself N seconds after the hangup
	queue        []queued
	wbuf         []byte // writeLoop's batch buffer
	wake         chan struct{}
	closeCh      chan struct{}
	once         sync.Once
}

type queued struct {
	frame      []byte
	closeAfter bool
}

func newConn(s *Server, nc net.Conn) *conn {
	return &conn{s: s, nc: nc, events: map[string]bool{}, wake: make(chan struct{}, 1), closeCh: make(chan struct{})}
}

func (c *conn) close() {
	c.once.Do(func() {
		c.s.mu.Lock()
		c.dead = true
		delete(c.s.conns, c)
		c.s.mu.Unlock()
		close(c.closeCh)
		_ = c.nc.Close()
	})
}

func (c *conn) write(b []byte) {
	c.wmu.Lock()
	_ = c.nc.SetWriteDeadline(time.Now().Add(5 * time.Second))
	_, err := c.nc.Write(b)
	c.wmu.Unlock()
	if err != nil {
		c.close()
	}
}

// enqueue queues an event frame for this connection (caller holds s.mu).
func (c *conn) enqueue(frame []byte) { c.enqueueQ(queued{frame: frame}) }

func (c *conn) enqueueQ(q queued) {
	if c.dead {
		return
	}
	c.queue = append(c.queue, q)
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// writeLoop delivers queued events, never while an api command runs, and
// in reversed batches when the Reorder fault is on.
func (c *conn) writeLoop() {
	defer c.s.wg.Done()
	for {
		select {
		case <-c.closeCh:
			return
		case <-c.wake:
		}
		for {
			c.s.mu.Lock()
			reorder := c.s.faults.Reorder
			if reorder > 1 && len(c.queue) < reorder {
				// wait briefly for a full batch so the inversion is real
				c.s.mu.Unlock()
				select {
				case <-time.After(2 * time.Millisecond):
				case <-c.closeCh:
					return
				}
				c.s.mu.Lock()
			}
			batch := c.queue
			if reorder > 1 && len(batch) > reorder {
				batch = batch[:reorder]
			}
			c.queue = c.queue[len(batch):]
			c.s.mu.Unlock()
			if len(batch) == 0 {
				break
			}
			if reorder > 1 {
				for i, j := 0, len(batch)-1; i < j; i, j = i+1, j-1 {
					batch[i], batch[j] = batch[j], batch[i]
				}
			}
			// One write per batch (not per frame): the bytes on the wire are
			// the same, the syscalls far fewer.
			out := c.wbuf[:0]
			closeAfter := false
			for _, q := range batch {
				out = append(out, q.frame...)
				if q.closeAfter {
					closeAfter = true
					break
				}
			}
			c.wbuf = out
			c.apiMu.Lock()
			c.write(out)
			c.apiMu.Unlock()
			if closeAfter {
				c.close()
				return
			}
		}
	}
}

func (c *conn) readLoop() {
	defer c.s.wg.Done()
	defer c.close()
	c.write(render([]Header{{"Content-Type", "auth/request"}}, nil))
	c.serve(bufio.NewReader(c.nc))
}
