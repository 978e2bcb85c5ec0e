package notify

import (
	"errors"
	"strings"
	"testing"
)

// Guard: renderHTML uses html/template. With text/template the script tag
// and the javascript: URL pass through unchanged and this test fails.
func TestEmailBodyIsEscaped(t *testing.T) {
	out, err := Render("Hi {{.name}}", `<p>{{.name}}</p><a href="{{.url}}">x</a>`, true,
		map[string]any{"name": "<script>alert(1)</script>", "url": "javascript:alert(2)"})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(out.Body, "<script>") || !strings.Contains(out.Body, "&lt;script&gt;") {
		t.Errorf("body not escaped: %s", out.Body)
	}
	if strings.Contains(out.Body, `href="javascript:`) {
		t.Errorf("javascript URL not neutralised: %s", out.Body)
	}
	// The subject is a header, not HTML: no entities in it.
	if out.Subject != "Hi <script>alert(1)</script>" {
		t.Errorf("subject %q", out.Subject)
	}
}

// Guard: Option("missingkey=error") in renderText and renderHTML. Without it
// the missing key renders as "<no value>" (text) or "" (html) and no error.
func TestMissingVariableIsAnError(t *testing.T) {
	for _, html := range []bool{true, false} {
		_, err := Render("S {{.a}}", "B {{.b}}", html, map[string]any{"a": "x"})
		var rerr *RenderError
		if !errors.As(err, &rerr) || rerr.Part != "body" || !strings.Contains(err.Error(), "b") {
			t.Errorf("html=%v: err %v, want a body error naming b", html, err)
		}
		_, err = Render("S {{.a}}", "B", html, nil)
		if !errors.As(err, &rerr) || rerr.Part != "subject" {
			t.Errorf("html=%v: missing subject variable: %v", html, err)
		}
	}
}

// Guard: the line-break check on the rendered subject (header injection).
func TestSubjectLineBreakRefused(t *testing.T) {
	if _, err := Render("{{.s}}", "b", true, map[string]any{"s": "a\r\nBcc: x@example.com"}); err == nil {
		t.Fatal("subject with CRLF accepted")
	}
}

func TestSystemTemplatesRenderWithTheirVariables(t *testing.T) {
	for _, nt := range SystemTemplates() {
		vars := map[string]any{}
		required := map[string]bool{"eventLocation": false, "dueDate": false}
		for _, v := range nt.Variables.([]string) {
			if _, optional := required[v]; !optional {
				vars[v] = "<" + v + ">"
			}
		}
		tpl := Template{Slug: nt.Slug, Channel: nt.Channel, Subject: &nt.Subject, BodyTemplate: nt.BodyTemplate}
		out, err := RenderTemplate(tpl, vars)
		if err != nil {
			t.Fatalf("%s: %v", nt.Slug, err)
		}
		if strings.Contains(out.Body, "<no value>") || strings.Contains(out.Body, "<userName>") {
			t.Errorf("%s: body %s", nt.Slug, out.Body)
		}
	}
}

func TestCheckRejectsBrokenTemplates(t *testing.T) {
	if err := CheckTemplate("{{.a", "b", true); err == nil {
		t.Error("broken subject accepted")
	}
	if err := CheckTemplate("a", "{{if}}", true); err == nil {
		t.Error("broken body accepted")
	}
	if err := CheckTemplate("a {{.x}}", "<p>{{.y}}</p>", true); err != nil {
		t.Errorf("valid template refused: %v", err)
	}
}

// Guard: the NUL checks on the rendered subject and body. A template can
// print a NUL itself; Postgres cannot store it (insert error: 500).
// Negative control: without them both cases render without error.
func TestRenderedNULRefused(t *testing.T) {
	for name, c := range map[string]struct{ subject, body, part string }{
		"subject":         {`a{{printf "%c" 0}}`, "b", "subject"},
		"plain text body": {"s", `b{{printf "%c" 0}}`, "body"},
	} {
		_, err := Render(c.subject, c.body, false, nil)
		var re *RenderError
		if !errors.As(err, &re) || re.Part != c.part || !errors.Is(err, errNUL) {
			t.Errorf("%s: err %v, want a render error of the %s", name, err, c.part)
		}
	}
}
