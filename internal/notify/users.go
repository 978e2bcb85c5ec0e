package notify

import (
	"encoding/json"
	"errors"
	"time"
)

// ErrDeviceNotFound: no active device with that id belongs to the user.
var ErrDeviceNotFound = errors.New("device not found")

// Device is one row of notify.devices.
type Device struct {
	ID         string     `json:"id"`
	UserID     string     `json:"userId"`
	PushToken  string     `json:"pushToken"`
	TokenType  string     `json:"tokenType"`
	Platform   *string    `json:"platform,omitempty"`
	DeviceName *string    `json:"deviceName,omitempty"`
	AppID      *string    `json:"appId,omitempty"`
	IsActive   bool       `json:"isActive"`
	LastSeenAt *time.Time `json:"lastSeenAt,omitempty"`
	CreatedAt  time.Time  `json:"createdAt"`
	UpdatedAt  time.Time  `json:"updatedAt"`
}

// NewDevice is what RegisterDevice stores.
type NewDevice struct {
	UserID, PushToken, TokenType, Platform, DeviceName, AppID string
}

// Preferences is one row of notify.preferences (or the defaults).
type Preferences struct {
	EmailEnabled        bool            `json:"emailEnabled"`
	PushEnabled         bool            `json:"pushEnabled"`
	QuietHoursEnabled   bool            `json:"quietHoursEnabled"`
	QuietHoursStart     *string         `json:"quietHoursStart,omitempty"`
	QuietHoursEnd       *string         `json:"quietHoursEnd,omitempty"`
	Timezone            string          `json:"timezone"`
	CategoryPreferences json.RawMessage `json:"categoryPreferences,omitempty"`
	// Stored is false for the defaults of a user without a row.
	Stored    bool       `json:"-"`
	ID        string     `json:"id,omitempty"`
	UserID    string     `json:"userId,omitempty"`
	CreatedAt *time.Time `json:"createdAt,omitempty"`
	UpdatedAt *time.Time `json:"updatedAt,omitempty"`
}

// DefaultPreferences are what GET answers for a user without a row (contract §7.1).
func DefaultPreferences() Preferences {
	return Preferences{PushEnabled: true, Timezone: "Europe/Berlin"}
}

// PreferencesUpdate holds the fields PUT sent; nil keeps the stored value
// (or the column default for a new row).
type PreferencesUpdate struct {
	EmailEnabled        *bool           `json:"emailEnabled"`
	PushEnabled         *bool           `json:"pushEnabled"`
	QuietHoursEnabled   *bool           `json:"quietHoursEnabled"`
	QuietHoursStart     *string         `json:"quietHoursStart"`
	QuietHoursEnd       *string         `json:"quietHoursEnd"`
	Timezone            *string         `json:"timezone"`
	CategoryPreferences json.RawMessage `json:"categoryPreferences"`
}
