//! Tokenizer built from GGUF metadata: special ids, pre-tokenisation, round-trips, ChatML.

mod common;

use dtr1_policy::{ChatMessage, Tokenizer};

#[test]
fn special_tokens_map_to_smollm2_ids() {
    let (_, t) = common::smollm();
    assert_eq!(t.token_to_id("<|endoftext|>"), Some(0));
    assert_eq!(t.token_to_id("<|im_start|>"), Some(1));
    assert_eq!(t.token_to_id("<|im_end|>"), Some(2));
    assert_eq!(t.eos_id, 2, "SmolLM2-Instruct's GGUF eos is <|im_end|>");
    assert!(t.stop_ids.contains(&2));
    assert_eq!(t.encode("<|im_start|>user\nhi<|im_end|>").unwrap()[0], 1);
    assert_eq!(
        *t.encode("<|im_start|>user\nhi<|im_end|>")
            .unwrap()
            .last()
            .unwrap(),
        2
    );
    assert_eq!(t.vocab_size(), 49152);
}

#[test]
fn pre_tokenisation_matches_vocabulary() {
    let (_, t) = common::smollm();
    let ids = t.encode("Hello world").unwrap();
    assert_eq!(
        ids,
        vec![
            t.token_to_id("Hello").unwrap(),
            t.token_to_id("Ġworld").unwrap()
        ]
    );
    // SmolLM2 splits digits individually.
    let ids = t.encode("2024").unwrap();
    let digits: Vec<u32> = "2024"
        .chars()
        .map(|c| t.token_to_id(&c.to_string()).unwrap())
        .collect();
    assert_eq!(ids, digits);
}

#[test]
fn round_trips_multilingual_code_json() {
    let (_, t) = common::smollm();
    let texts = [
        "The quick brown fox jumps over the lazy dog.",
        "Le café était très bon, merci beaucoup !",
        "Der Übergang über die Straße ist gefährlich.",
        "Привет, как дела? Всё хорошо.",
        "这是一个测试。日本語のテキストも。",
        "مرحبا بالعالم",
        "emoji 🙂🚀 and accents: ñ ü ø å",
        "fn main() {\n    println!(\"{}\", 1 + 2);\n}\n",
        "def f(x):\n\treturn x ** 2  # square\n",
        r#"{"objects":[{"id":3,"label":"cup","bbox":[10,20,30.5,40]}],"ok":true,"n":null}"#,
        "   leading and trailing spaces   \n\n\n",
        "<twin>{\"a\":1}</twin><think>…</think><answer>[3]</answer>",
    ];
    for s in texts {
        let ids = t.encode(s).unwrap();
        assert!(ids.iter().all(|&i| (i as usize) < 49152));
        assert_eq!(
            t.decode(&ids, false).unwrap(),
            s,
            "round trip of {s:?} via {ids:?}"
        );
    }
}

#[test]
fn chatml_rendering() {
    let msgs = [
        ChatMessage::new("system", "Be brief."),
        ChatMessage::new("user", "Hi"),
    ];
    let s = Tokenizer::apply_chatml(&msgs, true);
    assert_eq!(
        s,
        "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"
    );
    let (_, t) = common::smollm();
    assert!(t
        .chat_template
        .as_deref()
        .unwrap_or("")
        .contains("<|im_start|>"));
    let ids = t.encode_chat(&msgs, true).unwrap();
    assert_eq!(t.decode(&ids, false).unwrap(), s);
    assert_eq!(ids.iter().filter(|&&i| i == 1).count(), 3);
}

#[test]
fn word_level_tokenizer_round_trips_its_corpus() {
    let corpus = ["the red cube is left of 3", "answer [3] now."];
    let t = dtr1_policy::Tokenizer::word_level(&corpus).unwrap();
    let ids = t
        .encode("<|im_start|>user\nthe red cube [3]<|im_end|>")
        .unwrap();
    let im_start = t.token_to_id("<|im_start|>").unwrap();
    assert_eq!(ids[0], im_start);
    assert!(t.stop_ids.contains(ids.last().unwrap()));
    assert_eq!(t.decode(&ids, true).unwrap(), "user the red cube [ 3 ]");
    // Unknown words map to [UNK]; the vocabulary is specials + roles + distinct corpus words.
    let unk = t.token_to_id("[UNK]").unwrap();
    assert_eq!(t.encode("zebra").unwrap(), vec![unk]);
    assert_eq!(t.vocab_size(), 4 + 3 + 12);
    // Same corpus, same ids.
    let t2 = dtr1_policy::Tokenizer::word_level(&corpus).unwrap();
    assert_eq!(
        t2.encode("red 3 now").unwrap(),
        t.encode("red 3 now").unwrap()
    );
}
