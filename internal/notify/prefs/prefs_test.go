package prefs

import (
	"testing"
	"time"

	"github.com/mana/mana/internal/notify/store"
)

func ptr(s string) *string { return &s }

func TestBlocked(t *testing.T) {
	// 22:30 in Berlin (CET, UTC+1) on a winter day.
	now := time.Date(2026, 1, 15, 21, 30, 0, 0, time.UTC)
	base := store.Preferences{Stored: true, EmailEnabled: true, PushEnabled: true, Timezone: "Europe/Berlin"}
	tests := []struct {
		name    string
		edit    func(p *store.Preferences)
		channel store.Channel
		want    string
		guard   string
	}{
		{"no row allows all", func(p *store.Preferences) { *p = store.DefaultPreferences() }, store.ChannelEmail, "", `if !p.Stored`},
		{"email off", func(p *store.Preferences) { p.EmailEnabled = false }, store.ChannelEmail, ReasonEmailDisabled, `channel == email && !p.EmailEnabled`},
		{"push off", func(p *store.Preferences) { p.PushEnabled = false }, store.ChannelPush, ReasonPushDisabled, `channel == push && !p.PushEnabled`},
		{"push off does not stop email", func(p *store.Preferences) { p.PushEnabled = false }, store.ChannelEmail, "", ""},
		{"quiet hours wrapping midnight", func(p *store.Preferences) {
			p.QuietHoursEnabled, p.QuietHoursStart, p.QuietHoursEnd = true, ptr("22:00"), ptr("07:00")
		}, store.ChannelWebhook, ReasonQuietHours, `return m >= s || m < e`},
		{"quiet hours in the user's zone, not UTC", func(p *store.Preferences) {
			p.QuietHoursEnabled, p.QuietHoursStart, p.QuietHoursEnd = true, ptr("22:15"), ptr("23:00")
		}, store.ChannelEmail, ReasonQuietHours, `local := now.In(loc)`},
		{"outside quiet hours", func(p *store.Preferences) {
			p.QuietHoursEnabled, p.QuietHoursStart, p.QuietHoursEnd = true, ptr("08:00"), ptr("22:00")
		}, store.ChannelEmail, "", `return s <= m && m < e`},
		{"quiet hours disabled", func(p *store.Preferences) {
			p.QuietHoursStart, p.QuietHoursEnd = ptr("00:00"), ptr("23:59")
		}, store.ChannelEmail, "", `if !p.QuietHoursEnabled`},
	}
	for _, tt := range tests {
		p := base
		tt.edit(&p)
		got, err := Blocked(p, tt.channel, now)
		if err != nil || got != tt.want {
			t.Errorf("%s: got %q %v, want %q (guard %s)", tt.name, got, err, tt.want, tt.guard)
		}
	}
}

// A stored value delivery cannot evaluate is an error, never "allowed".
func TestBlockedBadStoredValues(t *testing.T) {
	p := store.Preferences{Stored: true, EmailEnabled: true, QuietHoursEnabled: true,
		QuietHoursStart: ptr("22:00"), QuietHoursEnd: ptr("07:00"), Timezone: "Mars/Base"}
	if _, err := Blocked(p, store.ChannelEmail, time.Now()); err == nil {
		t.Error("unknown zone accepted")
	}
	p.Timezone, p.QuietHoursStart = "UTC", ptr("7pm")
	if _, err := Blocked(p, store.ChannelEmail, time.Now()); err == nil {
		t.Error("bad clock accepted")
	}
}
