package esltest

import (
	"bufio"
	"fmt"
	"net"
	"strconv"
	"time"
)

// DialOutbound plays the dialplan's `socket <addr> async full`: it creates
// an inbound channel for the call, connects to addr (an outbound ESL
// listener), sends nothing until the client says `connect`, and answers
// with the channel dump: one command/reply frame with no Content-Length
// whose URL-encoded headers are the whole channel (Event-Name:
// CHANNEL_DATA …) followed by Content-Type: command/reply, Reply-Text:
// %2BOK%0A, Socket-Mode: async, Control: full — as FreeSWITCH 1.10 does.
// The connection then takes myevents, linger, sendmsg (no uuid) and api.
// Without linger, the socket is closed right after CHANNEL_HANGUP (with a
// disconnect notice); with linger, a linger notice follows
// CHANNEL_HANGUP_COMPLETE and the socket stays open until exit.
func (s *Server) DialOutbound(addr string, call Call) (string, error) {
	nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return "", fmt.Errorf("esltest: outbound socket to %s: %w", addr, err)
	}
	call.NoPark = true
	uuid := s.InboundCall(call)
	s.mu.Lock()
	ch := s.channels[uuid]
	ch.app, ch.appData, ch.state = "socket", addr+" async full", "CS_EXECUTE"
	ch.vars["current_application"] = "socket"
	c := newConn(s, nc)
	c.authed, c.outboundUUID = true, uuid
	s.conns[c] = struct{}{}
	s.mu.Unlock()
	s.wg.Add(2)
	go c.writeLoop()
	go func() {
		defer s.wg.Done()
		defer c.close()
		r := bufio.NewReader(nc)
		cmd, err := readCommand(r)
		if err != nil || cmd.line != "connect" {
			return
		}
		c.write(s.channelData(uuid))
		c.serve(r)
	}()
	return uuid, nil
}

// channelData renders the reply to `connect`.
func (s *Server) channelData(uuid string) []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	ch, ok := s.channels[uuid]
	if !ok {
		return replyFrame("-ERR no such channel")
	}
	now := time.Now()
	hs := []Header{
		{"Event-Name", "CHANNEL_DATA"},
		{"Core-UUID", s.coreUUID},
		{"FreeSWITCH-Hostname", s.opts.Hostname},
		{"FreeSWITCH-Switchname", s.opts.Hostname},
		{"FreeSWITCH-IPv4", "192.0.2.2"},
		{"FreeSWITCH-IPv6", "fd00::2"},
		{"Event-Date-Local", now.Format("2006-01-02 15:04:05")},
		{"Event-Date-GMT", now.UTC().Format(time.RFC1123)},
		{"Event-Date-Timestamp", strconv.FormatInt(now.UnixMicro(), 10)},
		{"Event-Calling-File", "mod_event_socket.c"},
		{"Event-Calling-Function", "parse_command"},
		{"Event-Calling-Line-Number", "2021"},
		{"Event-Sequence", strconv.FormatUint(s.seq+1, 10)},
	}
	s.seq++
	hs = append(hs, ch.headers("CHANNEL_DATA")...)
	var out []Header
	for _, h := range hs {
		out = append(out, Header{h.Name, encodeValue(h.Value)})
	}
	out = append(out, Header{"Content-Type", "command/reply"}, Header{"Reply-Text", "%2BOK%0A"},
		Header{"Socket-Mode", "async"}, Header{"Control", "full"})
	return render(out, nil)
}

// outboundLifecycleLocked sends the notices an outbound socket gets when
// its channel ends (s.mu held, called after the event was queued).
func (c *conn) outboundLifecycleLocked(event string) {
	switch {
	case event == "CHANNEL_HANGUP" && !c.linger:
		c.enqueueQ(queued{frame: outboundNotice(c.outboundUUID, "disconnect", "", "", true), closeAfter: true})
		c.dead = true
	case event == "CHANNEL_HANGUP_COMPLETE" && c.linger:
		secs := "-1"
		if c.lingerSecs > 0 {
			secs = strconv.Itoa(c.lingerSecs)
			// FreeSWITCH says goodbye by itself when the linger time is up.
			uuid := c.outboundUUID
			time.AfterFunc(time.Duration(c.lingerSecs)*time.Second, func() {
				c.s.mu.Lock()
				c.enqueueQ(queued{frame: outboundNotice(uuid, "disconnect", "", "", true), closeAfter: true})
				c.s.mu.Unlock()
			})
		}
		name := ""
		if ch := c.s.channels[c.outboundUUID]; ch != nil {
			name = ch.name
		}
		c.enqueue(outboundNotice(c.outboundUUID, "linger", name, secs, false))
	}
}

// outboundNotice renders a disconnect notice in FreeSWITCH's header order;
// the linger notice names the channel and the linger time.
func outboundNotice(uuid, disposition, channelName, linger string, body bool) []byte {
	hs := []Header{{"Content-Type", "text/disconnect-notice"}, {"Controlled-Session-UUID", uuid}, {"Content-Disposition", disposition}}
	if linger != "" {
		hs = append(hs, Header{"Channel-Name", channelName}, Header{"Linger-Time", linger})
	}
	if body {
		hs = append(hs, Header{"Content-Length", strconv.Itoa(len(disconnectBody))})
		return render(hs, []byte(disconnectBody))
	}
	hs = append(hs, Header{"Content-Length", "0"})
	return render(hs, nil)
}
