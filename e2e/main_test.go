package e2e

import (
	"os"
	"testing"

	"github.com/chorus-ai/chorus/e2e/internal/suite"
)

func TestMain(m *testing.M) {
	code := m.Run()
	suite.Cleanup()
	os.Exit(code)
}
