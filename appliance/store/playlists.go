package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"avanti/appliance/fault"
)

// PlaylistItem is one piece of the "palinsesto": an image, a short video or
// a text announcement, shown for DurationSec on the given ISO weekdays
// (none = every day) within the local From–To window (empty = all day).
type PlaylistItem struct {
	ID          int    `json:"id"`
	Kind        string `json:"kind"`
	URL         string `json:"url"`
	Text        string `json:"text"`
	DurationSec int    `json:"duration_sec"`
	Days        []int  `json:"days"`
	From        string `json:"from"`
	To          string `json:"to"`
}

// Playlist is a named list of items of an owner.
type Playlist struct {
	ID        int64          `json:"id"`
	OwnerID   int64          `json:"owner_id"`
	Name      string         `json:"name"`
	Items     []PlaylistItem `json:"items"`
	UpdatedAt time.Time      `json:"updated_at"`
}

// MaxPlaylistItems bounds a playlist.
const MaxPlaylistItems = 100

// mediaURLRE is what an image or video item may point at: media uploaded
// to the appliance, or the appliance's own assets. Nothing outside: the
// screens live on a closed LAN.
var mediaURLRE = regexp.MustCompile(`^/(media|display)/[A-Za-z0-9._/-]{1,200}$`)

func validatePlaylist(p *Playlist) error {
	p.Name = strings.TrimSpace(p.Name)
	if p.Name == "" || len([]rune(p.Name)) > 200 {
		return fault.Field("name", "invalid_name", "give the playlist a name of 1 to 200 characters")
	}
	if len(p.Items) > MaxPlaylistItems {
		return fault.Field("items", "too_many_items", fmt.Sprintf("a playlist holds at most %d items", MaxPlaylistItems))
	}
	if p.Items == nil {
		p.Items = []PlaylistItem{}
	}
	for i := range p.Items {
		it := &p.Items[i]
		field := func(f string) string { return fmt.Sprintf("items[%d].%s", i, f) }
		it.ID = i + 1
		switch it.Kind {
		case "image", "video":
			if !mediaURLRE.MatchString(it.URL) || strings.Contains(it.URL, "..") {
				return fault.Field(field("url"), "invalid_url", "images and videos are uploaded to the appliance: use their /media/… address")
			}
		case "text":
			it.URL = ""
			it.Text = strings.TrimSpace(it.Text)
			if it.Text == "" || len([]rune(it.Text)) > 500 {
				return fault.Field(field("text"), "invalid_text", "a text announcement has 1 to 500 characters")
			}
		default:
			return fault.Field(field("kind"), "invalid_kind", "kind must be image, video or text")
		}
		if len([]rune(it.Text)) > 500 {
			return fault.Field(field("text"), "invalid_text", "a caption has at most 500 characters")
		}
		if it.DurationSec < 3 || it.DurationSec > 600 {
			return fault.Field(field("duration_sec"), "invalid_duration", "an item is shown for 3 to 600 seconds")
		}
		if it.Days == nil {
			it.Days = []int{}
		}
		for _, d := range it.Days {
			if d < 1 || d > 7 {
				return fault.Field(field("days"), "invalid_days", "days are ISO weekdays, 1 (Monday) to 7 (Sunday)")
			}
		}
		if (it.From == "") != (it.To == "") || (it.From != "" && (!hhmmRE.MatchString(it.From) || !hhmmRE.MatchString(it.To))) {
			return fault.Field(field("from"), "invalid_time", "give both from and to as HH:MM, or neither (all day)")
		}
	}
	return nil
}

// SavePlaylist creates (ID 0) or replaces a playlist of p.OwnerID.
func (s *Store) SavePlaylist(ctx context.Context, p Playlist, now time.Time) (Playlist, error) {
	if err := validatePlaylist(&p); err != nil {
		return Playlist{}, err
	}
	items, err := json.Marshal(p.Items)
	if err != nil {
		return Playlist{}, fmt.Errorf("playlist items: %w", err)
	}
	p.UpdatedAt = now.UTC()
	if p.ID == 0 {
		res, err := s.db.ExecContext(ctx, `INSERT INTO playlists (owner_id, name, items, updated_at) VALUES (?, ?, ?, ?)`,
			p.OwnerID, p.Name, items, now)
		if err != nil {
			return Playlist{}, fmt.Errorf("create playlist: %w", err)
		}
		p.ID, _ = res.LastInsertId()
		return p, nil
	}
	res, err := s.db.ExecContext(ctx, `UPDATE playlists SET name = ?, items = ?, updated_at = ? WHERE id = ? AND owner_id = ?`,
		p.Name, items, now, p.ID, p.OwnerID)
	if err != nil {
		return Playlist{}, fmt.Errorf("save playlist: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		if _, err := s.Playlist(ctx, p.ID, p.OwnerID); err != nil {
			return Playlist{}, err
		}
	}
	return p, nil
}

