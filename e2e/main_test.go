package e2e

import (
	"testing"

	"github.com/chorus-ai/chorus/platform/processtest"
)

func TestMain(m *testing.M) { processtest.Main(m) }
