package render

import (
	"container/list"
	"sync"
)

// lru is a least-recently-used map bounded both by total cost (bytes) and by
// number of entries. It is safe for concurrent use.
type lru[V any] struct {
	mu         sync.Mutex
	maxCost    int64
	maxEntries int
	cost       int64
	order      *list.List // front = most recently used
	items      map[string]*list.Element
}

type lruEntry[V any] struct {
	key   string
	value V
	cost  int64
}

func newLRU[V any](maxCost int64, maxEntries int) *lru[V] {
	return &lru[V]{maxCost: maxCost, maxEntries: maxEntries, order: list.New(), items: map[string]*list.Element{}}
}

func (c *lru[V]) get(key string) (V, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.items[key]; ok {
		c.order.MoveToFront(el)
		return el.Value.(*lruEntry[V]).value, true
	}
	var zero V
	return zero, false
}

// add stores value under key unless key is present, and returns what the
// cache holds for key afterwards: the first value stored wins, so concurrent
// callers converge on one shared value.
func (c *lru[V]) add(key string, value V, cost int64) V {
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.items[key]; ok {
		c.order.MoveToFront(el)
		return el.Value.(*lruEntry[V]).value
	}
	if cost > c.maxCost {
		// Too big to keep at all; the caller still gets its value.
		return value
	}
	c.items[key] = c.order.PushFront(&lruEntry[V]{key: key, value: value, cost: cost})
	c.cost += cost
	for c.cost > c.maxCost || c.order.Len() > c.maxEntries {
		c.evictOldest()
	}
	return value
}

func (c *lru[V]) evictOldest() {
	el := c.order.Back()
	if el == nil {
		return
	}
	e := el.Value.(*lruEntry[V])
	c.order.Remove(el)
	delete(c.items, e.key)
	c.cost -= e.cost
}

// stats returns the number of entries and their total cost.
func (c *lru[V]) stats() (int, int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.order.Len(), c.cost
}
