package notifyapi

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/mana/mana/internal/notify"

	"github.com/mana/mana/internal/httpx"
)

// templateJSON is the contract's view of a template; variables is []byte so
// it is encoded as base64 of the JSON, the contract's encoding
// (docs/compatibility.md).
type templateJSON struct {
	ID           string  `json:"id"`
	Slug         string  `json:"slug"`
	AppID        *string `json:"appId,omitempty"`
	Channel      string  `json:"channel"`
	Subject      *string `json:"subject,omitempty"`
	BodyTemplate string  `json:"bodyTemplate"`
	Locale       string  `json:"locale"`
	IsActive     bool    `json:"isActive"`
	IsSystem     bool    `json:"isSystem"`
	// Variables is the stored JSON as JSON (the old service served its
	// bytes base64-encoded; see docs/compatibility.md).
	Variables json.RawMessage `json:"variables,omitempty"`
	CreatedAt time.Time       `json:"createdAt"`
	UpdatedAt time.Time       `json:"updatedAt"`
}

func templateToJSON(t notify.Template) templateJSON {
	return templateJSON{ID: t.ID, Slug: t.Slug, AppID: t.AppID, Channel: string(t.Channel), Subject: t.Subject,
		BodyTemplate: t.BodyTemplate, Locale: t.Locale, IsActive: t.IsActive, IsSystem: t.IsSystem,
		Variables: jsonOrNil(t.Variables), CreatedAt: t.CreatedAt.UTC(), UpdatedAt: t.UpdatedAt.UTC()}
}

// jsonOrNil is stored JSON to embed, or nil when it is none or not JSON.
func jsonOrNil(b []byte) json.RawMessage {
	if len(b) == 0 || !json.Valid(b) {
		return nil
	}
	return b
}

func localeOf(r *http.Request) (string, *apiError) {
	l := r.URL.Query().Get("locale")
	if l == "" {
		return notify.DefaultLocale, nil
	}
	if utf8.RuneCountInString(l) > notify.MaxLocaleChars {
		return "", invalid("locale must be at most %d characters", notify.MaxLocaleChars)
	}
	if strings.ContainsRune(l, 0) {
		return "", invalid("locale must not contain NUL characters")
	}
	return l, nil
}

// slugOf is the template slug of the path. A NUL is refused before the
// query: Postgres rejects it in a text parameter, which would be a 500.
func slugOf(r *http.Request) (string, *apiError) {
	slug := r.PathValue("slug")
	if strings.ContainsRune(slug, 0) {
		return "", invalid("slug must not contain NUL characters")
	}
	return slug, nil
}

// slugAndLocale is slugOf and localeOf together.
func slugAndLocale(r *http.Request) (slug, locale string, e *apiError) {
	if slug, e = slugOf(r); e != nil {
		return "", "", e
	}
	if locale, e = localeOf(r); e != nil {
		return "", "", e
	}
	return slug, locale, nil
}

func templateNotFound(message string) *apiError {
	return &apiError{Status: http.StatusNotFound, Code: CodeNotFound, Message: message}
}

func (a *API) listTemplates(w http.ResponseWriter, r *http.Request) {
	ts, err := a.Store.ListTemplates(r.Context())
	if err != nil {
		a.internalError(w, r, "list templates", "failed to list templates", err)
		return
	}
	// ?appId= (notify-client's filter): the app's own templates and the
	// shared ones (no app).
	appID := r.URL.Query().Get("appId")
	var out []templateJSON // null when none, as the contract answers
	for _, t := range ts {
		if appID != "" && t.AppID != nil && *t.AppID != appID {
			continue
		}
		out = append(out, templateToJSON(t))
	}
	httpx.WriteJSON(w, r, http.StatusOK, map[string]any{"templates": out})
}

// templateOr404 reads one template for the operation op ("get",
// "preview"), answering 404 when there is none and 500 when the read fails;
// ok is false when an answer was written.
func (a *API) templateOr404(w http.ResponseWriter, r *http.Request, slug, locale, op string) (notify.Template, bool) {
	t, err := a.Store.GetTemplate(r.Context(), slug, locale)
	if errors.Is(err, notify.ErrTemplateNotFound) {
		writeError(w, r, templateNotFound("template not found"))
		return notify.Template{}, false
	}
	if err != nil {
		a.internalError(w, r, op+" template", "failed to "+op+" template", err)
		return notify.Template{}, false
	}
	return t, true
}

