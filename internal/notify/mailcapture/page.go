package mailcapture

import (
	"bytes"
	"html/template"
	"log/slog"
	"net/http"
)

// pageLimit bounds the page: a development inbox, not an archive.
const pageLimit = 200

// The body is shown as escaped source, never rendered: captured mail holds
// user data (names, addresses) that must not run as markup in this page.
// html/template escapes every value and replaces a non-http(s) href.
var page = template.Must(template.New("mail").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Mana: captured mail</title>
<style>body{font-family:sans-serif;max-width:60rem;margin:1rem auto;padding:0 1rem}
article{border-bottom:1px solid #ccc;padding:.5rem 0}pre{white-space:pre-wrap;background:#f6f6f6;padding:.5rem}
.meta{color:#555;font-size:.9em}</style></head>
<body><h1>Captured mail</h1>
<p class="meta">No SMTP_HOST is set, so mail is stored locally instead of sent. Newest first; {{len .}} shown.</p>
{{range .}}<article>
<h2>{{.Subject}}</h2>
<p class="meta">To {{.To}} · from {{.From}}{{if .ReplyTo}} · reply to {{.ReplyTo}}{{end}} · {{.CapturedAt.Format "2006-01-02 15:04:05 UTC"}}</p>
{{with .Links}}<ul>{{range .}}<li><a href="{{.}}">{{.}}</a></li>{{end}}</ul>{{end}}
<details><summary>HTML source</summary><pre>{{.HTML}}</pre></details>
</article>{{else}}<p>No mail yet.</p>{{end}}
</body></html>
`))

// Handler serves GET /dev/mail.
func (c *Capture) Handler(log *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		msgs, err := c.List(pageLimit)
		if err != nil {
			log.ErrorContext(r.Context(), "dev mail page", "err", err)
			http.Error(w, "cannot list captured mail: "+err.Error(), http.StatusInternalServerError)
			return
		}
		var buf bytes.Buffer
		if err := page.Execute(&buf, msgs); err != nil {
			log.ErrorContext(r.Context(), "render dev mail page", "err", err)
			http.Error(w, "cannot render captured mail", http.StatusInternalServerError)
			return
		}
		h := w.Header()
		h.Set("Content-Type", "text/html; charset=utf-8")
		// Second line of defence: even an escaping mistake could not run script.
		h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Cache-Control", "no-store")
		if _, err := w.Write(buf.Bytes()); err != nil {
			log.DebugContext(r.Context(), "dev mail page: client went away", "err", err)
		}
	})
}
