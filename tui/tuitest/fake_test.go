package tuitest

import (
	"io"
	"strings"
	"testing"
	"time"
)

func TestFakeKeepsTheContract(t *testing.T) {
	admin := NewFake("admin@example.com", nil)
	user := admin.AddUser("user@example.com", false)
	Contract(t, Env{Admin: admin, User: user,
		Source: func() io.Reader { return strings.NewReader("archive") }, Wait: 5 * time.Second})
}
