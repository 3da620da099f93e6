package image

import (
	"bytes"
	"regexp"
	"testing"
)

func TestScriptOutput(t *testing.T) {
	var out bytes.Buffer
	so := &scriptOutput{out: &out}
	for _, chunk := range []string{"@@step apt-get upd", "ate\nGet:1 x\n(Reading 5%\r(Reading 100%\rdone.)\n", "@@step install\npartial"} {
		so.Write([]byte(chunk))
	}
	so.Close(true)
	got := regexp.MustCompile(`done in [0-9.]+[mµn]?s`).ReplaceAllString(out.String(), "done in T")
	want := "==> apt-get update\nGet:1 x\ndone.)\n    apt-get update: done in T\n==> install\npartial\n    install: done in T\n"
	if got != want {
		t.Errorf("output:\n%q\nwant:\n%q", got, want)
	}
}

func TestFanoutReplaysToLateReaders(t *testing.T) {
	var f fanout
	var early, late bytes.Buffer
	stop := f.attach(&early)
	f.Write([]byte("one\n"))
	stopLate := f.attach(&late)
	f.Write([]byte("two\n"))
	stop()
	f.Write([]byte("three\n"))
	stopLate()
	if early.String() != "one\ntwo\n" {
		t.Errorf("early reader got %q", early.String())
	}
	if late.String() != "one\ntwo\nthree\n" {
		t.Errorf("late reader got %q", late.String())
	}
}
