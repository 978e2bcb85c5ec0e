package notify

// SystemTemplates are seeded at start (contract §7.5): German, locale de-DE,
// email, not editable through the API. Optional variables are guarded with
// `if index . "name"`, so leaving them out is not a missing-variable error.
func SystemTemplates() []NewTemplate {
	const head = `<!DOCTYPE html><html lang="de"><head><meta charset="utf-8"></head><body style="font-family:sans-serif">`
	const foot = `<p>Dein Mana-Team</p></body></html>`
	t := func(slug, subject, body string, vars ...string) NewTemplate {
		return NewTemplate{Slug: slug, Channel: ChannelEmail, Subject: subject,
			BodyTemplate: head + body + foot, Locale: DefaultLocale, Variables: vars}
	}
	return []NewTemplate{
		t("auth-password-reset", "Passwort zurücksetzen - Mana",
			`<p>Hallo {{.userName}},</p><p>du hast angefordert, dein Passwort zurückzusetzen.</p>`+
				`<p><a href="{{.resetUrl}}">Passwort zurücksetzen</a></p><p>Der Link ist 1 Stunde gültig.</p>`,
			"resetUrl", "userName"),
		t("auth-verification", "E-Mail bestätigen - Mana",
			`<p>Hallo {{.userName}},</p><p>Bitte bestätige deine E-Mail-Adresse:</p>`+
				`<p><a href="{{.verificationUrl}}">E-Mail bestätigen</a></p>`,
			"verificationUrl", "userName"),
		t("auth-welcome", "Willkommen bei Mana!",
			`<p>Hallo {{.userName}},</p><p>willkommen bei Mana!</p><p><a href="{{.loginUrl}}">Jetzt anmelden</a></p>`,
			"userName", "loginUrl"),
		t("calendar-reminder", "Erinnerung: {{.eventTitle}}",
			`<p>Erinnerung an <strong>{{.eventTitle}}</strong> um {{.eventTime}}.</p>`+
				`{{if index . "eventLocation"}}<p>Ort: {{.eventLocation}}</p>{{end}}`+
				`<p><a href="{{.eventUrl}}">Termin öffnen</a></p>`,
			"eventTitle", "eventTime", "eventLocation", "eventUrl"),
		t("task-reminder", "Erinnerung: {{.taskTitle}}",
			`<p>Erinnerung an deine Aufgabe <strong>{{.taskTitle}}</strong>.</p>`+
				`{{if index . "dueDate"}}<p>Fällig: {{.dueDate}}</p>{{end}}`+
				`<p><a href="{{.taskUrl}}">Aufgabe öffnen</a></p>`,
			"taskTitle", "dueDate", "taskUrl"),
	}
}
