package authapi

import (
	"net/http"

	"github.com/mana/mana/internal/auth"
	"github.com/mana/mana/internal/httpx"
)

// knownApps are the 23 apps /me/data lists, in the contract's order.
var knownApps = [][3]string{
	{"todo", "Todo", "✅"}, {"chat", "ManaChat", "💬"}, {"calendar", "Kalender", "📅"}, {"clock", "Clock", "⏰"},
	{"contacts", "Kontakte", "👤"}, {"cards", "Cards", "🃏"}, {"picture", "ManaPicture", "🎨"}, {"quotes", "Quotes", "✨"},
	{"presi", "Presi", "📊"}, {"inventory", "Inventar", "📦"}, {"food", "Food", "🥗"}, {"plants", "Plants", "🌱"},
	{"storage", "Storage", "☁️"}, {"questions", "Questions", "❓"}, {"music", "Music", "🎵"}, {"context", "Context", "📄"},
	{"photos", "Photos", "📷"}, {"skilltree", "SkillTree", "🌳"}, {"citycorners", "CityCorners", "🏙️"},
	{"times", "Taktik", "⏱️"}, {"uload", "uLoad", "🔗"}, {"calc", "Calc", "🧮"}, {"mana", "Mana", "💎"},
}

// meData answers GET /api/v1/me/data (seed contract §2.4). The credits and
// sync services are not wired in yet: their sections are present and marked
// unavailable instead of showing zeros as if they were real.
func (a *API) meData(w http.ResponseWriter, r *http.Request, p auth.Principal) {
	d, err := a.svc.MeData(r.Context(), p)
	if err != nil {
		a.fail(w, r, "/me/data", err)
		return
	}
	httpx.WriteJSON(w, r, http.StatusOK, meDataBody(d))
}

// meDataBody is the /me/data shape, also the "data" part of the export.
func meDataBody(d auth.AccountData) map[string]any {
	projects := make([]map[string]any, 0, len(knownApps))
	for _, app := range knownApps {
		projects = append(projects, map[string]any{"projectId": app[0], "projectName": app[1], "icon": app[2],
			"available": false, "error": "Sync-Datenbank nicht konfiguriert", "entities": []any{}, "totalCount": 0})
	}
	u := d.User
	return map[string]any{
		"user": map[string]any{"id": u.ID, "email": u.Email, "name": u.Name, "role": u.Role,
			"createdAt": u.CreatedAt.UTC(), "emailVerified": u.EmailVerified},
		"auth": map[string]any{"sessionsCount": d.Summary.SessionsCount, "accountsCount": d.Summary.AccountsCount,
			"has2FA": d.Summary.Has2FA, "lastLoginAt": d.Summary.LastLoginAt},
		"credits": map[string]any{"balance": 0, "totalEarned": 0, "totalSpent": 0, "transactionsCount": 0,
			"available": false, "error": "credits service not configured"},
		"projects": projects,
		"totals":   map[string]any{"totalEntities": 0, "projectsWithData": 0},
	}
}