// Playlist returns a playlist of ownerID (any owner's for 0).
func (s *Store) Playlist(ctx context.Context, id, ownerID int64) (Playlist, error) {
	var p Playlist
	var items []byte
	err := s.db.QueryRowContext(ctx, `SELECT id, owner_id, name, items, updated_at FROM playlists WHERE id = ? AND (? = 0 OR owner_id = ?)`,
		id, ownerID, ownerID).Scan(&p.ID, &p.OwnerID, &p.Name, &items, &p.UpdatedAt)
	if errors.Is(err, sql.ErrNoRows) {
		return p, ErrPlaylistMissing
	}
	if err != nil {
		return p, fmt.Errorf("playlist %d: %w", id, err)
	}
	if err := json.Unmarshal(items, &p.Items); err != nil {
		return p, fmt.Errorf("playlist %d items: %w", id, err)
	}
	return p, nil
}

// Playlists lists an owner's playlists.
func (s *Store) Playlists(ctx context.Context, ownerID int64) ([]Playlist, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT id FROM playlists WHERE owner_id = ? ORDER BY name, id`, ownerID)
	if err != nil {
		return nil, fmt.Errorf("list playlists: %w", err)
	}
	var ids []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return nil, fmt.Errorf("list playlists: %w", err)
		}
		ids = append(ids, id)
	}
	rows.Close()
	out := []Playlist{}
	for _, id := range ids {
		p, err := s.Playlist(ctx, id, ownerID)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, nil
}

// DisplaysOfPlaylist lists the displays showing a playlist.
func (s *Store) DisplaysOfPlaylist(ctx context.Context, playlistID int64) ([]int64, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT id FROM devices WHERE active AND kind = 'display'
		AND JSON_VALUE(settings, '$.playlist_id') = ?`, playlistID)
	if err != nil {
		return nil, fmt.Errorf("displays of playlist: %w", err)
	}
	defer rows.Close()
	var out []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("displays of playlist: %w", err)
		}
		out = append(out, id)
	}
	return out, rows.Err()
}

// Media is an uploaded image or video.
type Media struct {
	ID          int64     `json:"id"`
	OwnerID     int64     `json:"owner_id"`
	Name        string    `json:"name"`
	ContentType string    `json:"content_type"`
	SHA256      string    `json:"sha256"`
	Size        int64     `json:"size"`
	URL         string    `json:"url"`
	CreatedAt   time.Time `json:"created_at"`
}

// AddMedia records an upload whose bytes are already stored under its hash.
func (s *Store) AddMedia(ctx context.Context, m Media, now time.Time) (Media, error) {
	m.Name = clip(strings.TrimSpace(m.Name), 200)
	m.CreatedAt = now.UTC()
	res, err := s.db.ExecContext(ctx, `INSERT INTO media (owner_id, name, content_type, sha256, size, created_at) VALUES (?, ?, ?, ?, ?, ?)`,
		m.OwnerID, m.Name, m.ContentType, m.SHA256, m.Size, now)
	if err != nil {
		return Media{}, fmt.Errorf("record media: %w", err)
	}
	m.ID, _ = res.LastInsertId()
	return m, nil
}

// MediaByHash finds an upload by the hash its file is stored under.
func (s *Store) MediaByHash(ctx context.Context, sha string) (Media, bool, error) {
	var m Media
	err := s.db.QueryRowContext(ctx, `SELECT id, owner_id, name, content_type, sha256, size, created_at FROM media WHERE sha256 = ? ORDER BY id LIMIT 1`, sha).
		Scan(&m.ID, &m.OwnerID, &m.Name, &m.ContentType, &m.SHA256, &m.Size, &m.CreatedAt)
	if errors.Is(err, sql.ErrNoRows) {
		return m, false, nil
	}
	return m, err == nil, wrap("media", err)
}