func (a *API) getTemplate(w http.ResponseWriter, r *http.Request) {
	slug, locale, e := slugAndLocale(r)
	if e != nil {
		writeError(w, r, e)
		return
	}
	t, ok := a.templateOr404(w, r, slug, locale, "get")
	if !ok {
		return
	}
	httpx.WriteJSON(w, r, http.StatusOK, map[string]any{"template": templateToJSON(t)})
}

type createTemplateRequest struct {
	Slug         string          `json:"slug"`
	Channel      string          `json:"channel"`
	BodyTemplate string          `json:"bodyTemplate"`
	AppID        string          `json:"appId"`
	Subject      string          `json:"subject"`
	Locale       string          `json:"locale"`
	Variables    json.RawMessage `json:"variables"`
}

// checkTemplateSource refuses a template that does not parse, so a broken
// template is a 400 at creation rather than a failure at every send.
func checkTemplateSource(subject, body string, html bool) *apiError {
	if utf8.RuneCountInString(subject) > notify.MaxSubjectChars {
		return invalid("subject must be at most %d characters", notify.MaxSubjectChars)
	}
	if len(body) > notify.MaxTemplateBytes {
		return invalid("bodyTemplate must be at most %d bytes", notify.MaxTemplateBytes)
	}
	if strings.ContainsRune(subject+body, 0) {
		return invalid("templates must not contain NUL characters")
	}
	if err := notify.CheckTemplate(subject, body, html); err != nil {
		return invalid("%s", err.Error())
	}
	return nil
}

func (a *API) createTemplate(w http.ResponseWriter, r *http.Request) {
	var req createTemplateRequest
	if !decodeBody(w, r, maxBodyBytes, &req, false) {
		return
	}
	if req.Slug == "" || req.Channel == "" || req.BodyTemplate == "" {
		writeError(w, r, invalid("slug, channel, and bodyTemplate are required"))
		return
	}
	ch := notify.Channel(req.Channel)
	if ch != notify.ChannelEmail && ch != notify.ChannelPush && ch != notify.ChannelWebhook {
		writeError(w, r, invalid("channel must be email, push, or webhook"))
		return
	}
	if req.Locale == "" {
		req.Locale = notify.DefaultLocale
	}
	switch {
	case utf8.RuneCountInString(req.Slug) > notify.MaxSlugChars || strings.ContainsAny(req.Slug, "/\x00"):
		writeError(w, r, invalid("slug must be at most %d characters without '/'", notify.MaxSlugChars))
		return
	case utf8.RuneCountInString(req.AppID) > notify.MaxAppIDChars || strings.ContainsRune(req.AppID, 0):
		writeError(w, r, invalid("appId must be at most %d characters", notify.MaxAppIDChars))
		return
	case utf8.RuneCountInString(req.Locale) > notify.MaxLocaleChars || strings.ContainsRune(req.Locale, 0):
		writeError(w, r, invalid("locale must be at most %d characters", notify.MaxLocaleChars))
		return
	}
	if e := checkTemplateSource(req.Subject, req.BodyTemplate, ch == notify.ChannelEmail); e != nil {
		writeError(w, r, e)
		return
	}
	if rawJSONHasNUL(req.Variables) {
		writeError(w, r, invalid("variables must not contain NUL characters"))
		return
	}
	var vars any
	if len(req.Variables) > 0 && string(req.Variables) != "null" {
		vars = req.Variables
	}
	id, err := a.Store.CreateTemplate(r.Context(), notify.NewTemplate{Slug: req.Slug, AppID: req.AppID, Channel: ch,
		Subject: req.Subject, BodyTemplate: req.BodyTemplate, Locale: req.Locale, Variables: vars})
	if errors.Is(err, notify.ErrTemplateExists) {
		writeError(w, r, &apiError{Status: http.StatusConflict, Code: CodeTemplateExists,
			Message: "template already exists for this slug+locale"})
		return
	}
	if err != nil {
		a.internalError(w, r, "create template", "failed to create template", err)
		return
	}
	httpx.WriteJSON(w, r, http.StatusCreated, map[string]string{"id": id})
}

