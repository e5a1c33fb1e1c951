package tokenizer

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
)

// ErrUnknownTemplate is returned for a chat template whose family is not recognised. Callers
// that prefer a best effort can format with ChatML explicitly (FormatChat(TemplateChatML, ...)).
var ErrUnknownTemplate = errors.New("tokenizer: unrecognised chat template")

// Message is one chat turn. Role is "system", "user" or "assistant" (others pass through).
type Message struct {
	Role    string
	Content string
}

// Template is a chat prompt format family.
type Template int

// Chat template families. Rather than run Jinja, the family is detected from the template text
// (as llama.cpp's llm_chat_detect_template does) and formatted in Go.
const (
	TemplateUnknown        Template = iota
	TemplatePlain                   // no template in the file: a "role: content" transcript
	TemplateChatML                  // <|im_start|>role\n...<|im_end|> (SmolLM2, Qwen2.5)
	TemplatePhi4                    // ChatML with <|im_sep|>
	TemplateLlama3                  // <|start_header_id|>role<|end_header_id|>\n\n...<|eot_id|>
	TemplateLlama2                  // [INST] ... [/INST], system folded into the first turn
	TemplateLlama2Sys               // with <<SYS>> blocks
	TemplateLlama2SysBOS            // with <<SYS>> and <s> before each later turn
	TemplateLlama2SysStrip          // with <<SYS>> and trimmed messages
	TemplateGemma                   // <start_of_turn>role\n...<end_of_turn>
	TemplatePhi3                    // <|role|>\n...<|end|>
	TemplateZephyr                  // <|role|>\n...<|endoftext|>
)

var templateNames = map[Template]string{
	TemplateUnknown: "unknown", TemplatePlain: "plain", TemplateChatML: "chatml",
	TemplatePhi4: "phi4", TemplateLlama3: "llama3", TemplateLlama2: "llama2",
	TemplateLlama2Sys: "llama2-sys", TemplateLlama2SysBOS: "llama2-sys-bos",
	TemplateLlama2SysStrip: "llama2-sys-strip", TemplateGemma: "gemma", TemplatePhi3: "phi3",
	TemplateZephyr: "zephyr",
}

func (t Template) String() string { return templateNames[t] }

// DetectTemplate names the family of a Jinja chat template ("" gives TemplatePlain).
// The checks and their order follow llama.cpp.
func DetectTemplate(tmpl string) Template {
	has := func(s string) bool { return strings.Contains(tmpl, s) }
	switch {
	case strings.TrimSpace(tmpl) == "":
		return TemplatePlain
	case has("<|im_start|>"):
		if has("<|im_sep|>") {
			return TemplatePhi4
		}
		return TemplateChatML
	case has("[INST]") && !has("[SYSTEM_PROMPT]") && !has("[AVAILABLE_TOOLS]") &&
		!has("' [INST] ' + system_message"):
		switch {
		case has("content.strip()"):
			return TemplateLlama2SysStrip
		case has("bos_token + '[INST]"):
			return TemplateLlama2SysBOS
		case has("<<SYS>>"):
			return TemplateLlama2Sys
		}
		return TemplateLlama2
	case has("<|assistant|>") && has("<|end|>"):
		return TemplatePhi3
	case has("<|user|>") && has("<|endoftext|>") && !has("<|assistant|>"):
		return TemplateZephyr
	case has("<start_of_turn>"):
		return TemplateGemma
	case has("<|start_header_id|>") && has("<|end_header_id|>"):
		return TemplateLlama3
	}
	return TemplateUnknown
}

