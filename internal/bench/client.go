package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"
)

// client is a keep-alive JSON client for one base URL.
type client struct {
	base string
	http *http.Client
}

// newClient returns a client whose idle pool holds a connection per worker,
// so that the closed loop reuses connections instead of dialing.
func newClient(base string, conns int, timeout time.Duration) *client {
	tr := &http.Transport{
		MaxIdleConns:        conns + 4,
		MaxIdleConnsPerHost: conns + 4,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
	}
	return &client{base: base, http: &http.Client{Transport: tr, Timeout: timeout}}
}

// StatusError is a non-2xx answer.
type StatusError struct {
	Method, Path string
	Status       int
	Body         string
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("%s %s: status %d: %s", e.Method, e.Path, e.Status, e.Body)
}

// do sends body (JSON-encoded unless nil) and decodes a 2xx answer into out
// (when non-nil). The body is always drained so the connection is reused.
func (c *client) do(ctx context.Context, method, path, bearer string, body, out any) error {
	var rd io.Reader
	if body != nil {
		raw, err := json.Marshal(body)
		if err != nil {
			return fmt.Errorf("encode %s body: %w", path, err)
		}
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return fmt.Errorf("new request %s: %w", path, err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer func() { _ = resp.Body.Close() }()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return fmt.Errorf("%s %s: read body: %w", method, path, err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		if len(raw) > 200 {
			raw = raw[:200]
		}
		return &StatusError{Method: method, Path: path, Status: resp.StatusCode, Body: string(raw)}
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			return fmt.Errorf("%s %s: decode answer: %w", method, path, err)
		}
	}
	return nil
}

// tokens is the answer of login and refresh.
type tokens struct {
	AccessToken  string `json:"accessToken"`
	RefreshToken string `json:"refreshToken"`
}

func (c *client) register(ctx context.Context, email, pw string) error {
	return c.do(ctx, http.MethodPost, "/api/v1/auth/register",
		"", map[string]string{"email": email, "password": pw, "name": "Bench"}, nil)
}

func (c *client) login(ctx context.Context, email, pw string) (tokens, error) {
	var t tokens
	err := c.do(ctx, http.MethodPost, "/api/v1/auth/login", "", map[string]string{"email": email, "password": pw}, &t)
	if err == nil && (t.AccessToken == "" || t.RefreshToken == "") {
		err = fmt.Errorf("login %s: answer without tokens", email)
	}
	return t, err
}

func (c *client) validate(ctx context.Context, access string) error {
	var out struct {
		Valid bool `json:"valid"`
	}
	if err := c.do(ctx, http.MethodPost, "/api/v1/auth/validate", "", map[string]string{"token": access}, &out); err != nil {
		return err
	}
	if !out.Valid {
		// A 200 that says no is a failed check, not a success.
		return fmt.Errorf("validate: 200 with valid=false")
	}
	return nil
}

func (c *client) me(ctx context.Context, access string) error {
	return c.do(ctx, http.MethodGet, "/api/v1/me/data", access, nil, nil)
}

func (c *client) refresh(ctx context.Context, refresh string) (tokens, error) {
	var t tokens
	err := c.do(ctx, http.MethodPost, "/api/v1/auth/refresh", "", map[string]string{"refreshToken": refresh}, &t)
	if err == nil && t.RefreshToken == "" {
		err = fmt.Errorf("refresh: answer without refreshToken")
	}
	return t, err
}
