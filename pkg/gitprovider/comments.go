package gitprovider

import (
	"context"
	"fmt"
	"strings"
)

// comment is one pull-request comment as the upsert sees it.
type comment struct {
	id   string
	body string
}

// commentAPI is what upsertComment needs from a forge.
type commentAPI struct {
	// list returns one page; next is "" for the first page, and the returned
	// next is "" after the last.
	list   func(ctx context.Context, next string) (page []comment, nextPage string, err error)
	update func(ctx context.Context, id, body string) error
	create func(ctx context.Context, body string) error
}

// upsertComment edits the first comment carrying marker, or creates one.
func upsertComment(ctx context.Context, pr int, marker, body string, api commentAPI) error {
	if pr <= 0 {
		return fmt.Errorf("pull request number %d is not positive", pr)
	}
	body, err := withMarker(marker, body)
	if err != nil {
		return err
	}
	next := ""
	for page := 0; page < maxPages; page++ {
		comments, more, err := api.list(ctx, next)
		if err != nil {
			return err
		}
		for _, c := range comments {
			if !strings.Contains(c.body, marker) {
				continue
			}
			if c.body == body {
				return nil
			}
			return api.update(ctx, c.id, body)
		}
		if more == "" {
			return api.create(ctx, body)
		}
		next = more
	}
	return fmt.Errorf("pull request %d has more than %d pages of comments; not adding another one", pr, maxPages)
}
