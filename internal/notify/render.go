// Rendering fills notification templates. Email bodies are HTML and go
// through html/template, so values from the request are escaped for their
// context; subjects (a mail header) and push/webhook bodies (not HTML) use
// text/template. A variable the data does not have is an error, so "<no
// value>" never reaches a user's inbox (docs/compatibility.md).

package notify

import (
	"bytes"
	"errors"
	"fmt"
	htmltemplate "html/template"
	"strings"
	texttemplate "text/template"
)

// Rendered is a rendered subject and body.
type Rendered struct {
	Subject string `json:"subject"`
	Body    string `json:"body"`
}

// RenderError is a template that does not parse or cannot be filled from the data.
type RenderError struct {
	Part string // "subject" or "body"
	Err  error
}

func (e *RenderError) Error() string { return fmt.Sprintf("invalid %s template: %v", e.Part, e.Err) }
func (e *RenderError) Unwrap() error { return e.Err }

// Render fills subject and body with data; html selects HTML escaping for the body.
func Render(subject, body string, html bool, data map[string]any) (Rendered, error) {
	if data == nil {
		data = map[string]any{}
	}
	var r Rendered
	var err error
	if subject != "" {
		if r.Subject, err = renderText("subject", subject, data); err != nil {
			return Rendered{}, err
		}
		// A header must stay one line; a value with a newline is refused
		// rather than passed on to the mailer.
		if strings.ContainsAny(r.Subject, "\r\n") {
			return Rendered{}, &RenderError{Part: "subject", Err: fmt.Errorf("rendered subject contains a line break")}
		}
	}
	if html {
		r.Body, err = renderHTML(body, data)
	} else {
		r.Body, err = renderText("body", body, data)
	}
	if err != nil {
		return Rendered{}, err
	}
	// A template can print a NUL ({{printf "%c" 0}}) that no data check
	// sees; Postgres cannot store it, so it is a render error, not a 500.
	if strings.ContainsRune(r.Subject, 0) {
		return Rendered{}, &RenderError{Part: "subject", Err: errNUL}
	}
	if strings.ContainsRune(r.Body, 0) {
		return Rendered{}, &RenderError{Part: "body", Err: errNUL}
	}
	return r, nil
}

var errNUL = errors.New("rendered text contains a NUL character")

// RenderTemplate renders a stored template; email templates are HTML.
func RenderTemplate(t Template, data map[string]any) (Rendered, error) {
	subject := ""
	if t.Subject != nil {
		subject = *t.Subject
	}
	return Render(subject, t.BodyTemplate, t.Channel == ChannelEmail, data)
}

func renderText(part, src string, data map[string]any) (string, error) {
	t, err := texttemplate.New(part).Option("missingkey=error").Parse(src)
	if err != nil {
		return "", &RenderError{Part: part, Err: err}
	}
	var b bytes.Buffer
	if err := t.Execute(&b, data); err != nil {
		return "", &RenderError{Part: part, Err: err}
	}
	return b.String(), nil
}

func renderHTML(src string, data map[string]any) (string, error) {
	t, err := htmltemplate.New("body").Option("missingkey=error").Parse(src)
	if err != nil {
		return "", &RenderError{Part: "body", Err: err}
	}
	var b bytes.Buffer
	if err := t.Execute(&b, data); err != nil {
		return "", &RenderError{Part: "body", Err: err}
	}
	return b.String(), nil
}

// CheckTemplate parses subject and body without executing them.
func CheckTemplate(subject, body string, html bool) error {
	if _, err := texttemplate.New("subject").Parse(subject); err != nil {
		return &RenderError{Part: "subject", Err: err}
	}
	var err error
	if html {
		_, err = htmltemplate.New("body").Parse(body)
	} else {
		_, err = texttemplate.New("body").Parse(body)
	}
	if err != nil {
		return &RenderError{Part: "body", Err: err}
	}
	return nil
}
