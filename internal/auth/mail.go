package auth

import (
	"context"
	"html"
	"net/url"
)

// enqueueMail puts m in the outbox of tx, its body sealed when a sealer is
// configured.
func (s *Service) enqueueMail(ctx context.Context, tx Tx, m Mail) error {
	if s.mailSealer != nil {
		m.SealedHTML, m.KEKID = s.mailSealer.Seal([]byte(m.HTML), MailAAD(m.ExternalID))
		m.HTML = ""
	}
	return tx.EnqueueMail(ctx, m)
}

// verificationMail builds the verification email of the seed contract (§7.7)
// with the name and URL HTML-escaped. The link carries token first, then
// callbackURL, as existing clients parse it.
func verificationMail(baseURL, to, name, token, callbackURL string) Mail {
	link := baseURL + "/api/auth/verify-email?token=" + url.QueryEscape(token) + "&callbackURL=" + url.QueryEscape(callbackURL)
	l := html.EscapeString(link)
	body := "<p>Hallo " + html.EscapeString(name) + ",</p>" +
		"<p>Bitte bestätige deine E-Mail-Adresse:</p>" +
		`<p><a href="` + l + `">E-Mail bestätigen</a></p>` +
		"<p>Oder kopiere diesen Link: " + l + "</p>"
	return Mail{To: to, Subject: "E-Mail bestätigen — Mana", HTML: body}
}

// resetMail is the password-reset email (contract §7.7): the link is valid for one hour.
func resetMail(to, name, link string) Mail {
	l := html.EscapeString(link)
	body := "<p>Hallo " + html.EscapeString(name) + ",</p>" +
		"<p>Du hast angefordert, dein Passwort zurückzusetzen:</p>" +
		`<p><a href="` + l + `">Passwort zurücksetzen</a></p>` +
		"<p>Oder kopiere diesen Link: " + l + "</p>" +
		"<p>Der Link ist 1 Stunde gültig. Wenn du das nicht warst, ignoriere diese E-Mail.</p>"
	return Mail{To: to, Subject: "Passwort zurücksetzen — Mana", HTML: body}
}

// passwordChangedMail tells the owner that the password changed, so a change
// they did not make does not go unnoticed.
func passwordChangedMail(to, name string) Mail {
	body := "<p>Hallo " + html.EscapeString(name) + ",</p>" +
		"<p>Das Passwort deines Mana-Kontos wurde soeben geändert. Deine anderen Sitzungen wurden abgemeldet.</p>" +
		"<p>Wenn du das nicht warst, setze dein Passwort sofort über „Passwort vergessen“ zurück.</p>"
	return Mail{To: to, Subject: "Passwort geändert — Mana", HTML: body}
}

// accountDeletedMail confirms a deletion (contract §7.7).
func accountDeletedMail(to string) Mail {
	body := "<p>Dein Mana-Konto wurde erfolgreich gelöscht. Alle deine Daten wurden entfernt.</p>"
	return Mail{To: to, Subject: "Konto gelöscht — Mana", HTML: body}
}

// existingAccountMail tells an account's owner that someone tried to
// register with their address, with a reset link in case it was them.
func existingAccountMail(to, name, link string) Mail {
	l := html.EscapeString(link)
	body := "<p>Hallo " + html.EscapeString(name) + ",</p>" +
		"<p>Jemand hat versucht, mit deiner E-Mail-Adresse ein neues Mana-Konto anzulegen. Du hast bereits ein Konto.</p>" +
		"<p>Wenn du das warst und dein Passwort vergessen hast, setze es hier zurück:</p>" +
		`<p><a href="` + l + `">Passwort zurücksetzen</a></p>` +
		"<p>Der Link ist 1 Stunde gültig. Wenn du das nicht warst, ignoriere diese E-Mail: an deinem Konto hat sich nichts geändert.</p>"
	return Mail{To: to, Subject: "Registrierung mit deiner Adresse — Mana", HTML: body}
}
