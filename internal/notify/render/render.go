// Package render fills notification templates. Email bodies are HTML and go
// through html/template, so values from the request are escaped for their
// context; subjects (a mail header) and push/webhook bodies (not HTML) use
// text/template. A variable the data does not have is an error — the old
// service printed "<no value>" into users' inboxes.
package render

import (
	"bytes"
	"errors"
	"fmt"
	htmltemplate "html/template"
	"strings"
	texttemplate "text/template"

	"github.com/mana/mana/internal/notify/store"
)

// Result is a rendered subject and body.
type Result struct {
	Subject string `json:"subject"`
	Body    string `json:"body"`
}

// Error is a template that does not parse or cannot be filled from the data.
type Error struct {
	Part string // "subject" or "body"
	Err  error
}

func (e *Error) Error() string { return fmt.Sprintf("invalid %s template: %v", e.Part, e.Err) }
func (e *Error) Unwrap() error { return e.Err }

// Render fills subject and body with data; html selects HTML escaping for the body.
func Render(subject, body string, html bool, data map[string]any) (Result, error) {
	if data == nil {
		data = map[string]any{}
	}
	var r Result
	var err error
	if subject != "" {
		if r.Subject, err = renderText("subject", subject, data); err != nil {
			return Result{}, err
		}
		// A header must stay one line; a value with a newline is refused
		// rather than passed on to the mailer.
		if strings.ContainsAny(r.Subject, "\r\n") {
			return Result{}, &Error{Part: "subject", Err: fmt.Errorf("rendered subject contains a line break")}
		}
	}
	if html {
		r.Body, err = renderHTML(body, data)
	} else {
		r.Body, err = renderText("body", body, data)
	}
	if err != nil {
		return Result{}, err
	}
	// A template can print a NUL ({{printf "%c" 0}}) that no data check
	// sees; Postgres cannot store it, so it is a render error, not a 500.
	if strings.ContainsRune(r.Subject, 0) {
		return Result{}, &Error{Part: "subject", Err: errNUL}
	}
	if strings.ContainsRune(r.Body, 0) {
		return Result{}, &Error{Part: "body", Err: errNUL}
	}
	return r, nil
}

var errNUL = errors.New("rendered text contains a NUL character")

// Template renders a stored template; email templates are HTML.
func Template(t store.Template, data map[string]any) (Result, error) {
	subject := ""
	if t.Subject != nil {
		subject = *t.Subject
	}
	return Render(subject, t.BodyTemplate, t.Channel == store.ChannelEmail, data)
}

func renderText(part, src string, data map[string]any) (string, error) {
	t, err := texttemplate.New(part).Option("missingkey=error").Parse(src)
	if err != nil {
		return "", &Error{Part: part, Err: err}
	}
	var b bytes.Buffer
	if err := t.Execute(&b, data); err != nil {
		return "", &Error{Part: part, Err: err}
	}
	return b.String(), nil
}

func renderHTML(src string, data map[string]any) (string, error) {
	t, err := htmltemplate.New("body").Option("missingkey=error").Parse(src)
	if err != nil {
		return "", &Error{Part: "body", Err: err}
	}
	var b bytes.Buffer
	if err := t.Execute(&b, data); err != nil {
		return "", &Error{Part: "body", Err: err}
	}
	return b.String(), nil
}

// Check parses subject and body without executing them.
func Check(subject, body string, html bool) error {
	if _, err := texttemplate.New("subject").Parse(subject); err != nil {
		return &Error{Part: "subject", Err: err}
	}
	var err error
	if html {
		_, err = htmltemplate.New("body").Parse(body)
	} else {
		_, err = texttemplate.New("body").Parse(body)
	}
	if err != nil {
		return &Error{Part: "body", Err: err}
	}
	return nil
}