// ApplyChatTemplate formats messages with the model's chat template, ending with the opening of
// an assistant turn when addGenerationPrompt is set. The file's template is rendered as Jinja;
// when that fails (a template raising an exception, say, as Gemma's do for a system message) or
// transforms message content beyond trimming, the template's family is formatted in Go instead.
// The result carries no BOS: encode it with Encode(prompt, true), which adds BOS as the model
// asks. A file without a template gets the plain transcript; a template that neither renders nor
// belongs to a known family is ErrUnknownTemplate.
func (t *Tokenizer) ApplyChatTemplate(msgs []Message, addGenerationPrompt bool) (string, error) {
	c, err := t.chat(msgs, addGenerationPrompt)
	if err != nil {
		return "", err
	}
	return c.String(), nil
}

// chat renders msgs with the file's template, or its family's formatter.
func (t *Tokenizer) chat(msgs []Message, addGen bool) (*chatText, error) {
	if strings.TrimSpace(t.template) != "" {
		vars := jinjaVars{bos: t.specialText(t.bos), eos: t.specialText(t.eos), stripBOS: t.AddBOS()}
		if c, err := jinjaChat(t.template, msgs, addGen, vars); err == nil {
			return c, nil
		}
	}
	fam := DetectTemplate(t.template)
	if fam == TemplateUnknown {
		return nil, ErrUnknownTemplate
	}
	return formatChat(fam, t.template, msgs, addGen), nil
}

// specialText is a token's text for a template's bos_token/eos_token, or "".
func (t *Tokenizer) specialText(id int32) string {
	if id < 0 || int(id) >= len(t.tokens) {
		return ""
	}
	return t.Token(id)
}

// FormatChat formats messages in a given family, without the defaults a model's own template
// text adds (such as a default system prompt).
func FormatChat(fam Template, msgs []Message, addGenerationPrompt bool) (string, error) {
	if fam == TemplateUnknown || templateNames[fam] == "" {
		return "", fmt.Errorf("%w: %d", ErrUnknownTemplate, int(fam))
	}
	return formatChat(fam, "", msgs, addGenerationPrompt).String(), nil
}

// defaultSystemRE finds a literal default system turn in a ChatML template, as in SmolLM2's and
// Qwen2.5's ("'<|im_start|>system\nYou are ...<|im_end|>\n'"), used when no system message is given.
var defaultSystemRE = regexp.MustCompile(`<\|im_start\|>system\\n([^'"{}<]+)<\|im_end\|>`)

// llama3DateDefault is the date Llama 3.1+ templates print when no strftime_now is available;
// using it keeps prompts deterministic.
const llama3DateDefault = "26 Jul 2024"

func trimASCII(s string) string { return strings.Trim(s, " \t\n\v\f\r") }