func (a *API) updateTemplate(w http.ResponseWriter, r *http.Request) {
	slug, locale, e := slugAndLocale(r)
	if e != nil {
		writeError(w, r, e)
		return
	}
	var req struct {
		Subject      *string         `json:"subject"`
		BodyTemplate *string         `json:"bodyTemplate"`
		IsActive     *bool           `json:"isActive"`
		Variables    json.RawMessage `json:"variables"` // ignored (docs/compatibility.md)
	}
	if !decodeBody(w, r, maxBodyBytes, &req, false) {
		return
	}
	if req.Subject != nil || req.BodyTemplate != nil {
		// Check the template as it will be after the update.
		cur, err := a.Store.GetTemplate(r.Context(), slug, locale)
		if errors.Is(err, notify.ErrTemplateNotFound) || (err == nil && cur.IsSystem) {
			writeError(w, r, templateNotFound("template not found or is a system template"))
			return
		}
		if err != nil {
			a.internalError(w, r, "update template", "failed to update template", err)
			return
		}
		subject, body := "", cur.BodyTemplate
		if cur.Subject != nil {
			subject = *cur.Subject
		}
		if req.Subject != nil {
			subject = *req.Subject
		}
		if req.BodyTemplate != nil {
			body = *req.BodyTemplate
		}
		if body == "" {
			writeError(w, r, invalid("bodyTemplate must not be empty"))
			return
		}
		if e := checkTemplateSource(subject, body, cur.Channel == notify.ChannelEmail); e != nil {
			writeError(w, r, e)
			return
		}
	}
	err := a.Store.UpdateTemplate(r.Context(), slug, locale,
		notify.TemplateUpdate{Subject: req.Subject, BodyTemplate: req.BodyTemplate, IsActive: req.IsActive})
	if errors.Is(err, notify.ErrTemplateNotFound) {
		writeError(w, r, templateNotFound("template not found or is a system template"))
		return
	}
	if err != nil {
		a.internalError(w, r, "update template", "failed to update template", err)
		return
	}
	httpx.WriteJSON(w, r, http.StatusOK, map[string]bool{"updated": true})
}

func (a *API) deleteTemplate(w http.ResponseWriter, r *http.Request) {
	slug, e := slugOf(r)
	if e != nil {
		writeError(w, r, e)
		return
	}
	err := a.Store.DeleteTemplate(r.Context(), slug)
	if errors.Is(err, notify.ErrTemplateNotFound) {
		writeError(w, r, templateNotFound("template not found or is a system template"))
		return
	}
	if err != nil {
		a.internalError(w, r, "delete template", "failed to delete template", err)
		return
	}
	httpx.WriteJSON(w, r, http.StatusOK, map[string]bool{"deleted": true})
}

func renderFailed(err error) *apiError {
	return &apiError{Status: http.StatusBadRequest, Code: CodeTemplateRender, Message: err.Error()}
}

// previewTemplate renders a stored template. A missing variable is a 400
// naming it (docs/compatibility.md).
func (a *API) previewTemplate(w http.ResponseWriter, r *http.Request) {
	slug, locale, e := slugAndLocale(r)
	if e != nil {
		writeError(w, r, e)
		return
	}
	var req struct {
		Data map[string]any `json:"data"`
	}
	if !decodeBody(w, r, maxBodyBytes, &req, true) {
		return
	}
	t, ok := a.templateOr404(w, r, slug, locale, "preview")
	if !ok {
		return
	}
	out, err := notify.RenderTemplate(t, req.Data)
	if err != nil {
		writeError(w, r, renderFailed(err))
		return
	}
	// Both shapes: the contract's {subject, body} and notify-client's
	// {preview: {subject, body}}.
	httpx.WriteJSON(w, r, http.StatusOK, map[string]any{"subject": out.Subject, "body": out.Body, "preview": out})
}

// previewCustom renders a template given in the request; the body is HTML
// (escaped) unless channel says push or webhook.
func (a *API) previewCustom(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Subject      string         `json:"subject"`
		BodyTemplate string         `json:"bodyTemplate"`
		Channel      string         `json:"channel"`
		Data         map[string]any `json:"data"`
	}
	if !decodeBody(w, r, maxBodyBytes, &req, false) {
		return
	}
	if req.BodyTemplate == "" {
		writeError(w, r, invalid("bodyTemplate is required"))
		return
	}
	html := req.Channel == "" || req.Channel == string(notify.ChannelEmail)
	if e := checkTemplateSource(req.Subject, req.BodyTemplate, html); e != nil {
		writeError(w, r, e)
		return
	}
	out, err := notify.Render(req.Subject, req.BodyTemplate, html, req.Data)
	if err != nil {
		writeError(w, r, renderFailed(err))
		return
	}
	httpx.WriteJSON(w, r, http.StatusOK, out)
}
