//! Reading the meaning of a TwinBench query back from the sample's `meta.spec` (the
//! generator stores its `Spec`/`VSpec` there in Rust debug notation, e.g.
//! `AffordExtreme { affordance: "rolls", extreme: Nearest }`). Samples from other sources
//! have no spec; the solver then reasons from the ground truth alone.

/// A parsed spec: the variant name and its fields, each as the list of the strings or
/// words it holds (`a: ("red", "cube")` gives `["red", "cube"]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Spec {
    pub kind: String,
    pub fields: Vec<(String, Vec<String>)>,
}

impl Spec {
    /// The first value of a field.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.all(key).and_then(|v| v.first()).map(String::as_str)
    }

    /// Every value of a field.
    pub fn all(&self, key: &str) -> Option<&[String]> {
        self.fields
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_slice())
    }
}

fn is_ident(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// Parses `Name`, or `Name { key: value, … }` where a value is a quoted string, a word, or a
/// parenthesised tuple of those. `None` for anything else.
pub(crate) fn parse(text: &str) -> Option<Spec> {
    let text = text.trim();
    let name_end = text.find(|c: char| !is_ident(c)).unwrap_or(text.len());
    let kind = &text[..name_end];
    if kind.is_empty() {
        return None;
    }
    let rest = text[name_end..].trim();
    let mut fields = Vec::new();
    if rest.is_empty() {
        return Some(Spec {
            kind: kind.into(),
            fields,
        });
    }
    let body = rest.strip_prefix('{')?.strip_suffix('}')?.trim();
    let chars: Vec<char> = body.chars().collect();
    let mut i = 0;
    let skip_ws = |i: &mut usize| {
        while *i < chars.len() && (chars[*i].is_whitespace() || chars[*i] == ',') {
            *i += 1;
        }
    };
    // One value: a quoted string (debug escapes are not expected in TwinBench words) or a word.
    let value = |i: &mut usize| -> Option<String> {
        if chars.get(*i) == Some(&'"') {
            let start = *i + 1;
            let end = (start..chars.len()).find(|&j| chars[j] == '"')?;
            *i = end + 1;
            Some(chars[start..end].iter().collect())
        } else {
            let start = *i;
            while *i < chars.len() && is_ident(chars[*i]) {
                *i += 1;
            }
            (*i > start).then(|| chars[start..*i].iter().collect())
        }
    };
    loop {
        skip_ws(&mut i);
        if i >= chars.len() {
            break;
        }
        let start = i;
        while i < chars.len() && is_ident(chars[i]) {
            i += 1;
        }
        let key: String = chars[start..i].iter().collect();
        if key.is_empty() || chars.get(i) != Some(&':') {
            return None;
        }
        i += 1;
        skip_ws(&mut i);
        let mut values = Vec::new();
        if chars.get(i) == Some(&'(') {
            i += 1;
            loop {
                skip_ws(&mut i);
                if chars.get(i) == Some(&')') {
                    i += 1;
                    break;
                }
                values.push(value(&mut i)?);
            }
        } else {
            values.push(value(&mut i)?);
        }
        fields.push((key, values));
    }
    Some(Spec {
        kind: kind.into(),
        fields,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_generator_notation() {
        let s = parse(r#"AffordExtreme { affordance: "rolls", extreme: Nearest }"#).unwrap();
        assert_eq!(s.kind, "AffordExtreme");
        assert_eq!(s.get("affordance"), Some("rolls"));
        assert_eq!(s.get("extreme"), Some("Nearest"));
        let s = parse(r#"FirstToStop { a: ("red", "cube"), b: ("blue", "sphere") }"#).unwrap();
        assert_eq!(s.all("a").unwrap(), ["red", "cube"]);
        assert_eq!(s.all("b").unwrap(), ["blue", "sphere"]);
        assert_eq!(parse("EnteredLast").unwrap().kind, "EnteredLast");
        assert!(parse("Broken { x }").is_none());
        assert!(parse("").is_none());
    }
}