func formatChat(fam Template, tmpl string, msgs []Message, addGen bool) *chatText {
	b := &chatText{}
	switch fam {
	case TemplatePlain:
		for _, m := range msgs {
			b.turn(m.Role+": ", m.Content, "\n")
		}
		if addGen {
			b.WriteString("assistant:")
		}
	case TemplateChatML:
		if sm := defaultSystemRE.FindStringSubmatch(tmpl); sm != nil && (len(msgs) == 0 || msgs[0].Role != "system") {
			b.WriteString("<|im_start|>system\n" + strings.ReplaceAll(sm[1], `\n`, "\n") + "<|im_end|>\n")
		}
		for _, m := range msgs {
			b.turn("<|im_start|>"+m.Role+"\n", m.Content, "<|im_end|>\n")
		}
		if addGen {
			b.WriteString("<|im_start|>assistant\n")
		}
	case TemplatePhi4:
		for _, m := range msgs {
			b.turn("<|im_start|>"+m.Role+"<|im_sep|>", m.Content, "<|im_end|>")
		}
		if addGen {
			b.WriteString("<|im_start|>assistant<|im_sep|>")
		}
	case TemplateLlama3:
		// Llama 3.1 and later always open with a system turn carrying the knowledge date.
		if strings.Contains(tmpl, "Cutting Knowledge Date") {
			sys := ""
			if len(msgs) > 0 && msgs[0].Role == "system" {
				sys, msgs = trimASCII(msgs[0].Content), msgs[1:]
			}
			b.WriteString("<|start_header_id|>system<|end_header_id|>\n\nCutting Knowledge Date: December 2023\nToday Date: " +
				llama3DateDefault + "\n\n")
			b.content(sys)
			b.WriteString("<|eot_id|>")
		}
		for _, m := range msgs {
			b.turn("<|start_header_id|>"+m.Role+"<|end_header_id|>\n\n", trimASCII(m.Content), "<|eot_id|>")
		}
		if addGen {
			b.WriteString("<|start_header_id|>assistant<|end_header_id|>\n\n")
		}
	case TemplateLlama2, TemplateLlama2Sys, TemplateLlama2SysBOS, TemplateLlama2SysStrip:
		// Llama 2 has no generation prompt: the model answers after [/INST].
		inside := true
		b.WriteString("[INST] ")
		for _, m := range msgs {
			content := m.Content
			if fam == TemplateLlama2SysStrip {
				content = trimASCII(content)
			}
			if !inside {
				inside = true
				if fam == TemplateLlama2SysBOS {
					b.WriteString("<s>[INST] ")
				} else {
					b.WriteString("[INST] ")
				}
			}
			switch m.Role {
			case "system":
				if fam == TemplateLlama2 {
					b.content(content)
					b.WriteString("\n")
				} else {
					b.turn("<<SYS>>\n", content, "\n<</SYS>>\n\n")
				}
			case "user":
				b.content(content)
				b.WriteString(" [/INST]")
			default:
				b.content(content)
				b.WriteString("</s>")
				inside = false
			}
		}
	case TemplateGemma:
		// Gemma has no system role: the system text is prepended to the next user turn.
		sys := ""
		for _, m := range msgs {
			role := m.Role
			if role == "system" {
				sys = trimASCII(m.Content)
				continue
			}
			if role == "assistant" {
				role = "model"
			}
			b.WriteString("<start_of_turn>" + role + "\n")
			if sys != "" && role != "model" {
				b.content(sys)
				b.WriteString("\n\n")
				sys = ""
			}
			b.content(trimASCII(m.Content))
			b.WriteString("<end_of_turn>\n")
		}
		if addGen {
			b.WriteString("<start_of_turn>model\n")
		}
	case TemplatePhi3:
		for _, m := range msgs {
			b.turn("<|"+m.Role+"|>\n", m.Content, "<|end|>\n")
		}
		if addGen {
			b.WriteString("<|assistant|>\n")
		}
	case TemplateZephyr:
		for _, m := range msgs {
			b.turn("<|"+m.Role+"|>\n", m.Content, "<|endoftext|>\n")
		}
		if addGen {
			b.WriteString("<|assistant|>\n")
		}
	}
	return b
}

// chatText is a chat prompt being rendered: the template's own text, and the
// byte spans of it that are message content, where control tokens must not
// be recognised.
type chatText struct {
	strings.Builder
	literal [][2]int
}

// turn appends a message's content between the template text around it.
func (c *chatText) turn(open, content, close string) {
	c.WriteString(open)
	c.content(content)
	c.WriteString(close)
}

// content appends message text, recording its span.
func (c *chatText) content(s string) {
	start := c.Len()
	c.WriteString(s)
	if s != "" {
		c.literal = append(c.literal, [2]int{start, c.Len()})
	}
}

// EncodeChat formats msgs with the model's chat template, as ApplyChatTemplate does, and
// tokenizes the result with BOS as the model asks. Control tokens are recognised only in the
// template's own text: one written inside a message's content (an "<|im_end|>" a user typed)
// is encoded as the literal text it is, so no message can open or close a turn.
func (t *Tokenizer) EncodeChat(msgs []Message, addGenerationPrompt bool) ([]int32, error) {
	c, err := t.chat(msgs, addGenerationPrompt)
	if err != nil {
		return nil, err
	}
	return t.encodeSpans(c.String(), true, c.literal), nil
}
