package jobsql

import (
	"slices"
	"strconv"
	"testing"

	orchestratorv1 "github.com/chorus-ai/chorus/proto/chorus/orchestrator/v1"
	"google.golang.org/protobuf/proto"

	"github.com/chorus-ai/chorus/orchestrator/internal/jobs"
)

func TestListQuery(t *testing.T) {
	dollar := func(n int) string { return "$" + strconv.Itoa(n) }
	question := func(int) string { return "?" }
	for _, tc := range []struct {
		name        string
		f           jobs.Filter
		placeholder func(int) string
		wantQuery   string
		wantArgs    []any
	}{
		{
			name: "no filter", f: jobs.Filter{Limit: 10}, placeholder: question,
			wantQuery: `SELECT seq, event_count, job FROM jobs WHERE 1=1 ORDER BY seq DESC LIMIT ?`,
			wantArgs:  []any{11},
		},
		{
			name:        "every filter",
			f:           jobs.Filter{State: orchestratorv1.JobState_JOB_STATE_RUNNING, Pipeline: "p", RequestID: "r", Before: 7, Limit: 2},
			placeholder: dollar,
			wantQuery:   `SELECT seq, event_count, job FROM jobs WHERE 1=1 AND state = $1 AND pipeline = $2 AND request_id = $3 AND seq < $4 ORDER BY seq DESC LIMIT $5`,
			wantArgs:    []any{int32(orchestratorv1.JobState_JOB_STATE_RUNNING), "p", "r", int64(7), 3},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q, args := ListQuery(tc.f, tc.placeholder)
			if q != tc.wantQuery || !slices.Equal(args, tc.wantArgs) {
				t.Errorf("ListQuery = %q %v, want %q %v", q, args, tc.wantQuery, tc.wantArgs)
			}
		})
	}
}

// fakeRows is a result set in memory.
type fakeRows struct {
	rows [][]any
	i    int
}

func (r *fakeRows) Next() bool { r.i++; return r.i <= len(r.rows) }
func (r *fakeRows) Err() error { return nil }
func (r *fakeRows) Scan(dest ...any) error {
	for i, v := range r.rows[r.i-1] {
		switch d := dest[i].(type) {
		case *int64:
			*d = v.(int64)
		case *[]byte:
			*d = v.([]byte)
		}
	}
	return nil
}

func TestEncodeDecodeAndScanPage(t *testing.T) {
	var rows fakeRows
	for i := range 3 {
		job := &orchestratorv1.Job{Id: strconv.Itoa(i), Pipeline: "p", EventCount: 99}
		blob, err := EncodeJob(job)
		if err != nil {
			t.Fatal(err)
		}
		if job.GetEventCount() != 99 {
			t.Fatalf("EncodeJob changed its argument")
		}
		rows.rows = append(rows.rows, []any{int64(10 - i), int64(i), blob})
	}
	page, next, err := ScanPage(&rows, 2)
	if err != nil {
		t.Fatal(err)
	}
	want := []*orchestratorv1.Job{{Id: "0", Pipeline: "p", EventCount: 0}, {Id: "1", Pipeline: "p", EventCount: 1}}
	if next != 9 || !slices.EqualFunc(page, want, func(a, b *orchestratorv1.Job) bool { return proto.Equal(a, b) }) {
		t.Errorf("ScanPage = %v, next %d; want %v, next 9", page, next, want)
	}
	if _, err := DecodeJob([]byte{0xff}, 0); err == nil {
		t.Errorf("DecodeJob of garbage: no error")
	}
}
