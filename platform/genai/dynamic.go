package genai

import (
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
	at                 int // how many static models come before its

	mu       sync.Mutex
	limiters map[string]*limit.Limiter
}

// modelConcurrency is what a dynamic backend implements to admit each model
// up to a limit of its own (the text engine's slots) rather than
// Route.Concurrency: 0 means the route's.
type modelConcurrency interface {
	Concurrency(model string) int
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
			n := d.concurrency
			if mc, ok := d.backend.(modelConcurrency); ok && mc.Concurrency(name) > 0 {
				n = mc.Concurrency(name)
			}
			lim = limit.New(n, d.queue)
			d.limiters[name] = lim
		}
		return &route{name: name, backend: d.backend, limiter: lim}, true
	}
	return nil, false
}

// allModels is every model in route order: the static routes' models with
// each dynamic route's current ones where it was configured (a name a
// static route serves is skipped); the first is the default.
func (h *Handler) allModels() []*genaiv1.Model {
	if len(h.dynamic) == 0 {
		return h.models
	}
	var all []*genaiv1.Model
	add := func(m *genaiv1.Model) {
		m = proto.Clone(m).(*genaiv1.Model)
		m.Default = len(all) == 0
		all = append(all, m)
	}
	addDynamic := func(at int) {
		for _, d := range h.dynamic {
			if d.at != at {
				continue
			}
			for _, m := range d.backend.Models() {
				if _, static := h.routes[m.GetName()]; !static && m.GetName() != "" {
					add(m)
				}
			}
		}
	}
	for i, m := range h.models {
		addDynamic(i)
		add(m)
	}
	addDynamic(len(h.models))
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
