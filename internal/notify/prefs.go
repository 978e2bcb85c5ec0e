// Preferences decide whether a user's notification preferences allow a
// delivery now (seed contract §7.1): channel switches and quiet hours in the
// user's time zone. It is evaluated when a send is accepted and again when a
// job is delivered, so a scheduled send obeys the preferences of its moment.

package notify

import (
	"fmt"
	"time"
)

// Reasons of a blocked delivery, the contract's texts.
const (
	ReasonEmailDisabled = "email notifications disabled by user"
	ReasonPushDisabled  = "push notifications disabled by user"
	ReasonQuietHours    = "quiet hours active"
)

// Blocked returns the reason p forbids delivering on channel at now, or "".
// A preferences row with an unusable time zone or clock value is an error,
// not silently "allowed": the caller decides how to fail.
func Blocked(p Preferences, channel Channel, now time.Time) (string, error) {
	if !p.Stored {
		return "", nil // no row: everything allowed (contract)
	}
	switch {
	case channel == ChannelEmail && !p.EmailEnabled:
		return ReasonEmailDisabled, nil
	case channel == ChannelPush && !p.PushEnabled:
		return ReasonPushDisabled, nil
	}
	if !p.QuietHoursEnabled || p.QuietHoursStart == nil || p.QuietHoursEnd == nil {
		return "", nil
	}
	quiet, err := InQuietHours(*p.QuietHoursStart, *p.QuietHoursEnd, p.Timezone, now)
	if err != nil {
		return "", err
	}
	if quiet {
		return ReasonQuietHours, nil
	}
	return "", nil
}

// InQuietHours reports whether now, in zone, lies in [start, end) given as
// "HH:MM"; a window whose end is before its start wraps midnight.
func InQuietHours(start, end, zone string, now time.Time) (bool, error) {
	loc, err := time.LoadLocation(zone)
	if err != nil {
		return false, fmt.Errorf("preferences timezone %q: %w", zone, err)
	}
	s, err := minuteOfDay(start)
	if err != nil {
		return false, err
	}
	e, err := minuteOfDay(end)
	if err != nil {
		return false, err
	}
	local := now.In(loc)
	m := local.Hour()*60 + local.Minute()
	if s <= e {
		return s <= m && m < e, nil
	}
	return m >= s || m < e, nil
}

// ValidClock reports whether s is "HH:MM" on a 24-hour clock.
func ValidClock(s string) bool {
	_, err := minuteOfDay(s)
	return err == nil
}

func minuteOfDay(s string) (int, error) {
	t, err := time.Parse("15:04", s)
	if err != nil || len(s) != 5 {
		return 0, fmt.Errorf("quiet hours %q: want HH:MM", s)
	}
	return t.Hour()*60 + t.Minute(), nil
}
