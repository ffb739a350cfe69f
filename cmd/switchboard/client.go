package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/switchboard-cc/switchboard/api"
)

const defaultServer = "http://127.0.0.1:8080"

// Client talks to a running switchboard's API. Commands get one from
// App.Client.
type Client struct {
	Base  string
	Token string
	HTTP  *http.Client
}

// Client returns an API client for --server and --token.
func (a *App) Client() (*Client, error) {
	u, err := url.Parse(a.Server)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, usagef("--server %q is not an http(s) URL such as %s", a.Server, defaultServer)
	}
	return &Client{
		Base:  strings.TrimRight(a.Server, "/"),
		Token: a.Token,
		HTTP:  &http.Client{Timeout: 15 * time.Second},
	}, nil
}

// APIError is an error response from the server.
type APIError struct {
	Status  int
	Message string
	Field   string
}

func (e *APIError) Error() string {
	if e.Field != "" {
		return fmt.Sprintf("%s (field %q, HTTP %d)", e.Message, e.Field, e.Status)
	}
	return fmt.Sprintf("%s (HTTP %d)", e.Message, e.Status)
}

// ErrUnreachable means no server answered at --server.
var ErrUnreachable = errors.New("switchboard server not reachable")

// Get fetches path into out.
func (c *Client) Get(ctx context.Context, path string, out any) error {
	return c.Do(ctx, http.MethodGet, path, nil, out)
}

// Post sends in as JSON to path and decodes the answer into out (either may be nil).
func (c *Client) Post(ctx context.Context, path string, in, out any) error {
	return c.Do(ctx, http.MethodPost, path, in, out)
}

// Do makes one API request. Connection failures become a plain sentence
// that says where the server was expected and how to start it.
func (c *Client) Do(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return fmt.Errorf("encoding request: %w", err)
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.Base+path, body)
	if err != nil {
		return fmt.Errorf("building request %s %s: %w", method, path, err)
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	if c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	resp, err := c.HTTP.Do(req)
	if err != nil {
		if isConnError(err) {
			return fmt.Errorf("%w at %s: is `switchboard serve` running? (%v)", ErrUnreachable, c.Base, rootCause(err))
		}
		return fmt.Errorf("%s %s%s: %w", method, c.Base, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return fmt.Errorf("reading answer to %s %s: %w", method, path, err)
	}
	if resp.StatusCode >= 300 {
		var eb api.ErrorBody
		if json.Unmarshal(data, &eb) == nil && eb.Error.Message != "" {
			return &APIError{Status: resp.StatusCode, Message: eb.Error.Message, Field: eb.Error.Field}
		}
		return &APIError{Status: resp.StatusCode, Message: fmt.Sprintf("%s %s: %s", method, path, strings.TrimSpace(string(data)))}
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("%s %s%s answered something that is not switchboard's API (%v); is --server right?", method, c.Base, path, err)
	}
	return nil
}

func isConnError(err error) bool {
	var op *net.OpError
	var dns *net.DNSError
	return errors.As(err, &op) || errors.As(err, &dns) || errors.Is(err, io.EOF)
}

func rootCause(err error) error {
	for {
		u := errors.Unwrap(err)
		if u == nil {
			return err
		}
		err = u
	}
}
