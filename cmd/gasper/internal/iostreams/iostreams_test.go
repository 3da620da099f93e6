package iostreams_test

import (
	"testing"

	"gasper/cmd/gasper/internal/iostreams"
)

func TestPromptsShareInput(t *testing.T) {
	s, in, out, errOut := iostreams.Test()
	in.WriteString("  ada@example.com \npass word \ny\nrest\nof it\n\n")
	email, err := s.Prompt("Email: ")
	if err != nil || email != "ada@example.com" {
		t.Fatalf("Prompt = %q, %v", email, err)
	}
	pw, err := s.PromptPassword("Password: ")
	if err != nil || pw != "pass word " {
		t.Fatalf("PromptPassword = %q, %v; want the line as typed", pw, err)
	}
	ok, err := s.Confirm("Sure?")
	if err != nil || !ok {
		t.Fatalf("Confirm = %v, %v", ok, err)
	}
	rest, err := s.ReadAll()
	if err != nil || rest != "rest\nof it" {
		t.Fatalf("ReadAll = %q, %v", rest, err)
	}
	if got := errOut.String(); got != "Email: Password: Sure? [y/N]: " {
		t.Errorf("prompts on stderr = %q", got)
	}
	if out.Len() != 0 {
		t.Errorf("prompts wrote %q to stdout", out.String())
	}
}
