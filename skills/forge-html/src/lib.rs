//! The official `html-entities` tool: html5ever's tokenizer (the WHATWG tokenizer, Servo's
//! implementation) run over the input from the data state. Tokens come back in html5lib's
//! test format, adjacent character tokens merged, parse errors left out (the task scores
//! the decoded text and attributes, not error reporting).

use std::cell::RefCell;

use html5ever::tendril::StrTendril;
use html5ever::tokenizer::{
    BufferQueue, TagKind, Token, TokenSink, TokenSinkResult, Tokenizer, TokenizerOpts,
};
use hyper_sdk::prelude::*;
use serde_json::{json, Value};

struct HtmlEntities;

#[derive(Default)]
struct Collect {
    tokens: RefCell<Vec<Value>>,
    text: RefCell<String>,
}

impl Collect {
    /// Emits pending characters as one `Character` token.
    fn flush(&self) {
        let mut text = self.text.borrow_mut();
        if !text.is_empty() {
            self.tokens
                .borrow_mut()
                .push(json!(["Character", std::mem::take(&mut *text)]));
        }
    }
}

impl TokenSink for Collect {
    type Handle = ();

    fn process_token(&self, token: Token, _line: u64) -> TokenSinkResult<()> {
        match token {
            Token::CharacterTokens(text) => self.text.borrow_mut().push_str(&text),
            Token::NullCharacterToken => self.text.borrow_mut().push('\0'),
            Token::ParseError(_) | Token::EOFToken => {}
            Token::TagToken(tag) => {
                self.flush();
                let name = tag.name.to_string();
                let value = match tag.kind {
                    TagKind::StartTag => {
                        let mut attrs = serde_json::Map::new();
                        for attr in &tag.attrs {
                            // The first of duplicate attributes wins, as the spec says.
                            attrs
                                .entry(attr.name.local.to_string())
                                .or_insert_with(|| Value::String(attr.value.to_string()));
                        }
                        if tag.self_closing {
                            json!(["StartTag", name, attrs, true])
                        } else {
                            json!(["StartTag", name, attrs])
                        }
                    }
                    TagKind::EndTag => json!(["EndTag", name]),
                };
                self.tokens.borrow_mut().push(value);
            }
            Token::CommentToken(text) => {
                self.flush();
                self.tokens
                    .borrow_mut()
                    .push(json!(["Comment", text.to_string()]));
            }
            Token::DoctypeToken(doctype) => {
                self.flush();
                let opt = |s: &Option<StrTendril>| s.as_ref().map(|t| t.to_string());
                self.tokens.borrow_mut().push(json!([
                    "DOCTYPE",
                    opt(&doctype.name),
                    opt(&doctype.public_id),
                    opt(&doctype.system_id),
                    !doctype.force_quirks
                ]));
            }
        }
        TokenSinkResult::Continue
    }
}

impl Tool for HtmlEntities {
    fn info() -> ToolInfo {
        ToolInfo {
            name: "forge-html".into(),
            version: "0.1.0".into(),
            task: "html-entities".into(),
            description: "html5ever's tokenizer; tokens in html5lib test format".into(),
        }
    }

    fn call(input: &[u8]) -> Result<Vec<u8>, Error> {
        let text = std::str::from_utf8(input)
            .map_err(|e| Error::InvalidParams(format!("input is not UTF-8: {e}")))?;
        let queue = BufferQueue::default();
        queue.push_back(StrTendril::from_slice(text));
        let tokenizer = Tokenizer::new(Collect::default(), TokenizerOpts::default());
        let _ = tokenizer.feed(&queue);
        tokenizer.end();
        tokenizer.sink.flush();
        let tokens = tokenizer.sink.tokens.take();
        serde_json::to_vec(&tokens).map_err(|e| Error::Failed(format!("cannot serialise: {e}")))
    }
}

register_tool!(HtmlEntities);
