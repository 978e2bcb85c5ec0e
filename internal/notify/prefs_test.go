package notify

import (
	"testing"
	"time"
)

func ptr(s string) *string { return &s }

func TestBlocked(t *testing.T) {
	// 22:30 in Berlin (CET, UTC+1) on a winter day.
	now := time.Date(2026, 1, 15, 21, 30, 0, 0, time.UTC)
	base := Preferences{Stored: true, EmailEnabled: true, PushEnabled: true, Timezone: "Europe/Berlin"}
	tests := []struct {
		name    string
		edit    func(p *Preferences)
		channel Channel
		want    string
		guard   string
	}{
		{"no row allows all", func(p *Preferences) { *p = DefaultPreferences() }, ChannelEmail, "", `if !p.Stored`},
		{"email off", func(p *Preferences) { p.EmailEnabled = false }, ChannelEmail, ReasonEmailDisabled, `channel == email && !p.EmailEnabled`},
		{"push off", func(p *Preferences) { p.PushEnabled = false }, ChannelPush, ReasonPushDisabled, `channel == push && !p.PushEnabled`},
		{"push off does not stop email", func(p *Preferences) { p.PushEnabled = false }, ChannelEmail, "", ""},
		{"quiet hours wrapping midnight", func(p *Preferences) {
			p.QuietHoursEnabled, p.QuietHoursStart, p.QuietHoursEnd = true, ptr("22:00"), ptr("07:00")
		}, ChannelWebhook, ReasonQuietHours, `return m >= s || m < e`},
		{"quiet hours in the user's zone, not UTC", func(p *Preferences) {
			p.QuietHoursEnabled, p.QuietHoursStart, p.QuietHoursEnd = true, ptr("22:15"), ptr("23:00")
		}, ChannelEmail, ReasonQuietHours, `local := now.In(loc)`},
		{"outside quiet hours", func(p *Preferences) {
			p.QuietHoursEnabled, p.QuietHoursStart, p.QuietHoursEnd = true, ptr("08:00"), ptr("22:00")
		}, ChannelEmail, "", `return s <= m && m < e`},
		{"quiet hours disabled", func(p *Preferences) {
			p.QuietHoursStart, p.QuietHoursEnd = ptr("00:00"), ptr("23:59")
		}, ChannelEmail, "", `if !p.QuietHoursEnabled`},
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
	p := Preferences{Stored: true, EmailEnabled: true, QuietHoursEnabled: true,
		QuietHoursStart: ptr("22:00"), QuietHoursEnd: ptr("07:00"), Timezone: "Mars/Base"}
	if _, err := Blocked(p, ChannelEmail, time.Now()); err == nil {
		t.Error("unknown zone accepted")
	}
	p.Timezone, p.QuietHoursStart = "UTC", ptr("7pm")
	if _, err := Blocked(p, ChannelEmail, time.Now()); err == nil {
		t.Error("bad clock accepted")
	}
}
