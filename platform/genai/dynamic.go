package genai

import (
	"slices"
	"sync"

	genaiv1 "github.com/chorus-ai/chorus/proto/chorus/genai/v1"
	"google.golang.org/protobuf/proto"

	"github.com/chorus-ai/chorus/platform/limit"
)

// dynamicRoute is a Route whose backend's models change while the service
// runs (Route.Dynamic): its Models is read on every call, and each model
// gets its own limiter, made on first use.
type dynamicRoute struct {
	backend            Backend
	concurrency, queue int

	mu       sync.Mutex
	limiters map[string]*limit.Limiter
}

// find returns the route of model name when the backend lists it now.
func (d *dynamicRoute) find(name string) (*route, bool) {
	for _, m := range d.backend.Models() {
		if m.GetName() != name {
			continue
		}
		d.mu.Lock()
		defer d.mu.Unlock()
		lim, ok := d.limiters[name]
		if !ok {
			// A model removed and added again keeps its limiter; the map
			// grows only with distinct names.
			lim = limit.New(d.concurrency, d.queue)
			d.limiters[name] = lim
		}
		return &route{name: name, backend: d.backend, limiter: lim}, true
	}
	return nil, false
}

// allModels is the static models followed by each dynamic route's current
// ones (a name a static route serves is skipped); the first is the default.
func (h *Handler) allModels() []*genaiv1.Model {
	if len(h.dynamic) == 0 {
		return h.models
	}
	all := slices.Clone(h.models)
	for _, d := range h.dynamic {
		for _, m := range d.backend.Models() {
			if _, static := h.routes[m.GetName()]; static || m.GetName() == "" {
				continue
			}
			m = proto.Clone(m).(*genaiv1.Model)
			m.Default = len(all) == 0
			all = append(all, m)
		}
	}
	return all
}

// resolveDynamic finds model among the dynamic routes' models.
func (h *Handler) resolveDynamic(model string) (*route, bool) {
	for _, d := range h.dynamic {
		if r, ok := d.find(model); ok {
			return r, true
		}
	}
	return nil, false
}
