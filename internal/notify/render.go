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
	"text/template/parse"
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
	if err := withinBudget(t.Tree.Root, data); err != nil {
		return "", &RenderError{Part: part, Err: err}
	}
	b := cappedBuffer{max: MaxRenderedBytes}
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
	if err := withinBudget(t.Tree.Root, data); err != nil {
		return "", &RenderError{Part: "body", Err: err}
	}
	b := cappedBuffer{max: MaxRenderedBytes}
	if err := t.Execute(&b, data); err != nil {
		return "", &RenderError{Part: "body", Err: err}
	}
	return b.String(), nil
}

// Rendering budget: the service key lets a caller send any template, and
// rendering runs in the process that also signs users in, so a template
// must not be able to take all memory or CPU (audit F15).
const (
	// MaxRenderedBytes caps the output of one template part.
	MaxRenderedBytes = 1 << 20
	// maxRangeDepth caps nested {{range}}; maxRangeLen caps a ranged list
	// or integer, so a template does at most maxRangeLen^maxRangeDepth steps.
	maxRangeDepth = 2
	maxRangeLen   = 1000
)

var errTooLarge = fmt.Errorf("rendered text exceeds %d bytes", MaxRenderedBytes)

// cappedBuffer fails a write past max, which aborts the execution.
type cappedBuffer struct {
	bytes.Buffer
	max int
}

func (c *cappedBuffer) Write(p []byte) (int, error) {
	if c.Len()+len(p) > c.max {
		return 0, errTooLarge
	}
	return c.Buffer.Write(p)
}

// withinBudget refuses what could run without bound: nested ranges deeper
// than maxRangeDepth, a range over an integer literal above maxRangeLen,
// template calls (recursion), and data holding a list longer than
// maxRangeLen.
func withinBudget(root *parse.ListNode, data map[string]any) error {
	if err := checkNodes(root, 0); err != nil {
		return err
	}
	return checkLists(data, 0)
}

func checkNodes(n parse.Node, depth int) error {
	switch n := n.(type) {
	case nil:
		return nil
	case *parse.ListNode:
		if n == nil {
			return nil
		}
		for _, c := range n.Nodes {
			if err := checkNodes(c, depth); err != nil {
				return err
			}
		}
	case *parse.TemplateNode:
		return fmt.Errorf("{{template}} is not allowed")
	case *parse.RangeNode:
		if depth+1 > maxRangeDepth {
			return fmt.Errorf("{{range}} nested deeper than %d", maxRangeDepth)
		}
		if n.Pipe != nil {
			for _, cmd := range n.Pipe.Cmds {
				for _, arg := range cmd.Args {
					if num, ok := arg.(*parse.NumberNode); ok && (!num.IsInt || num.Int64 > maxRangeLen) {
						return fmt.Errorf("{{range}} over a number above %d", maxRangeLen)
					}
				}
			}
		}
		if err := checkNodes(n.List, depth+1); err != nil {
			return err
		}
		return checkNodes(n.ElseList, depth)
	case *parse.IfNode:
		if err := checkNodes(n.List, depth); err != nil {
			return err
		}
		return checkNodes(n.ElseList, depth)
	case *parse.WithNode:
		if err := checkNodes(n.List, depth); err != nil {
			return err
		}
		return checkNodes(n.ElseList, depth)
	}
	return nil
}

func checkLists(v any, level int) error {
	if level > 32 {
		return fmt.Errorf("data nested deeper than 32 levels")
	}
	switch v := v.(type) {
	case []any:
		if len(v) > maxRangeLen {
			return fmt.Errorf("data holds a list of %d items (at most %d)", len(v), maxRangeLen)
		}
		for _, x := range v {
			if err := checkLists(x, level+1); err != nil {
				return err
			}
		}
	case map[string]any:
		for _, x := range v {
			if err := checkLists(x, level+1); err != nil {
				return err
			}
		}
	}
	return nil
}

// CheckTemplate parses subject and body without executing them, and
// refuses what the rendering budget would refuse at every send.
func CheckTemplate(subject, body string, html bool) error {
	st, err := texttemplate.New("subject").Parse(subject)
	if err == nil && st.Tree != nil {
		err = checkNodes(st.Tree.Root, 0)
	}
	if err != nil {
		return &RenderError{Part: "subject", Err: err}
	}
	var root *parse.ListNode
	if html {
		var t *htmltemplate.Template
		if t, err = htmltemplate.New("body").Parse(body); err == nil && t.Tree != nil {
			root = t.Tree.Root
		}
	} else {
		var t *texttemplate.Template
		if t, err = texttemplate.New("body").Parse(body); err == nil && t.Tree != nil {
			root = t.Tree.Root
		}
	}
	if err == nil {
		err = checkNodes(root, 0)
	}
	if err != nil {
		return &RenderError{Part: "body", Err: err}
	}
	return nil
}
