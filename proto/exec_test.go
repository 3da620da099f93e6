package proto

import (
	"bytes"
	"errors"
	"io"
	"testing"
)

func TestFrames(t *testing.T) {
	var buf bytes.Buffer
	w := NewFrameWriter(&buf)
	big := bytes.Repeat([]byte("x"), MaxFrame+10)
	w.WriteJSON(FrameStart, ExecStart{Args: []string{"true"}, TTY: true})
	w.Write(FrameStdinEOF, nil)
	w.Writer(FrameStdout).Write(big)
	type frame struct {
		typ byte
		n   int
	}
	var got []frame
	for {
		typ, p, err := ReadFrame(&buf)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, frame{typ, len(p)})
	}
	want := []frame{{FrameStart, len(`{"args":["true"],"tty":true,"size":{"cols":0,"rows":0}}`)}, {FrameStdinEOF, 0}, {FrameStdout, MaxFrame}, {FrameStdout, 10}}
	if len(got) != len(want) {
		t.Fatalf("frames %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("frame %d = %v, want %v", i, got[i], want[i])
		}
	}
	if _, _, err := ReadFrame(bytes.NewReader([]byte{FrameStdout, 0xff, 0, 0, 0})); !errors.Is(err, ErrFrameTooLarge) {
		t.Errorf("a 4 GiB frame header: %v, want ErrFrameTooLarge", err)
	}
	if _, _, err := ReadFrame(bytes.NewReader([]byte{FrameStdout, 0, 0, 0, 5, 'a'})); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("a cut frame: %v, want unexpected EOF", err)
	}
}
