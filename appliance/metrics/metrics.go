// Package metrics holds the appliance's Prometheus metrics, on a registry of
// its own so tests can make a fresh one.
package metrics

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// Metrics are the counters and histograms the appliance exports.
type Metrics struct {
	Registry        *prometheus.Registry
	TicketsBooked   *prometheus.CounterVec
	Calls           *prometheus.CounterVec
	BookingDuration prometheus.Histogram
	CallDuration    prometheus.Histogram
	Requests        *prometheus.CounterVec
	RequestDuration *prometheus.HistogramVec
}

// latency buckets from 1 ms to 2.5 s: the targets are in tens of ms.
var buckets = []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5}

// New registers the appliance's metrics on a new registry.
func New() *Metrics {
	m := &Metrics{
		Registry: prometheus.NewRegistry(),
		TicketsBooked: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "avanti_tickets_booked_total", Help: "Tickets created, by service prefix and channel.",
		}, []string{"service", "channel"}),
		Calls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "avanti_calls_total", Help: "Tickets called to a desk, by service prefix and kind (call, recall).",
		}, []string{"service", "kind"}),
		BookingDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "avanti_booking_duration_seconds", Help: "Time to book a ticket, database included.", Buckets: buckets,
		}),
		CallDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "avanti_call_next_duration_seconds", Help: "Time for call-next, database included.", Buckets: buckets,
		}),
		Requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "avanti_http_requests_total", Help: "HTTP requests by route and status code.",
		}, []string{"route", "code"}),
		RequestDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "avanti_http_request_duration_seconds", Help: "HTTP request latency by route.", Buckets: buckets,
		}, []string{"route"}),
	}
	m.Registry.MustRegister(m.TicketsBooked, m.Calls, m.BookingDuration, m.CallDuration, m.Requests, m.RequestDuration,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}
