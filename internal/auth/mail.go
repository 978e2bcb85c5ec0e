package auth

import (
	"html"
	"net/url"
)

// verificationMail builds the verification email of the old service (seed
// contract §7.7) with the name and URL HTML-escaped. The link carries token
// first, then callbackURL, as old clients parse it.
func verificationMail(baseURL, to, name, token, callbackURL string) Mail {
	link := baseURL + "/api/auth/verify-email?token=" + url.QueryEscape(token) + "&callbackURL=" + url.QueryEscape(callbackURL)
	l := html.EscapeString(link)
	body := "<p>Hallo " + html.EscapeString(name) + ",</p>" +
		"<p>Bitte bestätige deine E-Mail-Adresse:</p>" +
		`<p><a href="` + l + `">E-Mail bestätigen</a></p>` +
		"<p>Oder kopiere diesen Link: " + l + "</p>"
	return Mail{To: to, Subject: "E-Mail bestätigen — Mana", HTML: body}
}
