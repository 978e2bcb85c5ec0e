package notify

import (
	"testing"
)

// FuzzRender: any template with any string data renders or is refused with
// a RenderError — never a panic, never more than MaxRenderedBytes — within
// the budget (a fuzzing hang would be a finding).
func FuzzRender(f *testing.F) {
	for _, seed := range []string{"Hallo {{.name}}", "{{range .items}}{{.}}{{end}}", "{{if .x}}a{{else}}b{{end}}",
		"{{range 1000}}x{{end}}", "{{printf \"%c\" 0}}", "{{.missing}}", "{{", "<a href=\"{{.url}}\">x</a>",
		"{{range .items}}{{range .items}}{{.}}{{end}}{{end}}", "{{with .name}}{{.}}{{end}}"} {
		f.Add(seed, "Ada", true)
	}
	f.Fuzz(func(t *testing.T, body, value string, html bool) {
		data := map[string]any{"name": value, "url": value, "x": value != "", "items": []any{value, value}}
		r, err := Render("", body, html, data)
		if err != nil {
			if _, ok := err.(*RenderError); !ok {
				t.Fatalf("error of an unexpected kind: %T %v", err, err)
			}
			return
		}
		if len(r.Body) > MaxRenderedBytes {
			t.Fatalf("rendered %d bytes", len(r.Body))
		}
	})
}
