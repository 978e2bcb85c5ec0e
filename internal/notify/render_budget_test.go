package notify

import (
	"errors"
	"strings"
	"testing"
)

// TestRenderBudget (audit F15): templates that would run without bound are
// refused at creation and at rendering; output is capped at 1 MiB.
// Negative control: withinBudget returning nil makes "range over a billion"
// run (and this test time out).
func TestRenderBudget(t *testing.T) {
	for name, body := range map[string]string{
		"range over a billion":  "{{range 1000000000}}x{{end}}",
		"range nested too deep": "{{range .a}}{{range .a}}{{range .a}}x{{end}}{{end}}{{end}}",
		"template recursion":    `{{define "r"}}{{template "r"}}{{end}}{{template "r"}}`,
		"range over a float":    "{{range 1.5}}x{{end}}",
	} {
		if err := CheckTemplate("", body, false); err == nil {
			t.Errorf("%s: accepted at creation", name)
		}
		if _, err := Render("", body, false, map[string]any{"a": []any{1.0}}); err == nil {
			t.Errorf("%s: rendered", name)
		}
	}
	big := make([]any, maxRangeLen+1)
	if _, err := Render("", "{{range .a}}x{{end}}", true, map[string]any{"a": big}); err == nil {
		t.Error("a list longer than the budget was rendered")
	}
	_, err := Render("", "{{range 1000}}{{.}}"+strings.Repeat("x", 2000)+"{{end}}", false, nil)
	var re *RenderError
	if !errors.As(err, &re) || !errors.Is(err, errTooLarge) {
		t.Errorf("2 MB of output: %v, want the size cap", err)
	}
	if r, err := Render("Hi {{.n}}", "<p>{{range .items}}{{.}} {{end}}</p>", true, map[string]any{"n": "Ada", "items": []any{"a", "b"}}); err != nil ||
		r.Body != "<p>a b </p>" {
		t.Errorf("an ordinary template: %+v %v", r, err)
	}
}
